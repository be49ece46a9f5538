//! The codes a legal text is described with besides ISO 3166: the organisations that adopt
//! texts of their own (the README lists them), and ISO 639-1 language codes (from
//! `sse_reference`, which the OpenAPI document also lists).

pub use sse_reference::{ORGANISATIONS, OrganisationLevel};

/// What kind of place or body a jurisdiction code names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jurisdiction {
    /// An ISO 3166-1 alpha-2 country code.
    Country,
    /// An ISO 3166-2 subdivision code.
    Subdivision,
    Organisation(OrganisationLevel),
}

impl Jurisdiction {
    /// What `code` names, if it is a code the guide accepts.
    pub fn parse(code: &str) -> Option<Jurisdiction> {
        if let Some((_, level, _)) = ORGANISATIONS.iter().find(|(known, _, _)| *known == code) {
            Some(Jurisdiction::Organisation(*level))
        } else if sse_reference::is_country_code(code) {
            Some(Jurisdiction::Country)
        } else if sse_reference::is_subdivision_code(code) {
            Some(Jurisdiction::Subdivision)
        } else {
            None
        }
    }
}

pub use sse_reference::is_language_code;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_list_is_sorted_and_complete() {
        let codes = sse_reference::ISO_639_1;
        assert!(codes.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(codes.len(), 183);
        for code in ["en", "fr", "es", "pt", "it", "el", "ro", "bg"] {
            assert!(is_language_code(code), "{code}");
        }
        assert!(!is_language_code("EN"));
        assert!(!is_language_code("xx"));
        assert!(!is_language_code("fra"));
    }

    #[test]
    fn jurisdictions_are_countries_subdivisions_or_listed_organisations() {
        assert_eq!(Jurisdiction::parse("FR"), Some(Jurisdiction::Country));
        assert_eq!(Jurisdiction::parse("CA-QC"), Some(Jurisdiction::Subdivision));
        assert_eq!(Jurisdiction::parse("BE-WAL"), Some(Jurisdiction::Subdivision));
        assert_eq!(
            Jurisdiction::parse("EU"),
            Some(Jurisdiction::Organisation(OrganisationLevel::Supranational))
        );
        assert_eq!(
            Jurisdiction::parse("ILO"),
            Some(Jurisdiction::Organisation(OrganisationLevel::International))
        );
        assert_eq!(Jurisdiction::parse("XX"), None);
        assert_eq!(Jurisdiction::parse("fr"), None);
    }
}
