//! What makes a legal text valid. Every problem is reported at once, each naming its field by
//! full path (`legal_text.provisions[2].topics[0]`, `legal_text.relations[0].legal_text`).

use sse_platform::validate::quoted;
use sse_platform::{
    names::{is_generated_id, is_valid_id},
    validate::Violations,
};
use sse_proto::lawguide::{
    LegalText, LegalTextIdentifier, LegalTextRelation, Topic, legal_text::Level, legal_text_identifier::Scheme,
    legal_text_relation::Type,
};

use crate::{
    codes::{Jurisdiction, ORGANISATIONS, is_language_code},
    resource::{self, is_known_kind, is_known_status},
};

pub const MAX_TITLE: usize = 1000;
pub const MAX_NUMBER: usize = 200;
pub const MAX_SUMMARY: usize = 10_000;
pub const MAX_PROVISIONS: usize = 500;
pub const MAX_PROVISION_TEXT: usize = 20_000;
pub const MAX_HEADING: usize = 500;
pub const MAX_REPEATED: usize = 300;

/// The legal text as the contract describes it: the fields an update mask may name (`*` names
/// them all) are its writable fields, and so are the first parts of `unverified_fields` paths.
pub fn contract() -> &'static sse_proto::contract::Message {
    sse_proto::contract::expect_message("sse.lawguide.v1.LegalText")
}

/// Checks every writable field of `text`, whose path in the request is `path`. `id` is the
/// text's own id when known, so that a text cannot relate to itself.
pub fn check_legal_text(violations: &mut Violations, path: &str, text: &LegalText, id: Option<&str>) {
    let field = |name: &str| format!("{path}.{name}");

    check_jurisdiction_and_level(violations, path, text);
    if !is_known_kind(text.kind) {
        violations.add(field("kind"), format!("unknown value {}", text.kind));
    } else if text.kind == 0 {
        violations.add(field("kind"), "is required");
    }
    if !is_known_status(text.status) {
        violations.add(field("status"), format!("unknown value {}", text.status));
    }
    violations.max_chars(&field("number"), &text.number, MAX_NUMBER);
    violations.required(&field("title"), &text.title);
    violations.max_chars(&field("title"), &text.title, MAX_TITLE);
    violations.max_chars(&field("title_en"), &text.title_en, MAX_TITLE);
    if text.language.is_empty() {
        violations.add(field("language"), "is required");
    } else if !is_language_code(&text.language) {
        violations.add(
            field("language"),
            format!("{} is not an ISO 639-1 language code (e.g. fr)", quoted(&text.language)),
        );
    }
    for (name, date) in [
        ("adoption_date", &text.adoption_date),
        ("publication_date", &text.publication_date),
        ("entry_into_force_date", &text.entry_into_force_date),
    ] {
        if let Some(date) = date {
            violations.partial_date(&field(name), date);
        }
    }
    violations.max_chars(&field("publication_reference"), &text.publication_reference, 500);
    violations.max_chars(&field("summary"), &text.summary, MAX_SUMMARY);

    let repeated = [
        ("identifiers", text.identifiers.len()),
        ("topics", text.topics.len()),
        ("relations", text.relations.len()),
        ("related_initiatives", text.related_initiatives.len()),
        ("sources", text.sources.len()),
        ("unverified_fields", text.unverified_fields.len()),
    ];
    for (name, count) in repeated {
        if count > MAX_REPEATED {
            violations.add(
                field(name),
                format!("has {count} values; at most {MAX_REPEATED} are allowed"),
            );
        }
    }
    for (index, identifier) in text.identifiers.iter().enumerate() {
        check_identifier(violations, &format!("{path}.identifiers[{index}]"), identifier);
    }
    check_topics(violations, &field("topics"), &text.topics);
    check_provisions(violations, path, text);
    for (index, relation) in text.relations.iter().enumerate() {
        check_relation(violations, &format!("{path}.relations[{index}]"), relation, id);
    }
    for (index, relation) in text.relations.iter().enumerate() {
        if text.relations[..index].contains(relation) {
            violations.add(format!("{path}.relations[{index}]"), "is given twice");
        }
    }
    for (index, name) in text.related_initiatives.iter().enumerate() {
        let valid = name
            .strip_prefix("initiatives/")
            .is_some_and(|id| is_valid_id(id) || is_generated_id(id));
        if !valid {
            violations.add(
                format!("{path}.related_initiatives[{index}]"),
                format!("{} is not an initiative name (initiatives/{{id}})", quoted(name)),
            );
        }
    }
    violations.no_duplicates(&field("related_initiatives"), &text.related_initiatives);
    for (index, source) in text.sources.iter().enumerate() {
        violations.source(&format!("{path}.sources[{index}]"), source);
    }
    for (index, unverified) in text.unverified_fields.iter().enumerate() {
        check_field_path(violations, &format!("{path}.unverified_fields[{index}]"), unverified);
    }
    violations.no_duplicates(&field("unverified_fields"), &text.unverified_fields);
}

