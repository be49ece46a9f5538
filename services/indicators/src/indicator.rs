//! The `Indicator` resource: its name, what makes one valid, and its stored row.

use sea_orm::ActiveValue::Set;
use sse_platform::validate::quoted;
use sse_platform::{
    ServiceError, ServiceResult,
    names::{is_valid_id, short_enum_name},
    time,
    validate::{Violations, etag_of},
};
use sse_proto::indicators::{
    Indicator,
    indicator::{Aggregation, Category},
};

use crate::entity::indicator;

pub const CATEGORY_PREFIX: &str = "CATEGORY_";
pub const CATEGORIES: &[&str] = &[
    "UNSPECIFIED",
    "EMPLOYMENT",
    "ENVIRONMENT",
    "SOCIAL_INCLUSION",
    "FINANCE",
    "GOVERNANCE",
    "OTHER",
];
pub const AGGREGATION_PREFIX: &str = "AGGREGATION_";
pub const AGGREGATIONS: &[&str] = &["UNSPECIFIED", "SUM", "MEAN", "MAX", "LAST"];

/// Fields an update mask may name.
/// The resource as the contract describes it: which fields an update may write.
pub fn contract() -> &'static sse_proto::contract::Message {
    sse_proto::contract::expect_message("sse.indicators.v1.Indicator")
}

pub fn name_of(code: &str) -> String {
    format!("indicators/{code}")
}

/// The code in `indicators/{code}`, or a violation naming `field`.
pub fn parse_name<'a>(name: &'a str, field: &str) -> ServiceResult<&'a str> {
    name.strip_prefix("indicators/")
        .filter(|code| is_valid_id(code))
        .ok_or_else(|| {
            ServiceError::invalid_field(
                field,
                format!("{} is not an indicator name (indicators/{{code}})", quoted(name)),
            )
        })
}

/// Checks every writable field of `indicator`, whose path in the request is `path`.
pub fn check(violations: &mut Violations, path: &str, indicator: &Indicator) {
    let field = |name: &str| format!("{path}.{name}");
    violations.required(&field("display_name"), &indicator.display_name);
    violations.max_chars(&field("display_name"), &indicator.display_name, 200);
    violations.max_chars(&field("description"), &indicator.description, 10_000);
    violations.max_chars(&field("methodology"), &indicator.methodology, 10_000);
    violations.required(&field("unit"), &indicator.unit);
    let unit_chars_ok = indicator
        .unit
        .chars()
        .all(|character| character.is_ascii_graphic() && character != '"');
    if !unit_chars_ok || indicator.unit.chars().count() > 32 {
        violations.add(
            field("unit"),
            "must be a UCUM-style code of at most 32 characters without spaces, e.g. ha, t, 1 or {jobs}",
        );
    }
    violations.max_chars(&field("unit_label"), &indicator.unit_label, 100);
    if Category::try_from(indicator.category).is_err() {
        violations.add(field("category"), format!("unknown value {}", indicator.category));
    }
    if Aggregation::try_from(indicator.aggregation).is_err() {
        violations.add(field("aggregation"), format!("unknown value {}", indicator.aggregation));
    }
    for (index, code) in indicator.sdg_indicators.iter().enumerate() {
        if sse_reference::sdg().indicator(code).is_none() {
            violations.add(
                format!("{path}.sdg_indicators[{index}]"),
                format!("{} is not an SDG indicator (codes look like 8.5.2)", quoted(code)),
            );
        }
    }
    violations.no_duplicates(&field("sdg_indicators"), &indicator.sdg_indicators);
}

/// The indicator's aggregation rule; unspecified counts as a sum.
pub fn aggregation(indicator: &Indicator) -> Aggregation {
    match indicator.aggregation() {
        Aggregation::Unspecified => Aggregation::Sum,
        rule => rule,
    }
}

/// The row for an indicator whose name and times are set; fills in its etag.
pub fn to_row(resource: &mut Indicator, code: &str) -> ServiceResult<indicator::ActiveModel> {
    resource.etag = String::new();
    resource.etag = etag_of(resource)?;
    let json = serde_json::to_string(&resource).map_err(|error| ServiceError::Internal(error.into()))?;
    Ok(indicator::ActiveModel {
        id: Set(code.to_owned()),
        display_name: Set(resource.display_name.clone()),
        unit: Set(resource.unit.clone()),
        category: Set(short_enum_name(resource.category().as_str_name(), CATEGORY_PREFIX).to_owned()),
        aggregation: Set(short_enum_name(resource.aggregation().as_str_name(), AGGREGATION_PREFIX).to_owned()),
        create_time: Set(resource.create_time.as_ref().map(time::micros).unwrap_or_default()),
        update_time: Set(resource.update_time.as_ref().map(time::micros).unwrap_or_default()),
        delete_time: Set(resource.delete_time.as_ref().map(time::micros)),
        etag: Set(resource.etag.clone()),
        resource: Set(json),
    })
}

pub fn from_row(row: &indicator::Model) -> ServiceResult<Indicator> {
    serde_json::from_str(&row.resource).map_err(|error| {
        ServiceError::Internal(anyhow::Error::new(error).context(format!("stored indicator {} is unreadable", row.id)))
    })
}

/// The (field, value) facets filters reach: the SDG indicator codes.
pub fn facets(resource: &Indicator) -> Vec<(&'static str, String)> {
    resource
        .sdg_indicators
        .iter()
        .map(|code| ("sdg_indicators", code.clone()))
        .collect()
}

pub fn copy_field(target: &mut Indicator, source: &Indicator, field: &str) {
    match field {
        "display_name" => target.display_name.clone_from(&source.display_name),
        "description" => target.description.clone_from(&source.description),
        "unit" => target.unit.clone_from(&source.unit),
        "unit_label" => target.unit_label.clone_from(&source.unit_label),
        "category" => target.category = source.category,
        "aggregation" => target.aggregation = source.aggregation,
        "sdg_indicators" => target.sdg_indicators.clone_from(&source.sdg_indicators),
        "methodology" => target.methodology.clone_from(&source.methodology),
        _ => {}
    }
}

pub fn is_set(indicator: &Indicator, field: &str) -> bool {
    let mut empty = Indicator::default();
    copy_field(&mut empty, indicator, field);
    empty != Indicator::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violations_of(indicator: &Indicator) -> Vec<sse_platform::error::FieldViolation> {
        let mut violations = Violations::default();
        check(&mut violations, "indicator", indicator);
        violations.into_violations()
    }

    #[test]
    fn the_validation_says_what_the_contract_says() {
        let valid = Indicator {
            display_name: "Jobs".to_owned(),
            unit: "{jobs}".to_owned(),
            ..Default::default()
        };
        let found =
            sse_testkit::contract::disagreements("sse.indicators.v1.Indicator", "indicator", &valid, violations_of);
        assert!(found.is_empty(), "{found:#?}");
    }
}
