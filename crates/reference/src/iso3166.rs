//! ISO 3166-1 alpha-2 and ISO 3166-2 codes, as published by ISO and packaged by `rust_iso3166`.

/// Whether `code` is an ISO 3166-1 alpha-2 country code in upper case, e.g. `FR`.
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|byte| byte.is_ascii_uppercase()) && rust_iso3166::from_alpha2(code).is_some()
}

/// Whether `code` is an ISO 3166-2 subdivision code in upper case, e.g. `CA-QC` or `ES-PV`.
pub fn is_subdivision_code(code: &str) -> bool {
    code.bytes()
        .all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit() || byte == b'-')
        && rust_iso3166::iso3166_2::from_code(code).is_some()
}

/// Every ISO 3166-1 alpha-2 country code, sorted.
pub fn country_codes() -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = rust_iso3166::ALL_ALPHA2
        .iter()
        .copied()
        .filter(|code| is_country_code(code))
        .collect();
    codes.sort_unstable();
    codes
}

/// Every ISO 3166-2 subdivision code [`is_subdivision_code`] accepts, sorted.
pub fn subdivision_codes() -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = rust_iso3166::iso3166_2::SUBDIVISION_MAP
        .keys()
        .copied()
        .filter(|code| is_subdivision_code(code))
        .collect();
    codes.sort_unstable();
    codes
}

/// The English short name of a country (`BF`) or subdivision (`CA-QC`) code, as ISO publishes it.
pub fn place_name(code: &str) -> Option<&'static str> {
    if code.len() == 2 {
        return rust_iso3166::from_alpha2(code).map(|country| country.name);
    }
    rust_iso3166::iso3166_2::from_code(code).map(|subdivision| subdivision.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_countries_and_rejects_lower_case_and_unknown_codes() {
        assert!(is_country_code("FR"));
        assert!(is_country_code("BF"));
        assert!(!is_country_code("fr"));
        assert!(!is_country_code("XX"));
        assert!(!is_country_code("FRA"));
    }

    #[test]
    fn names_places_in_english() {
        assert_eq!(place_name("BF"), Some("Burkina Faso"));
        assert!(place_name("CA-QC").is_some_and(|name| name.contains("Qu")));
        assert_eq!(place_name("XX"), None);
        assert_eq!(place_name("WORLD"), None);
    }

    #[test]
    fn knows_subdivisions_of_the_seeded_initiatives() {
        assert!(is_subdivision_code("CA-QC"));
        assert!(is_subdivision_code("ES-PV"));
        assert!(is_subdivision_code("BE-WAL"));
        assert!(!is_subdivision_code("CA-XX"));
        assert!(!is_subdivision_code("ca-qc"));
        assert!(!is_subdivision_code("FR"));
    }
}