fn check_jurisdiction_and_level(violations: &mut Violations, path: &str, text: &LegalText) {
    let level_field = format!("{path}.level");
    let Ok(level) = Level::try_from(text.level) else {
        violations.add(level_field, format!("unknown value {}", text.level));
        return;
    };
    if level == Level::Unspecified {
        violations.add(&level_field, "is required");
    }
    let Some(jurisdiction) = check_jurisdiction(violations, &format!("{path}.jurisdiction"), &text.jurisdiction) else {
        return;
    };
    let expected: &[Level] = match jurisdiction {
        Jurisdiction::Country => &[Level::National],
        Jurisdiction::Subdivision => &[Level::Regional],
        Jurisdiction::Organisation(_) => &[Level::Supranational, Level::International],
    };
    if level != Level::Unspecified && !expected.contains(&level) {
        let names: Vec<&str> = expected.iter().map(|level| level.as_str_name()).collect();
        violations.add(
            level_field,
            format!(
                "{} does not fit the jurisdiction {}, which takes {}",
                level.as_str_name(),
                quoted(&text.jurisdiction),
                names.join(" or ")
            ),
        );
    }
}

/// A jurisdiction code: what it names, or a violation at `field`.
pub fn check_jurisdiction(violations: &mut Violations, field: &str, code: &str) -> Option<Jurisdiction> {
    if code.is_empty() {
        violations.add(field, "is required");
        return None;
    }
    let parsed = Jurisdiction::parse(code);
    if parsed.is_none() {
        let organisations: Vec<&str> = ORGANISATIONS.iter().map(|(code, _, _)| *code).collect();
        violations.add(
            field,
            format!(
                "{} is not an ISO 3166-1 alpha-2 code (FR), an ISO 3166-2 code (CA-QC) or an organisation ({})",
                quoted(code),
                organisations.join(", ")
            ),
        );
    }
    parsed
}

/// Known topics other than UNSPECIFIED, each once.
pub fn check_topics(violations: &mut Violations, field: &str, topics: &[i32]) {
    for (index, value) in topics.iter().enumerate() {
        if resource::topic(*value).is_none() {
            let problem = if Topic::try_from(*value).is_ok() {
                "must not be TOPIC_UNSPECIFIED".to_owned()
            } else {
                format!("unknown value {value}")
            };
            violations.add(format!("{field}[{index}]"), problem);
        }
    }
    violations.no_duplicates(field, topics);
}

