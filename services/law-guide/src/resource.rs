//! The `LegalText` resource: its name, its enum short names, and how it maps onto a stored row
//! (whole as JSON, plus the columns, facets and search terms that List and Search read).

use sea_orm::ActiveValue::Set;
use sse_platform::validate::quoted;
use sse_platform::{
    ServiceError, ServiceResult,
    filter::partial_date_column,
    names::{is_generated_id, is_valid_id, short_enum_name},
    time,
    validate::etag_of,
};
use sse_proto::lawguide::{
    LegalText, Topic,
    legal_text::{Kind, Status},
};

use crate::{
    analysis::{Field, IndexedText},
    entity::{legal_text, posting},
};

/// The collection part of every legal text's name.
pub const COLLECTION: &str = "legalTexts";

pub fn name_of(id: &str) -> String {
    format!("{COLLECTION}/{id}")
}

/// The id in `legalTexts/{id}`, or a violation naming `field`.
pub fn parse_name<'a>(name: &'a str, field: &str) -> ServiceResult<&'a str> {
    name.strip_prefix("legalTexts/")
        .filter(|id| is_valid_id(id) || is_generated_id(id))
        .ok_or_else(|| {
            ServiceError::invalid_field(
                field,
                format!("{} is not a legal text name (legalTexts/{{id}})", quoted(name)),
            )
        })
}

pub const LEVEL_PREFIX: &str = "LEVEL_";
pub const LEVELS: &[&str] = &["UNSPECIFIED", "NATIONAL", "REGIONAL", "SUPRANATIONAL", "INTERNATIONAL"];
pub const KIND_PREFIX: &str = "KIND_";
pub const KINDS: &[&str] = &[
    "UNSPECIFIED",
    "CONSTITUTION",
    "FRAMEWORK_LAW",
    "ORGANIC_LAW",
    "LAW",
    "DECREE",
    "LEGISLATIVE_DECREE",
    "REGULATION",
    "RESOLUTION",
    "RECOMMENDATION",
    "POLICY",
    "OTHER",
];
pub const STATUS_PREFIX: &str = "STATUS_";
pub const STATUSES: &[&str] = &[
    "UNSPECIFIED",
    "IN_FORCE",
    "PARTIALLY_IN_FORCE",
    "AMENDED",
    "REPEALED",
    "DRAFT",
];
pub const TOPIC_PREFIX: &str = "TOPIC_";

/// A known topic other than UNSPECIFIED, from its number.
pub fn topic(value: i32) -> Option<Topic> {
    Topic::try_from(value).ok().filter(|topic| *topic != Topic::Unspecified)
}

/// A topic from its full (`TOPIC_REGISTRY`) or short (`REGISTRY`) name.
pub fn topic_from_name(name: &str) -> Option<Topic> {
    Topic::from_str_name(name)
        .or_else(|| Topic::from_str_name(&format!("{TOPIC_PREFIX}{name}")))
        .filter(|topic| *topic != Topic::Unspecified)
}

/// The topics a text covers: its own, and those of its provisions, each once, in enum order.
pub fn covered_topics(resource: &LegalText) -> Vec<Topic> {
    let mut topics: Vec<Topic> = resource
        .topics
        .iter()
        .chain(resource.provisions.iter().flat_map(|provision| &provision.topics))
        .filter_map(|value| topic(*value))
        .collect();
    topics.sort();
    topics.dedup();
    topics
}

/// Sets a resource's etag: a checksum of everything else in it.
pub fn set_etag(resource: &mut LegalText) -> ServiceResult<()> {
    resource.etag = String::new();
    resource.etag = etag_of(resource)?;
    Ok(())
}

pub fn to_json(resource: &LegalText) -> ServiceResult<String> {
    serde_json::to_string(resource).map_err(|error| ServiceError::Internal(error.into()))
}

/// What the search index holds for a text: its title, summary and provisions, analysed in the
/// text's language.
pub fn index(resource: &LegalText) -> IndexedText {
    let mut fields: Vec<(Field, &str)> = vec![(Field::Title, &resource.number), (Field::Title, &resource.title)];
    // An English original's English title is its title: indexing it twice would count it twice.
    if resource.title_en != resource.title {
        fields.push((Field::Title, &resource.title_en));
    }
    fields.push((Field::Summary, &resource.summary));
    for provision in &resource.provisions {
        fields.push((Field::Provisions, &provision.heading));
        fields.push((Field::Provisions, &provision.text));
    }
    IndexedText::new(&resource.language, fields)
}

