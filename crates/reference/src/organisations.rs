//! The organisations whose acts the law guide records, by the code used as their jurisdiction.

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
