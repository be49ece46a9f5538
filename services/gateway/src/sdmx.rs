//! The SDMX REST data endpoint, `GET /sdmx/data/{flow}/{key}`: the indicators service's export
//! for the dataflow `DF_SSE_OBS`, selected by an SDMX key and a period range.
//!
//! The key is `INDICATOR.REF_AREA.INITIATIVE.OBS_STATUS` (a fifth position, SOURCE_ID, must be
//! empty), each position empty for every value or several values joined by `+`; `all` selects
//! everything. `startPeriod` and `endPeriod` keep the figures whose period overlaps the range.
//! `format=csv|json`, or the `Accept` header, chooses SDMX-CSV (the default) or SDMX-JSON.

use axum::{
    body::Body,
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
};
use chrono::{Months, NaiveDate};
use http::{HeaderMap, HeaderValue, header};
use serde::Deserialize;
use sse_platform::calls::CallContext;
use sse_proto::indicators::{
    ExportFormat, ExportObservationsRequest, indicator_service_client::IndicatorServiceClient,
};
use tokio_stream::StreamExt;
use tonic::Status;

use crate::{backends::Backends, rest::status_response};

/// How long an export may take: whole datasets are larger than one resource.
const EXPORT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataQuery {
    start_period: Option<String>,
    end_period: Option<String>,
    format: Option<String>,
}

const DIMENSIONS: [(&str, &str); 4] = [
    ("INDICATOR", "indicator"),
    ("REF_AREA", "ref_area"),
    ("INITIATIVE", "initiative"),
    ("OBS_STATUS", "status"),
];

pub async fn data_all(
    state: State<Backends>,
    flow: Path<String>,
    query: Query<DataQuery>,
    headers: HeaderMap,
) -> Response {
    data(state, Path((flow.0, "all".to_owned())), query, headers).await
}

pub async fn data(
    State(backends): State<Backends>,
    Path((flow, key)): Path<(String, String)>,
    Query(query): Query<DataQuery>,
    headers: HeaderMap,
) -> Response {
    let request = match export_request(&flow, &key, &query, &headers) {
        Ok(request) => request,
        Err(status) => return status_response(&status),
    };
    let mut client = IndicatorServiceClient::new(backends.indicators.clone())
        .max_decoding_message_size(sse_platform::calls::MAX_MESSAGE_BYTES);
    let outgoing = CallContext::from_headers(&headers).outgoing(request, EXPORT_DEADLINE);
    let mut stream = match client.export_observations(outgoing).await {
        Ok(response) => response.into_inner(),
        Err(status) => return status_response(&status),
    };
    // The first message says what the document is, so it is read before the response starts.
    let first = match stream.next().await {
        Some(Ok(first)) => first,
        Some(Err(status)) => return status_response(&status),
        None => return status_response(&Status::internal("the export was empty")),
    };
    let content_type = HeaderValue::from_str(&first.content_type).unwrap_or(HeaderValue::from_static("text/csv"));
    let rest = stream.map(|message| message.map(|message| bytes::Bytes::from(message.data)));
    let chunks = tokio_stream::once(Ok(bytes::Bytes::from(first.data))).chain(rest);
    ([(header::CONTENT_TYPE, content_type)], Body::from_stream(chunks)).into_response()
}

fn export_request(
    flow: &str,
    key: &str,
    query: &DataQuery,
    headers: &HeaderMap,
) -> Result<ExportObservationsRequest, Status> {
    // SDMX REST names a flow as `DF_SSE_OBS` or `SSE,DF_SSE_OBS,1.0`.
    let known = matches!(
        flow,
        "DF_SSE_OBS" | "SSE,DF_SSE_OBS" | "SSE,DF_SSE_OBS,1.0" | "SSE,DF_SSE_OBS,latest"
    );
    if !known {
        return Err(Status::not_found(format!(
            "no dataflow {flow}; the observatory publishes DF_SSE_OBS"
        )));
    }
    let mut clauses = Vec::new();
    if key != "all" {
        let positions: Vec<&str> = key.split('.').collect();
        if positions.len() > 5 || positions.get(4).is_some_and(|source| !source.is_empty()) {
            return Err(Status::invalid_argument(
                "the key is INDICATOR.REF_AREA.INITIATIVE.OBS_STATUS; SOURCE_ID cannot be selected",
            ));
        }
        for ((dimension, field), position) in DIMENSIONS.iter().zip(&positions) {
            if position.is_empty() {
                continue;
            }
            let alternatives: Vec<String> = position
                .split('+')
                .map(|value| filter_clause(dimension, field, value))
                .collect::<Result<_, _>>()?;
            clauses.push(format!("({})", alternatives.join(" OR ")));
        }
    }
    if let Some(start) = &query.start_period {
        clauses.push(format!(
            "period_end >= {}",
            period_bound(start, "startPeriod", Bound::First)?
        ));
    }
    if let Some(end) = &query.end_period {
        clauses.push(format!(
            "period_start <= {}",
            period_bound(end, "endPeriod", Bound::Last)?
        ));
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let format = match query.format.as_deref() {
        Some("json") => ExportFormat::SdmxJson,
        Some("csv") => ExportFormat::SdmxCsv,
        Some(other) => return Err(Status::invalid_argument(format!("format is csv or json, not {other}"))),
        None if accept.contains("json") => ExportFormat::SdmxJson,
        None => ExportFormat::SdmxCsv,
    };
    Ok(ExportObservationsRequest {
        filter: clauses.join(" AND "),
        format: format.into(),
    })
}

fn filter_clause(dimension: &str, field: &str, value: &str) -> Result<String, Status> {
    let valid = !value.is_empty()
        && value
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "-_".contains(character));
    if !valid {
        return Err(Status::invalid_argument(format!(
            "{} is not a value of {dimension}",
            sse_platform::validate::quoted(value)
        )));
    }
    Ok(match dimension {
        "INDICATOR" => format!("{field} = \"indicators/{value}\""),
        "INITIATIVE" if value == "_Z" => format!("{field} = \"\""),
        "INITIATIVE" => format!("{field} = \"initiatives/{value}\""),
        "REF_AREA" if value == "_Z" => format!("{field} = \"\""),
        "OBS_STATUS" => {
            let status = match value {
                "A" => "REPORTED",
                "E" => "ESTIMATE",
                "P" => "PROVISIONAL",
                "T" => "TARGET",
                _ => {
                    return Err(Status::invalid_argument(format!(
                        "OBS_STATUS is A, E, P or T, not {value}"
                    )));
                }
            };
            format!("{field} = {status}")
        }
        _ => format!("{field} = \"{value}\""),
    })
}

