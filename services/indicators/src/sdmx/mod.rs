//! SDMX for statistics offices: the data structure definition `SSE:DSD_SSE_OBS(1.0)` and the
//! dataflow `SSE:DF_SSE_OBS(1.0)` (an SDMX-ML 2.1 structure message), and observations as
//! SDMX-CSV 2.0 and SDMX-JSON 2.0 data. The formats follow the samples in
//! `tests/e2e/sdmx_samples/`, which a standard SDMX reader (sdmx1) reads cleanly.
//!
//! Key: INDICATOR, REF_AREA, INITIATIVE, OBS_STATUS, SOURCE_ID, TIME_PERIOD (the time dimension
//! comes last, as SDMX requires). OBS_STATUS and SOURCE_ID are dimensions so that a target and a
//! reported figure, or two sources' figures, for the same place and period have distinct keys.

pub mod csv;
pub mod json;

use std::collections::HashMap;

use chrono::{Datelike, Duration, NaiveDate, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use sse_platform::ServiceResult;
use sse_proto::indicators::{Indicator, observation::Status};

use crate::{entity::observation::Model as Row, observation, period::Period};

pub const CSV_MEDIA_TYPE: &str = "application/vnd.sdmx.data+csv;version=2.0.0";
pub const JSON_MEDIA_TYPE: &str = "application/vnd.sdmx.data+json;version=2.0.0";
pub const STRUCTURE_MEDIA_TYPE: &str = "application/vnd.sdmx.structure+xml;version=2.1";

pub const DATAFLOW: &str = "SSE:DF_SSE_OBS(1.0)";
pub const DIMENSIONS: [&str; 6] = [
    "INDICATOR",
    "REF_AREA",
    "INITIATIVE",
    "OBS_STATUS",
    "SOURCE_ID",
    "TIME_PERIOD",
];
pub const ATTRIBUTES: [&str; 6] = [
    "UNIT_MEASURE",
    "SOURCE_TITLE",
    "SOURCE_URL",
    "SOURCE_PUBLISHER",
    "SOURCE_DATE",
    "COMMENT",
];
/// The code of a dimension that does not apply (SDMX's `_Z`), e.g. a figure about no initiative.
const NOT_APPLICABLE: &str = "_Z";

const STRUCTURE: &str = include_str!("structure.xml");

/// The structure message, prepared now.
pub fn structure() -> String {
    STRUCTURE.replace("{prepared}", &now())
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One observation in SDMX terms.
#[derive(Debug, Clone, PartialEq)]
pub struct SdmxObservation {
    /// The values of [`DIMENSIONS`], in order.
    pub key: [String; 6],
    pub value: f64,
    /// The values of [`ATTRIBUTES`], in order; empty where there is none.
    pub attributes: [String; 6],
    /// The first and last day of TIME_PERIOD.
    pub period: Period,
}

/// The observations of `rows` of live indicators, in SDMX terms, sorted by key.
pub fn observations(rows: &[Row], indicators: &HashMap<String, Indicator>) -> ServiceResult<Vec<SdmxObservation>> {
    let mut converted = Vec::with_capacity(rows.len());
    for row in rows {
        let resource = observation::from_row(row)?;
        let indicator_code = row.indicator.strip_prefix("indicators/").unwrap_or(&row.indicator);
        let unit = indicators
            .get(indicator_code)
            .map(|indicator| indicator.unit.clone())
            .unwrap_or_default();
        let period = Period::parse(&row.time_period).map_err(|message| {
            sse_platform::ServiceError::Internal(anyhow::anyhow!("stored observation {} has {message}", row.name))
        })?;
        let status = status_code(resource.status());
        let source = resource.source.unwrap_or_default();
        let source_date = source.date.as_ref().map(partial_date).unwrap_or_default();
        let initiative = row.initiative.strip_prefix("initiatives/").unwrap_or(&row.initiative);
        converted.push(SdmxObservation {
            key: [
                indicator_code.to_owned(),
                or_not_applicable(&row.ref_area),
                or_not_applicable(initiative),
                status.to_owned(),
                source_id(&source.title, &source.url, &source.publisher, &source_date),
                time_period(&row.time_period, &period),
            ],
            value: row.value,
            attributes: [
                unit,
                one_line(&source.title),
                source.url,
                one_line(&source.publisher),
                source_date,
                one_line(&resource.note),
            ],
            period,
        });
    }
    converted.sort_by(|first, second| first.key.cmp(&second.key));
    distinguish_repeated_keys(&mut converted);
    Ok(converted)
}

/// A key names one observation in SDMX. Two figures with the same source, place, initiative,
/// status and period (a revised figure recorded beside the first) would share one, so the later
/// ones, in name order, get `-2`, `-3`… after their SOURCE_ID.
fn distinguish_repeated_keys(observations: &mut [SdmxObservation]) {
    let mut index = 0;
    while index < observations.len() {
        let mut end = index + 1;
        while end < observations.len() && observations[end].key == observations[index].key {
            end += 1;
        }
        for (offset, observation) in observations[index + 1..end].iter_mut().enumerate() {
            observation.key[4] = format!("{}-{}", observation.key[4], offset + 2);
        }
        index = end;
    }
}

fn or_not_applicable(value: &str) -> String {
    if value.is_empty() {
        NOT_APPLICABLE.to_owned()
    } else {
        value.to_owned()
    }
}

/// Codes of `SSE:CL_OBS_STATUS`: A, E and P as in SDMX's cross-domain list; T, ours, for targets.
pub fn status_code(status: Status) -> &'static str {
    match status {
        Status::Target => "T",
        Status::Estimate => "E",
        Status::Provisional => "P",
        Status::Reported | Status::Unspecified => "A",
    }
}

pub fn status_name(code: &str) -> &'static str {
    match code {
        "T" => "Target value",
        "E" => "Estimated value",
        "P" => "Provisional value",
        _ => "Normal value (reported)",
    }
}

