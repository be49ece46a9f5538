//! The `Observation` resource: its name, what makes one valid, and its stored row.

use sea_orm::ActiveValue::Set;
use sse_platform::validate::quoted;
use sse_platform::{
    ServiceError, ServiceResult,
    filter::partial_date_column,
    names::{is_generated_id, is_resource_name, is_valid_id, short_enum_name},
    time,
    validate::{Violations, etag_of},
};
use sse_proto::indicators::{Observation, observation::Status};

use crate::{entity::observation, period::Period};

pub const STATUS_PREFIX: &str = "STATUS_";
pub const STATUSES: &[&str] = &["UNSPECIFIED", "TARGET", "REPORTED", "ESTIMATE", "PROVISIONAL"];

/// Areas that are not ISO 3166 countries or subdivisions but that figures are given for: the
/// whole world, and the European Union (an ISO 3166-1 exceptionally reserved code).
pub const WIDE_AREAS: &[&str] = &["WORLD", "EU"];

/// Fields an update mask may name.
/// The resource as the contract describes it: which fields an update may write.
pub fn contract() -> &'static sse_proto::contract::Message {
    sse_proto::contract::expect_message("sse.indicators.v1.Observation")
}

pub fn name_of(indicator_code: &str, id: &str) -> String {
    format!("indicators/{indicator_code}/observations/{id}")
}

/// The indicator code and id in `indicators/{code}/observations/{id}`.
pub fn parse_name<'a>(name: &'a str, field: &str) -> ServiceResult<(&'a str, &'a str)> {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["indicators", code, "observations", id] if is_valid_id(code) && (is_valid_id(id) || is_generated_id(id)) => {
            Ok((code, id))
        }
        _ => Err(ServiceError::invalid_field(
            field,
            format!(
                "{} is not an observation name (indicators/{{code}}/observations/{{id}})",
                quoted(name)
            ),
        )),
    }
}

/// Checks every writable field; returns the parsed period when it is valid.
pub fn check(violations: &mut Violations, path: &str, observation: &Observation) -> Option<Period> {
    violations.within(path, |violations| check_fields(violations, observation))
}

/// [`check`], each field named from the observation.
fn check_fields(violations: &mut Violations, observation: &Observation) -> Option<Period> {
    if !observation.initiative.is_empty() {
        let valid = is_resource_name(&observation.initiative, "initiatives");
        if !valid {
            violations.add(
                "initiative",
                format!(
                    "{} is not an initiative name (initiatives/{{id}})",
                    quoted(&observation.initiative)
                ),
            );
        }
    }
    let area = &observation.ref_area;
    if !area.is_empty()
        && !WIDE_AREAS.contains(&area.as_str())
        && !sse_reference::is_country_code(area)
        && !sse_reference::is_subdivision_code(area)
    {
        violations.add(
            "ref_area",
            format!(
                "{} is not an ISO 3166-1 alpha-2 or ISO 3166-2 code, WORLD or EU",
                quoted(area)
            ),
        );
    }
    let period = match Period::parse(&observation.time_period) {
        Ok(period) => Some(period),
        Err(_) if observation.time_period.is_empty() => {
            violations.add("time_period", "is required: when the figure is for, e.g. 2020");
            None
        }
        Err(message) => {
            violations.add("time_period", message);
            None
        }
    };
    if !observation.value.is_finite() {
        violations.add("value", "must be a finite number");
    }
    match Status::try_from(observation.status) {
        Ok(Status::Unspecified) => violations.add("status", "is required: TARGET, REPORTED, ESTIMATE or PROVISIONAL"),
        Ok(_) => {}
        Err(_) => violations.add("status", format!("unknown value {}", observation.status)),
    }
    match &observation.source {
        Some(source) => violations.source("source", source),
        None => violations.add("source", "is required: every figure needs its source"),
    }
    violations.max_chars("note", &observation.note, 2000);
    period
}

/// The row for an observation whose name and times are set; fills in its etag.
pub fn to_row(resource: &mut Observation, indicator: &str, period: &Period) -> ServiceResult<observation::ActiveModel> {
    resource.etag = String::new();
    resource.etag = etag_of(resource)?;
    let json = serde_json::to_string(&resource).map_err(|error| ServiceError::Internal(error.into()))?;
    let source = resource.source.clone().unwrap_or_default();
    let source_date = partial_date_column(source.date.as_ref());
    Ok(observation::ActiveModel {
        name: Set(resource.name.clone()),
        indicator: Set(indicator.to_owned()),
        initiative: Set(resource.initiative.clone()),
        ref_area: Set(resource.ref_area.clone()),
        time_period: Set(resource.time_period.clone()),
        period_start: Set(period.start.to_string()),
        period_end: Set(period.end.to_string()),
        year: Set(period.year()),
        value: Set(resource.value),
        status: Set(short_enum_name(resource.status().as_str_name(), STATUS_PREFIX).to_owned()),
        source_title: Set(source.title),
        source_publisher: Set(source.publisher),
        source_url: Set(source.url),
        source_date: Set(source_date),
        create_time: Set(resource.create_time.as_ref().map(time::micros).unwrap_or_default()),
        update_time: Set(resource.update_time.as_ref().map(time::micros).unwrap_or_default()),
        delete_time: Set(resource.delete_time.as_ref().map(time::micros)),
        etag: Set(resource.etag.clone()),
        resource: Set(json),
    })
}

pub fn from_row(row: &observation::Model) -> ServiceResult<Observation> {
    serde_json::from_str(&row.resource).map_err(|error| {
        ServiceError::Internal(
            anyhow::Error::new(error).context(format!("stored observation {} is unreadable", row.name)),
        )
    })
}

pub fn copy_field(target: &mut Observation, source: &Observation, field: &str) {
    match field {
        "initiative" => target.initiative.clone_from(&source.initiative),
        "ref_area" => target.ref_area.clone_from(&source.ref_area),
        "time_period" => target.time_period.clone_from(&source.time_period),
        "value" => target.value = source.value,
        "status" => target.status = source.status,
        "source" => target.source.clone_from(&source.source),
        "note" => target.note.clone_from(&source.note),
        _ => {}
    }
}

pub fn is_set(observation: &Observation, field: &str) -> bool {
    let mut empty = Observation::default();
    copy_field(&mut empty, observation, field);
    empty != Observation::default()
}

#[cfg(test)]
mod tests {
    use sse_proto::{indicators::Observation, types::SourceCitation};

    use super::*;

    fn violations_of(observation: &Observation) -> Vec<sse_platform::error::FieldViolation> {
        let mut violations = Violations::default();
        check(&mut violations, "observation", observation);
        violations.into_violations()
    }

    #[test]
    fn the_validation_says_what_the_contract_says() {
        let valid = Observation {
            time_period: "2020".to_owned(),
            status: 2,
            source: Some(SourceCitation {
                title: "a report".to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let found =
            sse_testkit::contract::disagreements("sse.indicators.v1.Observation", "observation", &valid, violations_of);
        assert!(found.is_empty(), "{found:#?}");
    }
}
