//! What the contracts' enums are called on the pages, in the page's language.

use sse_proto::{
    indicators::{indicator, observation},
    initiatives::initiative,
    lawguide::{Topic, legal_text, legal_text_relation, legal_text_revision},
};

use super::i18n::Lang;

pub fn legal_form(lang: Lang, form: initiative::LegalForm) -> &'static str {
    use initiative::LegalForm;
    lang.t(match form {
        LegalForm::Unspecified => "Unspecified",
        LegalForm::Cooperative => "Cooperative",
        LegalForm::Mutual => "Mutual",
        LegalForm::Association => "Association",
        LegalForm::Foundation => "Foundation",
        LegalForm::SocialEnterprise => "Social enterprise",
        LegalForm::PublicProgramme => "Public programme",
        LegalForm::Network => "Network",
        LegalForm::InformalGroup => "Informal group",
        LegalForm::Other => "Other",
    })
}

/// Every legal form one can filter on, with the short name filters use (`COOPERATIVE`).
pub fn legal_forms() -> Vec<(initiative::LegalForm, &'static str)> {
    (1..)
        .map_while(|number| initiative::LegalForm::try_from(number).ok())
        .map(|form| (form, form.as_str_name().trim_start_matches("LEGAL_FORM_")))
        .collect()
}

pub fn initiative_status(lang: Lang, status: initiative::Status) -> &'static str {
    use initiative::Status;
    lang.t(match status {
        Status::Unspecified => "Unspecified",
        Status::Planned => "Planned",
        Status::Active => "Active",
        Status::Ended => "Ended",
    })
}

pub fn observation_status(lang: Lang, status: observation::Status) -> &'static str {
    use observation::Status;
    lang.t(match status {
        Status::Unspecified => "Unspecified",
        Status::Target => "Target",
        Status::Reported => "Reported",
        Status::Estimate => "Estimate",
        Status::Provisional => "Provisional",
    })
}

pub fn category(lang: Lang, category: indicator::Category) -> &'static str {
    use indicator::Category;
    lang.t(match category {
        Category::Unspecified => "Unspecified",
        Category::Employment => "Employment",
        Category::Environment => "Environment",
        Category::SocialInclusion => "Social inclusion",
        Category::Finance => "Finance",
        Category::Governance => "Governance",
        Category::Other => "Other",
    })
}

pub fn aggregation(lang: Lang, aggregation: indicator::Aggregation) -> &'static str {
    use indicator::Aggregation;
    lang.t(match aggregation {
        Aggregation::Unspecified | Aggregation::Sum => "Sum",
        Aggregation::Mean => "Mean",
        Aggregation::Max => "Maximum",
        Aggregation::Last => "Latest",
    })
}

pub fn topic(lang: Lang, topic: Topic) -> &'static str {
    lang.t(match topic {
        Topic::Unspecified => "Unspecified",
        Topic::SseDefinition => "SSE definition",
        Topic::Principles => "Principles",
        Topic::EntityTypes => "Entity types",
        Topic::Registry => "Registry",
        Topic::LabelOrCertification => "Label or certification",
        Topic::PublicProcurement => "Public procurement",
        Topic::TaxIncentives => "Tax incentives",
        Topic::Financing => "Financing",
        Topic::GovernanceBody => "Governance body",
        Topic::StatisticsOrSatelliteAccount => "Statistics",
        Topic::EducationAndTraining => "Education and training",
        Topic::EmploymentAndInsertion => "Employment and insertion",
        Topic::Experimentation => "Experimentation",
    })
}

/// Every topic of the law guide, in the contract's order.
pub fn topics() -> Vec<Topic> {
    (1..).map_while(|number| Topic::try_from(number).ok()).collect()
}

pub fn level(lang: Lang, level: legal_text::Level) -> &'static str {
    use legal_text::Level;
    lang.t(match level {
        Level::Unspecified => "Unspecified",
        Level::National => "National",
        Level::Regional => "Regional",
        Level::Supranational => "Supranational",
        Level::International => "International",
    })
}

pub fn kind(lang: Lang, kind: legal_text::Kind) -> &'static str {
    use legal_text::Kind;
    lang.t(match kind {
        Kind::Unspecified => "Unspecified",
        Kind::Constitution => "Constitution",
        Kind::FrameworkLaw => "Framework law",
        Kind::OrganicLaw => "Organic law",
        Kind::Law => "Law",
        Kind::Decree => "Decree",
        Kind::LegislativeDecree => "Legislative decree",
        Kind::Regulation => "Regulation",
        Kind::Resolution => "Resolution",
        Kind::Recommendation => "Recommendation",
        Kind::Policy => "Policy",
        Kind::Other => "Other",
    })
}

pub fn law_status(lang: Lang, status: legal_text::Status) -> &'static str {
    use legal_text::Status;
    lang.t(match status {
        Status::Unspecified => "Unspecified",
        Status::InForce => "In force",
        Status::PartiallyInForce => "Partially in force",
        Status::Amended => "Amended",
        Status::Repealed => "Repealed",
        Status::Draft => "Draft",
    })
}

pub fn relation(lang: Lang, relation: legal_text_relation::Type) -> &'static str {
    use legal_text_relation::Type;
    lang.t(match relation {
        Type::Unspecified => "Relations",
        Type::Amends => "amends",
        Type::AmendedBy => "is amended by",
        Type::Implements => "implements",
        Type::ImplementedBy => "is implemented by",
    })
}

pub fn change(lang: Lang, change: legal_text_revision::Change) -> &'static str {
    use legal_text_revision::Change;
    lang.t(match change {
        Change::Unspecified => "Unspecified",
        Change::Update => "Updated",
        Change::Delete => "Deleted",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_filterable_legal_form_and_topic() {
        let forms = legal_forms();
        assert_eq!(forms.len(), 9);
        assert_eq!(forms[0].1, "COOPERATIVE");
        assert_eq!(forms[5].1, "PUBLIC_PROGRAMME");
        assert_eq!(topics().len(), 13);
        assert_eq!(topic(Lang::Es, Topic::PublicProcurement), "Contratación pública");
        assert_eq!(legal_form(Lang::Fr, initiative::LegalForm::Cooperative), "Coopérative");
    }
}