/// Tells two sources' figures apart in the key: a short digest of the citation.
fn source_id(title: &str, url: &str, publisher: &str, date: &str) -> String {
    let digest = Sha256::digest(format!("{title}\n{url}\n{publisher}\n{date}").as_bytes());
    format!("src-{}", &hex::encode(digest)[..12])
}

fn partial_date(date: &sse_proto::types::PartialDate) -> String {
    match (date.month, date.day) {
        (0, _) => format!("{:04}", date.year),
        (month, 0) => format!("{:04}-{month:02}", date.year),
        (month, day) => format!("{:04}-{month:02}-{day:02}", date.year),
    }
}

/// SDMX readers split on line breaks before parsing: free text stays on one line.
fn one_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// TIME_PERIOD as SDMX writes it. A single period stays as written; an interval such as
/// `2007/2020` is not an SDMX period, so it becomes a start and a duration: `2007-01-01/P14Y`.
fn time_period(written: &str, period: &Period) -> String {
    if !written.contains('/') {
        return written.to_owned();
    }
    let after = period.end + Duration::days(1);
    if period.start.day() == 1 && after.day() == 1 {
        let months = (after.year() - period.start.year()) * 12 + after.month() as i32 - period.start.month() as i32;
        if months % 12 == 0 {
            return format!("{}/P{}Y", period.start, months / 12);
        }
        return format!("{}/P{months}M", period.start);
    }
    format!("{}/P{}D", period.start, (after - period.start).num_days())
}

/// The first and last second of a period, as SDMX-JSON gives them.
fn bounds(period: &Period) -> (String, String) {
    let day = |date: NaiveDate| date.format("%Y-%m-%d").to_string();
    (
        format!("{}T00:00:00Z", day(period.start)),
        format!("{}T23:59:59Z", day(period.end)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdmx_period(text: &str) -> String {
        time_period(text, &Period::parse(text).expect(text))
    }

    #[test]
    fn intervals_become_a_start_and_a_duration() {
        assert_eq!(sdmx_period("2007/2020"), "2007-01-01/P14Y");
        assert_eq!(sdmx_period("2023-04/2023-06"), "2023-04-01/P3M");
        assert_eq!(sdmx_period("2023-Q1/2023-Q2"), "2023-01-01/P6M");
        assert_eq!(sdmx_period("2023-04-15/2023-05-14"), "2023-04-15/P30D");
        assert_eq!(sdmx_period("2023-Q2"), "2023-Q2");
        assert_eq!(sdmx_period("2020"), "2020");
    }

    #[test]
    fn the_source_id_matches_the_published_sample() {
        let id = source_id(
            "UNCCD, The Great Green Wall: Implementation Status and Way Ahead to 2030 (2020)",
            "https://www.unccd.int/publications/great-green-wall-implementation-status-and-way-ahead-2030",
            "UNCCD",
            "2020",
        );
        assert_eq!(id, "src-767c803bc9a2");
    }

    #[test]
    fn repeated_keys_are_told_apart_by_their_source_id() {
        let period = Period::parse("2020").expect("period");
        let observation = |value: f64| SdmxObservation {
            key: ["jobs", "FR", "_Z", "A", "src-1", "2020"].map(str::to_owned),
            value,
            attributes: Default::default(),
            period,
        };
        let mut observations = vec![observation(7.0), observation(5.0), observation(6.0)];
        distinguish_repeated_keys(&mut observations);
        let ids: Vec<&str> = observations
            .iter()
            .map(|observation| observation.key[4].as_str())
            .collect();
        assert_eq!(ids, ["src-1", "src-1-2", "src-1-3"]);
    }

    #[test]
    fn free_text_stays_on_one_line() {
        assert_eq!(one_line("to be\r\nconfirmed\n"), "to be confirmed");
    }
}
