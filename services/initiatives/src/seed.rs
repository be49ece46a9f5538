//! The initiatives the observatory ships with (`seed/initiatives.yaml`). Seeding goes through
//! the same validation and store as CreateInitiative, and skips any initiative whose id exists,
//! deleted or not, so it can run on every start.

use anyhow::Context;
use serde::Deserialize;
use sse_platform::validate::Violations;
use sse_proto::initiatives::{Initiative, initiative::LegalForm, initiative::Status};
use sse_proto::types::{PartialDate, SourceCitation};

use crate::{
    store::{NewInitiative, Store},
    validation::check_initiative,
};

const SEED: &str = include_str!("../seed/initiatives.yaml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedInitiative {
    id: String,
    display_name: String,
    description: String,
    legal_form: String,
    status: String,
    countries: Vec<String>,
    #[serde(default)]
    territories: Vec<String>,
    sdg_goals: Vec<i32>,
    #[serde(default)]
    sdg_targets: Vec<String>,
    start_year: i32,
    #[serde(default)]
    related_legal_texts: Vec<String>,
    sources: Vec<SeedSource>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedSource {
    title: String,
    url: String,
    publisher: String,
    year: Option<i32>,
}

/// How many seed initiatives were created; the others were there already.
pub async fn seed(store: &Store) -> anyhow::Result<usize> {
    let records: Vec<SeedInitiative> = serde_yaml::from_str(SEED).context("seed/initiatives.yaml is malformed")?;
    let mut missing = Vec::new();
    for record in records {
        if store.exists(&record.id).await? {
            continue;
        }
        let initiative = to_initiative(&record)?;
        let mut violations = Violations::default();
        check_initiative(&mut violations, &record.id, &initiative);
        violations
            .into_result()
            .with_context(|| format!("seed initiative {} is invalid", record.id))?;
        missing.push(NewInitiative {
            id: Some(record.id),
            initiative,
            request_id: String::new(),
        });
    }
    let created = missing.len();
    if created > 0 {
        store
            .create_all(missing, "")
            .await
            .context("cannot seed the initiatives")?;
    }
    Ok(created)
}

fn to_initiative(record: &SeedInitiative) -> anyhow::Result<Initiative> {
    let legal_form = LegalForm::from_str_name(&format!("LEGAL_FORM_{}", record.legal_form))
        .with_context(|| format!("unknown legal form {}", record.legal_form))?;
    let status = Status::from_str_name(&format!("STATUS_{}", record.status))
        .with_context(|| format!("unknown status {}", record.status))?;
    let year = |year: i32| PartialDate { year, month: 0, day: 0 };
    Ok(Initiative {
        display_name: record.display_name.clone(),
        description: record.description.clone(),
        legal_form: legal_form.into(),
        status: status.into(),
        countries: record.countries.clone(),
        territories: record.territories.clone(),
        sdg_goals: record.sdg_goals.clone(),
        sdg_targets: record.sdg_targets.clone(),
        start_date: Some(year(record.start_year)),
        related_legal_texts: record.related_legal_texts.clone(),
        sources: record
            .sources
            .iter()
            .map(|source| SourceCitation {
                title: source.title.clone(),
                url: source.url.clone(),
                publisher: source.publisher.clone(),
                date: source.year.map(year),
            })
            .collect(),
        ..Initiative::default()
    })
}