/// The row for a legal text whose name, times and etag are set.
pub fn to_row(resource: &LegalText, id: &str, indexed: &IndexedText) -> ServiceResult<legal_text::ActiveModel> {
    Ok(legal_text::ActiveModel {
        id: Set(id.to_owned()),
        jurisdiction: Set(resource.jurisdiction.clone()),
        level: Set(short_enum_name(resource.level().as_str_name(), LEVEL_PREFIX).to_owned()),
        kind: Set(short_enum_name(resource.kind().as_str_name(), KIND_PREFIX).to_owned()),
        status: Set(short_enum_name(resource.status().as_str_name(), STATUS_PREFIX).to_owned()),
        language: Set(resource.language.clone()),
        number: Set(resource.number.clone()),
        title: Set(resource.title.clone()),
        title_en: Set(resource.title_en.clone()),
        summary: Set(resource.summary.clone()),
        adoption_date: Set(partial_date_column(resource.adoption_date.as_ref())),
        publication_date: Set(partial_date_column(resource.publication_date.as_ref())),
        entry_into_force_date: Set(partial_date_column(resource.entry_into_force_date.as_ref())),
        create_time: Set(resource.create_time.as_ref().map(time::micros).unwrap_or_default()),
        update_time: Set(resource.update_time.as_ref().map(time::micros).unwrap_or_default()),
        etag: Set(resource.etag.clone()),
        search_length: Set(indexed.weighted_length),
        resource: Set(to_json(resource)?),
    })
}

pub fn from_json(json: &str, id: &str) -> ServiceResult<LegalText> {
    serde_json::from_str(json).map_err(|error| {
        ServiceError::Internal(anyhow::Error::new(error).context(format!("stored legal text {id} is unreadable")))
    })
}

pub fn from_row(row: &legal_text::Model) -> ServiceResult<LegalText> {
    from_json(&row.resource, &row.id)
}

/// One facet row per value of each repeated field that filters reach. Topics are kept under
/// both their short and full names (`REGISTRY`, `TOPIC_REGISTRY`), so a filter may use either.
pub fn facets(resource: &LegalText) -> Vec<(&'static str, String)> {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for topic in covered_topics(resource) {
        let full = topic.as_str_name();
        pairs.push(("topics", full.to_owned()));
        pairs.push(("topics", short_enum_name(full, TOPIC_PREFIX).to_owned()));
    }
    for initiative in &resource.related_initiatives {
        pairs.push(("related_initiatives", initiative.clone()));
    }
    pairs
}

/// The search index rows of a text.
pub fn postings(indexed: &IndexedText, id: &str) -> Vec<posting::ActiveModel> {
    indexed
        .counts
        .iter()
        .map(|(term, [title, summary, provisions])| posting::ActiveModel {
            term: Set(term.clone()),
            legal_text_id: Set(id.to_owned()),
            title: Set(*title),
            summary: Set(*summary),
            provisions: Set(*provisions),
            length: Set(indexed.weighted_length),
        })
        .collect()
}

/// Only the enum values the contract defines; an unknown number is bad input.
pub fn is_known_kind(value: i32) -> bool {
    Kind::try_from(value).is_ok()
}

pub fn is_known_status(value: i32) -> bool {
    Status::try_from(value).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_valid_ids() {
        assert_eq!(
            parse_name("legalTexts/fr-loi-2016-231", "name").ok(),
            Some("fr-loi-2016-231")
        );
        assert!(parse_name("legalTexts/FR-loi", "name").is_err());
        assert!(parse_name("initiatives/tzcld", "name").is_err());
        assert!(parse_name("fr-loi-2016-231", "name").is_err());
    }

    #[test]
    fn topics_parse_from_short_and_full_names() {
        assert_eq!(topic_from_name("REGISTRY"), Some(Topic::Registry));
        assert_eq!(topic_from_name("TOPIC_REGISTRY"), Some(Topic::Registry));
        assert_eq!(topic_from_name("UNSPECIFIED"), None);
        assert_eq!(topic_from_name("registry"), None);
    }

    #[test]
    fn a_text_covers_its_own_topics_and_its_provisions_topics() {
        let text = LegalText {
            topics: vec![Topic::Registry.into(), Topic::Principles.into()],
            provisions: vec![sse_proto::lawguide::Provision {
                topics: vec![Topic::Registry.into(), Topic::TaxIncentives.into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            covered_topics(&text),
            [Topic::Principles, Topic::Registry, Topic::TaxIncentives]
        );
    }
}
