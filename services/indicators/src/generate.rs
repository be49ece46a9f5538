//! Synthetic observations for `observatory generate`: figures of the seeded indicators about the
//! generated initiatives (named from the seed and their index alone, see
//! `sse_platform::generate::initiative_profile`), mostly in each initiative's own country, over
//! 2005–2025, of every status, from a few kinds of source, some of which disagree, so that the
//! source rule has work to do. The same seed gives the same figures. Rows go straight to the
//! store's bulk insert: the generated initiatives are known to exist, so no service is asked.

use anyhow::Context;
use sse_platform::{
    ServiceResult,
    generate::{COUNTRIES, GenerateSpec, Progress, Random, initiative_profile},
    time,
};
use sse_proto::{
    indicators::{Observation, observation::Status},
    types::{PartialDate, SourceCitation},
};

use crate::{entity::observation::ActiveModel, indicator, observation, period::Period, store::Store};

/// Seeded indicators figures are generated for, with a typical figure of one initiative.
const INDICATORS: &[(&str, f64)] = &[
    ("workers", 120.0),
    ("sse-employment", 400.0),
    ("green-jobs", 35.0),
    ("people-hired-permanent", 12.0),
    ("member-organisations", 25.0),
    ("land-restored", 800.0),
    ("carbon-sequestered", 2_500.0),
    ("territories", 4.0),
];

/// Where figures come from: title and publisher; the first is the initiative's own report.
const SOURCES: &[(&str, &str)] = &[
    ("Annual activity report", ""),
    (
        "National survey of the social and solidarity economy",
        "National statistics office",
    ),
    ("SSE mapping programme", "UNRISD"),
    ("Cooperative and mutual enterprises database", "ILO"),
];

const FIRST_YEAR: u64 = 2005;
const YEARS: u64 = 21;

/// Rows written per transaction.
const ROWS_PER_BATCH: usize = 5_000;

/// Writes `spec.observations` observations; returns how many.
pub async fn generate(store: &Store, spec: &GenerateSpec) -> anyhow::Result<usize> {
    if spec.observations == 0 {
        return Ok(0);
    }
    let known = store.indicators_by_code().await?;
    let indicators: Vec<(&str, f64)> = INDICATORS
        .iter()
        .copied()
        .filter(|(code, _)| known.contains_key(*code))
        .collect();
    anyhow::ensure!(
        !indicators.is_empty(),
        "none of the seeded indicators figures are generated for exists; run the seed first"
    );
    let mut random = Random::new(spec.seed, "observation");
    let now = time::now_micros();
    let progress = Progress::new("observations", spec.observations);
    let mut rows = Vec::with_capacity(ROWS_PER_BATCH);
    // One batch is written while the next is made.
    let mut writing: Option<(u64, tokio::task::JoinHandle<ServiceResult<()>>)> = None;
    for index in 0..spec.observations {
        rows.push(observation_row(&mut random, spec, &indicators, index, now)?);
        if rows.len() == ROWS_PER_BATCH || index + 1 == spec.observations {
            finish_writing(writing.take(), &progress).await?;
            let batch = std::mem::replace(&mut rows, Vec::with_capacity(ROWS_PER_BATCH));
            let count = batch.len() as u64;
            let store = store.clone();
            writing = Some((count, tokio::spawn(async move { store.insert_generated(batch).await })));
        }
    }
    finish_writing(writing, &progress).await?;
    progress.finish();
    usize::try_from(spec.observations).context("observation count")
}

/// Waits for the batch being written, if any, and counts it.
async fn finish_writing(
    writing: Option<(u64, tokio::task::JoinHandle<ServiceResult<()>>)>,
    progress: &Progress,
) -> anyhow::Result<()> {
    let Some((count, handle)) = writing else {
        return Ok(());
    };
    handle
        .await
        .context("the writing task failed")?
        .context("writing generated observations (is the database fresh?)")?;
    progress.advance(count);
    Ok(())
}

/// The `index`-th generated observation, as a row.
fn observation_row(
    random: &mut Random,
    spec: &GenerateSpec,
    indicators: &[(&str, f64)],
    index: u64,
    now: i64,
) -> anyhow::Result<ActiveModel> {
    let (code, typical) = *random.skewed(indicators);
    let (initiative, home) = if spec.initiatives == 0 {
        (String::new(), *random.skewed(COUNTRIES))
    } else {
        let profile = initiative_profile(spec.seed, random.below(spec.initiatives));
        let home = if random.chance(0.9) {
            *random.pick(&profile.countries)
        } else {
            *random.skewed(COUNTRIES)
        };
        (format!("initiatives/{}", profile.id), home)
    };
    let year = FIRST_YEAR + random.below(YEARS);
    let time_period = if random.chance(0.15) {
        format!("{year}-Q{}", 1 + random.below(4))
    } else {
        year.to_string()
    };
    let status = match random.unit() {
        draw if draw < 0.70 => Status::Reported,
        draw if draw < 0.82 => Status::Target,
        draw if draw < 0.94 => Status::Estimate,
        _ => Status::Provisional,
    };
    let (title, publisher) = *random.skewed(SOURCES);
    // Published the year after the period, some later still; a few sources carry no date.
    let date = random.chance(0.9).then(|| PartialDate {
        year: i32::try_from(year + 1 + random.below(3)).unwrap_or(2026),
        month: i32::try_from(1 + random.below(12)).unwrap_or(1),
        day: 0,
    });
    let value = (typical * (0.1 + 1.9 * random.unit())).round();
    let mut resource = Observation {
        name: observation::name_of(code, &format!("generated-{index:08}")),
        initiative,
        ref_area: home.to_owned(),
        time_period,
        value,
        status: status.into(),
        source: Some(SourceCitation {
            title: title.to_owned(),
            url: String::new(),
            publisher: publisher.to_owned(),
            date,
        }),
        note: String::new(),
        create_time: Some(time::timestamp(now)),
        update_time: Some(time::timestamp(now)),
        delete_time: None,
        etag: String::new(),
    };
    let period = Period::parse(&resource.time_period).map_err(anyhow::Error::msg)?;
    Ok(observation::to_row(&mut resource, &indicator::name_of(code), &period)?)
}
