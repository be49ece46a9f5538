//! Resource ids and enum names as every service spells them.

/// AIP-122 ids: 1 to 63 lowercase letters, digits and hyphens, starting with a letter and not
/// ending with a hyphen.
pub fn is_valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1] != b'-'
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || *byte == b'-')
}

/// A server-chosen id: a UUID, which AIP-122 allows even though it may start with a digit.
pub fn is_generated_id(id: &str) -> bool {
    id.len() == 36 && uuid::Uuid::parse_str(id).is_ok()
}

pub fn generate_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Whether `name` is `{collection}/{id}` with an id the observatory gives out, e.g.
/// `is_resource_name("initiatives/tzcld", "initiatives")`.
pub fn is_resource_name(name: &str, collection: &str) -> bool {
    name.strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|id| is_valid_id(id) || is_generated_id(id))
}

/// `COOPERATIVE` for `LEGAL_FORM_COOPERATIVE`: how enum values are stored and filtered.
pub fn short_enum_name<'a>(full: &'a str, prefix: &str) -> &'a str {
    full.strip_prefix(prefix).unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_aip_122() {
        assert!(is_valid_id("great-green-wall"));
        assert!(is_valid_id("a"));
        assert!(!is_valid_id("Great"));
        assert!(!is_valid_id("1abc"));
        assert!(!is_valid_id("abc-"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id(&"a".repeat(64)));
        assert!(is_generated_id(&generate_id()));
        assert!(is_resource_name("initiatives/tzcld", "initiatives"));
        assert!(!is_resource_name("initiatives/Foo Bar", "initiatives"));
        assert!(!is_resource_name("initiativesx/tzcld", "initiatives"));
    }
}