/// Which day of a bound's period counts: `startPeriod=2023` starts on its first day,
/// `endPeriod=2023` ends on its last.
#[derive(Clone, Copy)]
enum Bound {
    First,
    Last,
}

/// An SDMX period bound (`2020`, `2020-06`, `2020-06-30`) as the day it means; quarters and other
/// SDMX periods are refused rather than guessed at.
fn period_bound(text: &str, parameter: &str, bound: Bound) -> Result<String, Status> {
    let invalid = || {
        Status::invalid_argument(format!(
            "{parameter} is a date such as 2020, 2020-06 or 2020-06-30, not {text}"
        ))
    };
    let parts: Vec<&str> = text.split('-').collect();
    let number = |part: &str, len: usize| {
        (part.len() == len && part.bytes().all(|byte| byte.is_ascii_digit()))
            .then(|| part.parse::<u32>().ok())
            .flatten()
            .ok_or_else(invalid)
    };
    let (year, month, day) = match parts.as_slice() {
        [year] => (number(year, 4)?, None, None),
        [year, month] => (number(year, 4)?, Some(number(month, 2)?), None),
        [year, month, day] => (number(year, 4)?, Some(number(month, 2)?), Some(number(day, 2)?)),
        _ => return Err(invalid()),
    };
    let year = i32::try_from(year).map_err(|_| invalid())?;
    let date = match (month, day, bound) {
        (None, _, Bound::First) => NaiveDate::from_ymd_opt(year, 1, 1),
        (None, _, Bound::Last) => NaiveDate::from_ymd_opt(year, 12, 31),
        (Some(month), None, Bound::First) => NaiveDate::from_ymd_opt(year, month, 1),
        (Some(month), None, Bound::Last) => NaiveDate::from_ymd_opt(year, month, 1)
            .and_then(|first| first.checked_add_months(Months::new(1)))
            .and_then(|next| next.pred_opt()),
        (Some(month), Some(day), _) => NaiveDate::from_ymd_opt(year, month, day),
    };
    date.map(|date| date.format("%Y-%m-%d").to_string()).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(key: &str, start: Option<&str>) -> Result<String, Status> {
        let query = DataQuery {
            start_period: start.map(str::to_owned),
            end_period: None,
            format: None,
        };
        export_request("DF_SSE_OBS", key, &query, &HeaderMap::new()).map(|request| request.filter)
    }

    #[test]
    fn keys_become_filters() {
        assert_eq!(filter("all", None).ok().as_deref(), Some(""));
        assert_eq!(
            filter("land-restored..great-green-wall.A+T", Some("2010"))
                .ok()
                .as_deref(),
            Some(
                "(indicator = \"indicators/land-restored\") AND (initiative = \"initiatives/great-green-wall\") \
                 AND (status = REPORTED OR status = TARGET) AND period_end >= 2010-01-01"
            )
        );
        assert!(filter("a.b.c.X", None).is_err());
        assert!(filter("a.b.c.A.src-1", None).is_err());
        assert!(filter("a\"b", None).is_err());
        assert!(filter("all", Some("2020-Q1")).is_err());
        assert!(filter("all", Some("2020-13")).is_err());
    }

    #[test]
    fn a_bound_covers_its_whole_period() {
        assert_eq!(
            period_bound("2023", "p", Bound::Last).ok().as_deref(),
            Some("2023-12-31")
        );
        assert_eq!(
            period_bound("2024-02", "p", Bound::Last).ok().as_deref(),
            Some("2024-02-29")
        );
        assert_eq!(
            period_bound("2024-02", "p", Bound::First).ok().as_deref(),
            Some("2024-02-01")
        );
        assert_eq!(
            period_bound("2024-02-10", "p", Bound::Last).ok().as_deref(),
            Some("2024-02-10")
        );
    }
}
