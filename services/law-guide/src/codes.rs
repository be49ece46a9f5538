//! The codes a legal text is described with besides ISO 3166: the organisations that adopt
//! texts of their own (the README lists them), and ISO 639-1 language codes.

/// Organisations whose acts the guide records, by the code used as their jurisdiction, with the
/// level their acts have.
pub const ORGANISATIONS: &[(&str, OrganisationLevel, &str)] = &[
    ("UN", OrganisationLevel::International, "United Nations"),
    (
        "ILO",
        OrganisationLevel::International,
        "International Labour Organization",
    ),
    (
        "OECD",
        OrganisationLevel::International,
        "Organisation for Economic Co-operation and Development",
    ),
    (
        "UNESCO",
        OrganisationLevel::International,
        "United Nations Educational, Scientific and Cultural Organization",
    ),
    (
        "FAO",
        OrganisationLevel::International,
        "Food and Agriculture Organization of the United Nations",
    ),
    ("COE", OrganisationLevel::International, "Council of Europe"),
    ("EU", OrganisationLevel::Supranational, "European Union"),
    ("AU", OrganisationLevel::Supranational, "African Union"),
    ("MERCOSUR", OrganisationLevel::Supranational, "Southern Common Market"),
    ("CAN", OrganisationLevel::Supranational, "Andean Community"),
    (
        "SICA",
        OrganisationLevel::Supranational,
        "Central American Integration System",
    ),
    ("CARICOM", OrganisationLevel::Supranational, "Caribbean Community"),
    (
        "ECOWAS",
        OrganisationLevel::Supranational,
        "Economic Community of West African States",
    ),
    (
        "UEMOA",
        OrganisationLevel::Supranational,
        "West African Economic and Monetary Union",
    ),
    (
        "CEMAC",
        OrganisationLevel::Supranational,
        "Economic and Monetary Community of Central Africa",
    ),
    (
        "OHADA",
        OrganisationLevel::Supranational,
        "Organisation for the Harmonisation of Business Law in Africa",
    ),
    (
        "SADC",
        OrganisationLevel::Supranational,
        "Southern African Development Community",
    ),
    ("EAC", OrganisationLevel::Supranational, "East African Community"),
    (
        "ASEAN",
        OrganisationLevel::Supranational,
        "Association of Southeast Asian Nations",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrganisationLevel {
    Supranational,
    International,
}

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

/// The ISO 639-1 two-letter language codes.
const ISO_639_1: &[&str] = &[
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bi", "bm", "bn", "bo",
    "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da", "de", "dv", "dz", "ee", "el", "en", "eo",
    "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr", "fy", "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi",
    "ho", "hr", "ht", "hu", "hy", "hz", "ia", "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja", "jv", "ka",
    "kg", "ki", "kj", "kk", "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln",
    "lo", "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb", "nd", "ne", "ng",
    "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj", "om", "or", "os", "pa", "pi", "pl", "ps", "pt", "qu", "rm", "rn",
    "ro", "ru", "rw", "sa", "sc", "sd", "se", "sg", "si", "sk", "sl", "sm", "sn", "so", "sq", "sr", "ss", "st", "su",
    "sv", "sw", "ta", "te", "tg", "th", "ti", "tk", "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk", "ur",
    "uz", "ve", "vi", "vo", "wa", "wo", "xh", "yi", "yo", "za", "zh", "zu",
];

/// Whether `code` is an ISO 639-1 code, in lower case, e.g. `fr`.
pub fn is_language_code(code: &str) -> bool {
    ISO_639_1.binary_search(&code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_list_is_sorted_and_complete() {
        assert!(ISO_639_1.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(ISO_639_1.len(), 183);
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
