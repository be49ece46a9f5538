//! The indicators and figures the observatory ships with (`seed/indicators.yaml`). Seeding goes
//! through the same validation and store as the API and skips what exists, so it can run on
//! every start. The initiatives its figures name are the initiatives service's own seed.

use anyhow::Context;
use serde::Deserialize;
use sse_platform::validate::Violations;
use sse_proto::indicators::{
    Indicator, Observation,
    indicator::{Aggregation, Category},
    observation::Status,
};
use sse_proto::types::{PartialDate, SourceCitation};

use crate::{
    indicator, observation,
    store::{NewObservation, Store},
};

const SEED: &str = include_str!("../seed/indicators.yaml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Seed {
    indicators: Vec<SeedIndicator>,
    observations: Vec<SeedObservation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedIndicator {
    code: String,
    display_name: String,
    description: String,
    unit: String,
    unit_label: String,
    category: String,
    aggregation: String,
    #[serde(default)]
    sdg_indicators: Vec<String>,
    #[serde(default)]
    methodology: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedObservation {
    indicator: String,
    id: String,
    #[serde(default)]
    initiative: String,
    #[serde(default)]
    area: String,
    period: String,
    value: f64,
    status: String,
    source: SeedSource,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedSource {
    title: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    publisher: String,
    year: Option<i32>,
    #[serde(default)]
    month: i32,
    #[serde(default)]
    day: i32,
}

/// How many indicators and observations were created; the others were there already.
pub async fn seed(store: &Store) -> anyhow::Result<usize> {
    let seed: Seed = serde_yaml::from_str(SEED).context("seed/indicators.yaml is malformed")?;
    let mut created = 0;
    for record in seed.indicators {
        if store.indicator_exists(&record.code).await? {
            continue;
        }
        let resource = Indicator {
            display_name: record.display_name,
            description: record.description,
            unit: record.unit,
            unit_label: record.unit_label,
            category: Category::from_str_name(&format!("CATEGORY_{}", record.category))
                .with_context(|| format!("unknown category {}", record.category))?
                .into(),
            aggregation: Aggregation::from_str_name(&format!("AGGREGATION_{}", record.aggregation))
                .with_context(|| format!("unknown aggregation {}", record.aggregation))?
                .into(),
            sdg_indicators: record.sdg_indicators,
            methodology: record.methodology,
            ..Indicator::default()
        };
        let mut violations = Violations::default();
        indicator::check(&mut violations, &record.code, &resource);
        violations
            .into_result()
            .with_context(|| format!("seed indicator {} is invalid", record.code))?;
        store.create_indicator(&record.code, resource, "").await?;
        created += 1;
    }

    let mut missing = Vec::new();
    for record in seed.observations {
        let name = observation::name_of(&record.indicator, &record.id);
        if store.observation_exists(&name).await? {
            continue;
        }
        let resource = Observation {
            initiative: if record.initiative.is_empty() {
                String::new()
            } else {
                format!("initiatives/{}", record.initiative)
            },
            ref_area: record.area,
            time_period: record.period,
            value: record.value,
            status: Status::from_str_name(&format!("STATUS_{}", record.status))
                .with_context(|| format!("unknown status {}", record.status))?
                .into(),
            source: Some(SourceCitation {
                title: record.source.title,
                url: record.source.url,
                publisher: record.source.publisher,
                date: record.source.year.map(|year| PartialDate {
                    year,
                    month: record.source.month,
                    day: record.source.day,
                }),
            }),
            note: record.note,
            ..Observation::default()
        };
        let mut violations = Violations::default();
        let period = observation::check(&mut violations, &name, &resource);
        violations
            .into_result()
            .with_context(|| format!("seed observation {name} is invalid"))?;
        let period = period.with_context(|| format!("seed observation {name} has no period"))?;
        missing.push(NewObservation {
            indicator_code: record.indicator,
            id: Some(record.id),
            observation: resource,
            period,
            request_id: String::new(),
        });
    }
    created += missing.len();
    if !missing.is_empty() {
        store
            .create_observations(missing, "")
            .await
            .context("cannot seed the observations")?;
    }
    Ok(created)
}
