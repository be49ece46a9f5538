//! What makes an initiative valid. Every problem is reported at once, each naming its field by
//! full path (`initiative.countries[1]`, `requests[3].initiative.display_name`).

use sse_platform::validate::quoted;
use sse_platform::validate::{Violations, partial_date_key};
use sse_proto::initiatives::Initiative;

use sse_platform::names::is_valid_id;

use crate::resource::{is_known_legal_form, is_known_status};

pub const MAX_DISPLAY_NAME: usize = 200;
pub const MAX_DESCRIPTION: usize = 10_000;
pub const MAX_REPEATED: usize = 300;

/// Checks every writable field of `initiative`, whose path in the request is `path`.
pub fn check_initiative(violations: &mut Violations, path: &str, initiative: &Initiative) {
    violations.within(path, |violations| check_fields(violations, initiative));
}

/// [`check_initiative`], each field named from the initiative.
fn check_fields(violations: &mut Violations, initiative: &Initiative) {
    violations.required("display_name", &initiative.display_name);
    violations.max_chars("display_name", &initiative.display_name, MAX_DISPLAY_NAME);
    violations.max_chars("description", &initiative.description, MAX_DESCRIPTION);
    if !is_known_legal_form(initiative.legal_form) {
        violations.add("legal_form", format!("unknown value {}", initiative.legal_form));
    }
    if !is_known_status(initiative.status) {
        violations.add("status", format!("unknown value {}", initiative.status));
    }

    let repeated = [
        ("countries", initiative.countries.len()),
        ("territories", initiative.territories.len()),
        ("sdg_goals", initiative.sdg_goals.len()),
        ("sdg_targets", initiative.sdg_targets.len()),
        ("identifiers", initiative.identifiers.len()),
        ("sources", initiative.sources.len()),
        ("related_legal_texts", initiative.related_legal_texts.len()),
    ];
    for (name, count) in repeated {
        if count > MAX_REPEATED {
            violations.add(name, format!("has {count} values; at most {MAX_REPEATED} are allowed"));
        }
    }

    for (index, code) in initiative.countries.iter().enumerate() {
        violations.country_code(&format!("countries[{index}]"), code);
    }
    violations.no_duplicates("countries", &initiative.countries);
    for (index, code) in initiative.territories.iter().enumerate() {
        violations.subdivision_code(&format!("territories[{index}]"), code);
    }
    violations.no_duplicates("territories", &initiative.territories);

    for (index, goal) in initiative.sdg_goals.iter().enumerate() {
        if !(1..=17).contains(goal) {
            violations.add(
                format!("sdg_goals[{index}]"),
                format!("{goal} is not an SDG; goals are 1 to 17"),
            );
        }
    }
    violations.no_duplicates("sdg_goals", &initiative.sdg_goals);
    for (index, code) in initiative.sdg_targets.iter().enumerate() {
        if sse_reference::sdg().target(code).is_none() {
            violations.add(
                format!("sdg_targets[{index}]"),
                format!("{} is not an SDG target (codes look like 8.5 or 15.a)", quoted(code)),
            );
        }
    }
    violations.no_duplicates("sdg_targets", &initiative.sdg_targets);

    if let Some(location) = &initiative.location {
        violations.lat_lng("location", location);
    }
    if let Some(start) = &initiative.start_date {
        violations.partial_date("start_date", start);
    }
    if let Some(end) = &initiative.end_date {
        violations.partial_date("end_date", end);
        if let Some(start) = &initiative.start_date
            && partial_date_key(end) < partial_date_key(start)
        {
            violations.add("end_date", "is before start_date");
        }
    }
    violations.optional_url("website", &initiative.website);
    for (index, identifier) in initiative.identifiers.iter().enumerate() {
        violations.identifier(&format!("identifiers[{index}]"), identifier);
    }
    for (index, source) in initiative.sources.iter().enumerate() {
        violations.source(&format!("sources[{index}]"), source);
    }
    for (index, name) in initiative.related_legal_texts.iter().enumerate() {
        let valid = name.strip_prefix("legalTexts/").is_some_and(is_valid_id);
        if !valid {
            violations.add(
                format!("related_legal_texts[{index}]"),
                format!("{} is not a legal text name (legalTexts/{{id}})", quoted(name)),
            );
        }
    }
    violations.no_duplicates("related_legal_texts", &initiative.related_legal_texts);
}

/// A client-chosen id, if any.
pub fn check_initiative_id(violations: &mut Violations, field: &str, id: &str) {
    if !id.is_empty() && !is_valid_id(id) {
        violations.add(
            field,
            format!(
                "{} is not a valid id: 1 to 63 lowercase letters, digits and hyphens, starting with a letter",
                quoted(id)
            ),
        );
    }
}

pub fn check_request_id(violations: &mut Violations, field: &str, request_id: &str) {
    violations.max_chars(field, request_id, 128);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violations_of(initiative: &Initiative) -> Vec<sse_platform::error::FieldViolation> {
        let mut violations = Violations::default();
        check_initiative(&mut violations, "initiative", initiative);
        violations.into_violations()
    }

    #[test]
    fn the_validation_says_what_the_contract_says() {
        let valid = Initiative {
            display_name: "Coop".to_owned(),
            ..Default::default()
        };
        let found =
            sse_testkit::contract::disagreements("sse.initiatives.v1.Initiative", "initiative", &valid, violations_of);
        assert!(found.is_empty(), "{found:#?}");
    }
}
