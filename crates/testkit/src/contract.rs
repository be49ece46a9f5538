//! Whether a service's validation says what its contract says: a field the contract marks
//! REQUIRED is refused when missing (and no other field is), and a string is refused one
//! character past the contract's `max_length` and accepted at it.

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use sse_platform::error::FieldViolation;
use sse_proto::contract::{self, FieldBehavior};

/// Every disagreement between the contract of the message `full_name` and `check`, which
/// validates a message of that type found at `path` of a request and returns its violations.
/// `valid` is a message `check` accepts. Fields are set through the proto3 JSON mapping, so one
/// function serves every message type.
pub fn disagreements<T: Serialize + DeserializeOwned>(
    full_name: &str,
    path: &str,
    valid: &T,
    check: impl Fn(&T) -> Vec<FieldViolation>,
) -> Vec<String> {
    let described = contract::expect_message(full_name);
    let mut found = Vec::new();
    let accepted = check(valid);
    if !accepted.is_empty() {
        found.push(format!("the valid example is refused: {accepted:?}"));
        return found;
    }
    let base = serde_json::to_value(valid).expect("a message writes as JSON");
    let with = |json_name: &str, value: Value| -> T {
        let mut json = base.clone();
        json[json_name] = value;
        serde_json::from_value(json).expect("a message reads from JSON")
    };
    let refused = |message: &T, field: &str| -> Vec<String> {
        check(message)
            .into_iter()
            .map(|violation| violation.field)
            .filter(|name| {
                name == field || name.starts_with(&format!("{field}.")) || name.starts_with(&format!("{field}["))
            })
            .collect()
    };
    let empty = T::deserialize(Value::Object(Default::default())).expect("an empty message");
    let refused_when_empty: Vec<String> = check(&empty)
        .into_iter()
        .filter(|violation| violation.description.starts_with("is required"))
        .map(|violation| violation.field)
        .collect();
    for field in &described.fields {
        let path_of_field = format!("{path}.{}", field.name);
        let required = field.is(FieldBehavior::Required);
        if required != refused_when_empty.contains(&path_of_field) {
            found.push(format!(
                "{path_of_field}: the contract says {}required, the validation {}refuses it missing",
                if required { "" } else { "not " },
                if required { "never " } else { "" },
            ));
        }
        let Some(limits) = &field.limits else { continue };
        if limits.max_length == 0 || !limits.pattern.is_empty() {
            continue;
        }
        let json_name = json_name(field.name);
        let max = limits.max_length as usize;
        let at_bound = with(&json_name, Value::String("a".repeat(max)));
        if !refused(&at_bound, &path_of_field).is_empty() {
            found.push(format!("{path_of_field}: {max} characters are refused"));
        }
        let past_bound = with(&json_name, Value::String("a".repeat(max + 1)));
        if refused(&past_bound, &path_of_field).is_empty() {
            found.push(format!("{path_of_field}: {} characters are accepted", max + 1));
        }
    }
    found
}

fn json_name(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}