fn check_identifier(violations: &mut Violations, path: &str, identifier: &LegalTextIdentifier) {
    match Scheme::try_from(identifier.scheme) {
        Err(_) => violations.add(format!("{path}.scheme"), format!("unknown value {}", identifier.scheme)),
        Ok(Scheme::Unspecified) => violations.add(format!("{path}.scheme"), "is required"),
        Ok(Scheme::Other) => violations.required(&format!("{path}.other_scheme"), &identifier.other_scheme),
        Ok(_) if !identifier.other_scheme.is_empty() => violations.add(
            format!("{path}.other_scheme"),
            "is only for SCHEME_OTHER; leave it empty",
        ),
        Ok(_) => {}
    }
    violations.max_chars(&format!("{path}.other_scheme"), &identifier.other_scheme, 64);
    violations.required(&format!("{path}.value"), &identifier.value);
    violations.max_chars(&format!("{path}.value"), &identifier.value, 512);
}

fn check_provisions(violations: &mut Violations, path: &str, text: &LegalText) {
    if text.provisions.len() > MAX_PROVISIONS {
        violations.add(
            format!("{path}.provisions"),
            format!(
                "has {} provisions; at most {MAX_PROVISIONS} are allowed",
                text.provisions.len()
            ),
        );
    }
    for (index, provision) in text.provisions.iter().enumerate() {
        let field = |name: &str| format!("{path}.provisions[{index}].{name}");
        violations.max_chars(&field("number"), &provision.number, MAX_NUMBER);
        let earlier = &text.provisions[..index];
        if !provision.number.is_empty() && earlier.iter().any(|other| other.number == provision.number) {
            violations.add(
                field("number"),
                format!("{} is the number of an earlier provision", quoted(&provision.number)),
            );
        }
        violations.required(&field("heading"), &provision.heading);
        violations.max_chars(&field("heading"), &provision.heading, MAX_HEADING);
        violations.max_chars(&field("text"), &provision.text, MAX_PROVISION_TEXT);
        check_topics(violations, &field("topics"), &provision.topics);
    }
}

fn check_relation(violations: &mut Violations, path: &str, relation: &LegalTextRelation, id: Option<&str>) {
    match Type::try_from(relation.r#type) {
        Err(_) => violations.add(format!("{path}.type"), format!("unknown value {}", relation.r#type)),
        Ok(Type::Unspecified) => violations.add(format!("{path}.type"), "is required"),
        Ok(_) => {}
    }
    let field = format!("{path}.legal_text");
    match resource::parse_name(&relation.legal_text, &field) {
        Err(_) if relation.legal_text.is_empty() => violations.add(field, "is required"),
        Err(_) => violations.add(
            field,
            format!(
                "{} is not a legal text name (legalTexts/{{id}})",
                quoted(&relation.legal_text)
            ),
        ),
        Ok(target) if Some(target) == id => violations.add(field, "a legal text cannot relate to itself"),
        Ok(_) => {}
    }
}

/// A field path such as `number`, `adoption_date.day` or `provisions[2]`, starting with a
/// writable field.
fn check_field_path(violations: &mut Violations, field: &str, path: &str) {
    let first = path.split(['.', '[']).next().unwrap_or_default();
    let well_formed = path.len() <= 200
        && path
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"_.[]".contains(&byte));
    if !well_formed || !contract().writable().contains(&first) {
        violations.add(
            field,
            format!(
                "{} is not a field path of a legal text (e.g. number, adoption_date.day, provisions[2])",
                quoted(path)
            ),
        );
    }
}

/// A client-chosen id, if any.
pub fn check_legal_text_id(violations: &mut Violations, field: &str, id: &str) {
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

    fn violations_of(text: &LegalText) -> Vec<sse_platform::error::FieldViolation> {
        let mut violations = Violations::default();
        check_legal_text(&mut violations, "legal_text", text, None);
        violations.into_violations()
    }

    #[test]
    fn the_validation_says_what_the_contract_says() {
        let valid = LegalText {
            jurisdiction: "FR".to_owned(),
            level: Level::National as i32,
            kind: 4,
            title: "Loi".to_owned(),
            language: "fr".to_owned(),
            ..Default::default()
        };
        let found =
            sse_testkit::contract::disagreements("sse.lawguide.v1.LegalText", "legal_text", &valid, violations_of);
        assert!(found.is_empty(), "{found:#?}");
    }
}
