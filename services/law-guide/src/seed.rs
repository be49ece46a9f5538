//! The legal texts the observatory ships with (`seed/legal_texts.yaml`). Seeding goes through
//! the same validation and store as CreateLegalText, and skips every id that exists or ever
//! existed (a text deleted on purpose keeps its revisions and is not brought back), so it can run
//! on every start.

use anyhow::Context;
use serde::Deserialize;
use sse_platform::{filter::date_column, validate::Violations};
use sse_proto::lawguide::{
    LegalText, LegalTextIdentifier, LegalTextRelation, Provision, Topic,
    legal_text::{Kind, Level, Status},
    legal_text_identifier::Scheme,
    legal_text_relation::Type,
};
use sse_proto::types::{PartialDate, SourceCitation};

use crate::{
    store::{NewLegalText, Store},
    validation::check_legal_text,
};

const SEED: &str = include_str!("../seed/legal_texts.yaml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedText {
    id: String,
    jurisdiction: String,
    level: String,
    kind: String,
    #[serde(default)]
    number: String,
    title: String,
    #[serde(default)]
    title_en: String,
    language: String,
    adopted: String,
    published: Option<String>,
    entry_into_force: Option<String>,
    #[serde(default)]
    publication_reference: String,
    status: Option<String>,
    #[serde(default)]
    identifiers: Vec<SeedIdentifier>,
    topics: Vec<String>,
    summary: String,
    provisions: Vec<SeedProvision>,
    #[serde(default)]
    relations: Vec<SeedRelation>,
    #[serde(default)]
    related_initiatives: Vec<String>,
    sources: Vec<SeedSource>,
    #[serde(default)]
    unverified: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedIdentifier {
    scheme: String,
    value: String,
    #[serde(default)]
    other_scheme: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedProvision {
    #[serde(default)]
    number: String,
    heading: String,
    text: String,
    #[serde(default)]
    topics: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedRelation {
    r#type: String,
    legal_text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedSource {
    title: String,
    url: String,
    publisher: String,
}

/// How many seed texts were created; the others were there already (or were deleted).
pub async fn seed(store: &Store) -> anyhow::Result<usize> {
    let records: Vec<SeedText> = serde_yaml::from_str(SEED).context("seed/legal_texts.yaml is malformed")?;
    let mut created = 0;
    for record in records {
        if store.ever_existed(&record.id).await? {
            continue;
        }
        let legal_text = to_legal_text(&record).with_context(|| format!("seed legal text {}", record.id))?;
        let mut violations = Violations::default();
        check_legal_text(&mut violations, &record.id, &legal_text, Some(&record.id));
        violations
            .into_result()
            .with_context(|| format!("seed legal text {} is invalid", record.id))?;
        store
            .create(NewLegalText {
                id: Some(record.id.clone()),
                legal_text,
                request_id: String::new(),
            })
            .await
            .with_context(|| format!("cannot seed the legal text {}", record.id))?;
        created += 1;
    }
    Ok(created)
}

fn to_legal_text(record: &SeedText) -> anyhow::Result<LegalText> {
    let level = Level::from_str_name(&format!("LEVEL_{}", record.level))
        .with_context(|| format!("unknown level {}", record.level))?;
    let kind = Kind::from_str_name(&format!("KIND_{}", record.kind))
        .with_context(|| format!("unknown kind {}", record.kind))?;
    let status = match &record.status {
        None => Status::Unspecified,
        Some(status) => {
            Status::from_str_name(&format!("STATUS_{status}")).with_context(|| format!("unknown status {status}"))?
        }
    };
    Ok(LegalText {
        jurisdiction: record.jurisdiction.clone(),
        level: level.into(),
        kind: kind.into(),
        number: record.number.clone(),
        title: record.title.clone(),
        title_en: record.title_en.clone(),
        language: record.language.clone(),
        adoption_date: Some(partial_date(&record.adopted)?),
        publication_date: record.published.as_deref().map(partial_date).transpose()?,
        entry_into_force_date: record.entry_into_force.as_deref().map(partial_date).transpose()?,
        publication_reference: record.publication_reference.clone(),
        status: status.into(),
        identifiers: record
            .identifiers
            .iter()
            .map(|identifier| {
                let scheme = Scheme::from_str_name(&format!("SCHEME_{}", identifier.scheme))
                    .with_context(|| format!("unknown identifier scheme {}", identifier.scheme))?;
                Ok(LegalTextIdentifier {
                    scheme: scheme.into(),
                    value: identifier.value.clone(),
                    other_scheme: identifier.other_scheme.clone(),
                })
            })
            .collect::<anyhow::Result<_>>()?,
        topics: topics(&record.topics)?,
        summary: record.summary.clone(),
        provisions: record
            .provisions
            .iter()
            .map(|provision| {
                Ok(Provision {
                    number: provision.number.clone(),
                    heading: provision.heading.clone(),
                    text: provision.text.clone(),
                    topics: topics(&provision.topics)?,
                    official_text: false,
                })
            })
            .collect::<anyhow::Result<_>>()?,
        relations: record
            .relations
            .iter()
            .map(|relation| {
                let kind = Type::from_str_name(&format!("TYPE_{}", relation.r#type))
                    .with_context(|| format!("unknown relation type {}", relation.r#type))?;
                Ok(LegalTextRelation {
                    r#type: kind.into(),
                    legal_text: relation.legal_text.clone(),
                })
            })
            .collect::<anyhow::Result<_>>()?,
        related_initiatives: record.related_initiatives.clone(),
        sources: record
            .sources
            .iter()
            .map(|source| SourceCitation {
                title: source.title.clone(),
                url: source.url.clone(),
                publisher: source.publisher.clone(),
                date: None,
            })
            .collect(),
        unverified_fields: record.unverified.clone(),
        ..LegalText::default()
    })
}

fn topics(names: &[String]) -> anyhow::Result<Vec<i32>> {
    names
        .iter()
        .map(|name| {
            Topic::from_str_name(&format!("TOPIC_{name}"))
                .map(i32::from)
                .with_context(|| format!("unknown topic {name}"))
        })
        .collect()
}

/// `2018`, `2019-06` or `2011-03-29`.
fn partial_date(text: &str) -> anyhow::Result<PartialDate> {
    date_column(text).with_context(|| format!("`{text}` is not a date"))?;
    let mut parts = text.split('-').map(str::parse::<i32>);
    let mut next = || {
        parts
            .next()
            .transpose()
            .with_context(|| format!("`{text}` is not a date"))
    };
    Ok(PartialDate {
        year: next()?.unwrap_or_default(),
        month: next()?.unwrap_or_default(),
        day: next()?.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_seed_text_converts_and_is_valid() {
        let records: Vec<SeedText> = serde_yaml::from_str(SEED).expect("seed parses");
        assert_eq!(records.len(), 26, "every text of shared/data/laws.yaml");
        let ids: Vec<&str> = records.iter().map(|record| record.id.as_str()).collect();
        for record in &records {
            let text = to_legal_text(record).expect("converts");
            let mut violations = Violations::default();
            check_legal_text(&mut violations, &record.id, &text, Some(&record.id));
            assert!(violations.is_empty(), "{}: {violations:?}", record.id);
            for relation in &text.relations {
                let target = relation.legal_text.trim_start_matches("legalTexts/");
                assert!(ids.contains(&target), "{} relates to unknown {target}", record.id);
            }
            assert!(text.provisions.iter().all(|provision| !provision.official_text));
        }
        for id in ["fr-loi-2016-231", "fr-loi-2020-1577"] {
            assert!(ids.contains(&id), "the initiatives seed links {id}");
        }
    }

    #[test]
    fn partial_dates_read_as_far_as_they_are_known() {
        assert_eq!(
            partial_date("2018").expect("year"),
            PartialDate {
                year: 2018,
                month: 0,
                day: 0
            }
        );
        assert_eq!(partial_date("2011-03-29").expect("day").day, 29);
        assert!(partial_date("29/03/2011").is_err());
    }
}
