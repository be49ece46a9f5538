//! The observatory as an SDMX REST 2.1 web service under `/sdmx`, so that SDMX clients (sdmx1,
//! rsdmx, .Stat Data Explorer) use it as a data source:
//!
//! - structure queries, `/sdmx/{dataflow|datastructure|codelist|conceptscheme}/{agency}/{id}/{version}`
//!   (also under the SDMX 3.0 prefix `/sdmx/structure/`) with `references=`, answered as SDMX-ML
//!   2.1 structure messages ([`structure`]);
//! - data queries, `/sdmx/data/{flow}/{key}/{provider}`, answered from the indicators service's
//!   export: SDMX-ML 2.1 StructureSpecificData by default, GenericData, SDMX-CSV 1.0 and 2.0, or
//!   SDMX-JSON 1.0 and 2.0, chosen by the `Accept` header or `format=` ([`data`]);
//! - the same data queries by SDMX 3.0's paths, `/sdmx/data/{context}/{agency}/{id}/{version}/{key}`
//!   with `c[…]` filters, translated into 2.1 terms ([`v3`]); SDMX-JSON 2.0 by default there;
//! - errors as SDMX-ML error messages with the SDMX codes and their HTTP statuses ([`error`]).
//!
//! The key is `INDICATOR.REF_AREA.INITIATIVE.OBS_STATUS.SOURCE_ID`, each position empty for every
//! value or several values joined by `+`; `all` selects everything. `startPeriod` and
//! `endPeriod` keep the figures whose period overlaps the range.

pub mod data;
pub mod error;
pub mod structure;
pub mod v3;
pub mod xml;

use std::collections::{BTreeMap, BTreeSet};

use axum::{
    body::Body,
    extract::{Path, Query, State},
    response::{IntoResponse, Response},
};
use chrono::{Months, NaiveDate};
use http::{HeaderMap, HeaderValue, header};
use serde::Deserialize;
use sse_platform::calls::{CallContext, ServiceChannel};
use sse_proto::{
    indicators::{
        ExportFormat, ExportObservationsRequest, ListIndicatorsRequest,
        indicator_service_client::IndicatorServiceClient,
    },
    initiatives::{ListInitiativesRequest, initiative_service_client::InitiativeServiceClient},
};
use tokio_stream::StreamExt;
use tonic::{Status, Streaming};

use crate::backends::Backends;
use data::{AtObservation, Detail, Record};
use error::SdmxError;
use structure::{Codes, Resource};

/// How long an export may take: whole datasets are larger than one resource.
const EXPORT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);
/// How long listing the catalogue for the codelists may take.
const LIST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataQuery {
    start_period: Option<String>,
    end_period: Option<String>,
    format: Option<String>,
    first_n_observations: Option<String>,
    last_n_observations: Option<String>,
    dimension_at_observation: Option<String>,
    detail: Option<String>,
    updated_after: Option<String>,
    include_history: Option<String>,
}

/// The service's filter fields of the key's positions; SOURCE_ID, a digest of the citation, is
/// selected here, after the export.
const DIMENSIONS: [(&str, &str); 4] = [
    ("INDICATOR", "indicator"),
    ("REF_AREA", "ref_area"),
    ("INITIATIVE", "initiative"),
    ("OBS_STATUS", "status"),
];
const SOURCE_ID_POSITION: usize = 4;

/// The data messages the gateway answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataFormat {
    StructureSpecific,
    Generic,
    /// SDMX-CSV 1.0.0 or 2.0.0.
    Csv(u8),
    /// SDMX-JSON 2.0.0, as the service exports it.
    Json,
    /// SDMX-JSON 1.0.0, the JSON of SDMX 2.1 (which sdmx1 reads).
    Json1,
}

/// The query string's name-value pairs, for SDMX 3.0's `c[…]` filters.
type Pairs = Query<Vec<(String, String)>>;

pub async fn data_all(
    state: State<Backends>,
    Path(flow): Path<String>,
    query: Query<DataQuery>,
    pairs: Pairs,
    headers: HeaderMap,
) -> Response {
    if v3::is_context(&flow) {
        return answer(data_v3_response(state, [&flow, "*", "*", "*", "*"], pairs, query, headers).await);
    }
    answer(
        data_response(
            state,
            flow,
            "all".to_owned(),
            None,
            query,
            headers,
            DataFormat::StructureSpecific,
        )
        .await,
    )
}

pub async fn data(
    state: State<Backends>,
    Path((flow, key)): Path<(String, String)>,
    query: Query<DataQuery>,
    pairs: Pairs,
    headers: HeaderMap,
) -> Response {
    if v3::is_context(&flow) {
        return answer(data_v3_response(state, [&flow, &key, "*", "*", "*"], pairs, query, headers).await);
    }
    answer(data_response(state, flow, key, None, query, headers, DataFormat::StructureSpecific).await)
}

pub async fn data_from(
    state: State<Backends>,
    Path((flow, key, provider)): Path<(String, String, String)>,
    query: Query<DataQuery>,
    pairs: Pairs,
    headers: HeaderMap,
) -> Response {
    if v3::is_context(&flow) {
        return answer(data_v3_response(state, [&flow, &key, &provider, "*", "*"], pairs, query, headers).await);
    }
    answer(
        data_response(
            state,
            flow,
            key,
            Some(provider),
            query,
            headers,
            DataFormat::StructureSpecific,
        )
        .await,
    )
}

/// SDMX 3.0: `/sdmx/data/{context}/{agency}/{id}/{version}`.
pub async fn data_v3(
    state: State<Backends>,
    Path((context, agency, id, version)): Path<(String, String, String, String)>,
    query: Query<DataQuery>,
    pairs: Pairs,
    headers: HeaderMap,
) -> Response {
    answer(data_v3_response(state, [&context, &agency, &id, &version, "*"], pairs, query, headers).await)
}

/// SDMX 3.0: `/sdmx/data/{context}/{agency}/{id}/{version}/{key}`.
pub async fn data_v3_key(
    state: State<Backends>,
    Path((context, agency, id, version, key)): Path<(String, String, String, String, String)>,
    query: Query<DataQuery>,
    pairs: Pairs,
    headers: HeaderMap,
) -> Response {
    answer(data_v3_response(state, [&context, &agency, &id, &version, &key], pairs, query, headers).await)
}

/// A 3.0 data query, answered as its 2.1 translation; SDMX-JSON 2.0 (3.0's default) when the
/// client names no format.
async fn data_v3_response(
    state: State<Backends>,
    [context, agency, id, version, key]: [&str; 5],
    Query(pairs): Pairs,
    Query(mut query): Query<DataQuery>,
    headers: HeaderMap,
) -> Result<Response, SdmxError> {
    if query.start_period.is_some() || query.end_period.is_some() {
        return Err(SdmxError::syntax(
            "SDMX 3.0 queries bound periods with c[TIME_PERIOD]=ge:…+le:…, not startPeriod or endPeriod",
        ));
    }
    let translated = v3::translate(context, agency, id, version, key, &pairs, &mut query)?;
    data_response(
        state,
        translated.flow,
        translated.key,
        None,
        Query(query),
        headers,
        DataFormat::Json,
    )
    .await
}

fn answer(result: Result<Response, SdmxError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn data_response(
    State(backends): State<Backends>,
    flow: String,
    key: String,
    provider: Option<String>,
    Query(query): Query<DataQuery>,
    headers: HeaderMap,
    default_format: DataFormat,
) -> Result<Response, SdmxError> {
    if let Some(provider) = &provider {
        // `SSE`, `SSE,SSE` (agency and provider) or `all`, possibly `+`-joined.
        let ours = provider
            .split('+')
            .any(|one| matches!(one, "all" | "*" | "SSE" | "SSE,SSE" | "SSEOBS"));
        if !ours {
            return Err(SdmxError::no_results(format!(
                "no data provider {provider}; the observatory's provider is SSE"
            )));
        }
    }
    if query.updated_after.is_some() || query.include_history.as_deref() == Some("true") {
        return Err(SdmxError::not_implemented(
            "updatedAfter and includeHistory are not offered: the observatory keeps no history of figures",
        ));
    }
    let format = data_format(query.format.as_deref(), &headers, default_format)?;
    let selection = export_request(&flow, &key, &query).map_err(|status| SdmxError::from_status(&status))?;
    let count = |text: &Option<String>, parameter: &str| -> Result<Option<usize>, SdmxError> {
        text.as_deref()
            .map(|text| {
                text.parse::<usize>()
                    .ok()
                    .filter(|count| *count > 0)
                    .ok_or_else(|| SdmxError::syntax(format!("{parameter} is a positive integer, not {text}")))
            })
            .transpose()
    };
    let first = count(&query.first_n_observations, "firstNObservations")?;
    let last = count(&query.last_n_observations, "lastNObservations")?;
    let detail = Detail::parse(query.detail.as_deref())?;
    let at = AtObservation::parse(query.dimension_at_observation.as_deref())?;
    let shaped = first.is_some() || last.is_some() || detail != Detail::Full || selection.sources.is_some();

    if let (DataFormat::Json | DataFormat::Csv(2), false) = (format, shaped) {
        // The service's own document, streamed as it comes.
        let export = if format == DataFormat::Json {
            ExportFormat::SdmxJson
        } else {
            ExportFormat::SdmxCsv
        };
        return stream_export(&backends, &headers, selection.filter, export).await;
    }
    if format == DataFormat::Json {
        return Err(json_not_shaped());
    }
    let text = collect_export(&backends, &headers, selection.filter).await?;
    let mut records = data::parse_csv(&text)?;
    if let Some(sources) = &selection.sources {
        records.retain(|record| sources.contains(&record.key[SOURCE_ID_POSITION]));
    }
    let records = data::keep_first_and_last(records, first, last);
    if records.is_empty() {
        return Err(SdmxError::no_results(format!("no observations of {flow} match {key}")));
    }
    let (content_type, document) = match format {
        DataFormat::StructureSpecific => (
            data::SPECIFIC_MEDIA_TYPE,
            data::structure_specific(&records, at, detail),
        ),
        DataFormat::Generic => (data::GENERIC_MEDIA_TYPE, data::generic(&records, at, detail)),
        DataFormat::Json1 => (data::JSON1_MEDIA_TYPE, data::json1(&records, at, detail)),
        DataFormat::Csv(version) => {
            if !matches!(detail, Detail::Full | Detail::DataOnly) {
                return Err(SdmxError::not_implemented(
                    "SDMX-CSV has one row per observation: ask for detail=serieskeysonly or nodata in SDMX-ML",
                ));
            }
            let media_type = if version == 1 {
                data::CSV1_MEDIA_TYPE
            } else {
                data::CSV2_MEDIA_TYPE
            };
            (media_type, data::csv(&records, version, detail))
        }
        DataFormat::Json => return Err(json_not_shaped()),
    };
    Ok(([(header::CONTENT_TYPE, content_type)], document).into_response())
}

fn json_not_shaped() -> SdmxError {
    SdmxError::not_implemented(
        "SDMX-JSON is offered without detail, firstNObservations, lastNObservations or a SOURCE_ID in the \
         key; ask for SDMX-ML or SDMX-CSV",
    )
}

/// The format `format=` names or else the first media range of `Accept` that the gateway
/// writes; SDMX-ML StructureSpecificData when neither says.
/// The format asked for by `format=` or `Accept`; `default` when neither names one.
fn data_format(format: Option<&str>, headers: &HeaderMap, default: DataFormat) -> Result<DataFormat, SdmxError> {
    if let Some(format) = format {
        return match format {
            "structurespecificdata" => Ok(DataFormat::StructureSpecific),
            "genericdata" => Ok(DataFormat::Generic),
            "csv" | "sdmx-csv" => Ok(DataFormat::Csv(2)),
            "csvfile" | "sdmx-csv-1.0" => Ok(DataFormat::Csv(1)),
            "json" | "sdmx-json" => Ok(DataFormat::Json),
            "jsondata" | "sdmx-json-1.0" => Ok(DataFormat::Json1),
            other => Err(SdmxError::syntax(format!(
                "format is structurespecificdata, genericdata, csv, csvfile, json or jsondata, not {other}"
            ))),
        };
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .trim();
    if accept.is_empty() || accept == "*/*" {
        return Ok(default);
    }
    // The ranges by preference (`q`, 1 when absent; ties keep their order), refused ones dropped.
    let mut ranges: Vec<(f32, DataFormat)> = Vec::new();
    for range in accept.split(',') {
        let range = range.trim().to_ascii_lowercase();
        let mut parts = range.split(';').map(str::trim);
        let base = parts.next().unwrap_or_default();
        let mut version_1 = false;
        let mut quality = 1.0_f32;
        for parameter in parts {
            if parameter.starts_with("version=1") {
                version_1 = true;
            } else if let Some(q) = parameter.strip_prefix("q=") {
                quality = q.parse().unwrap_or(0.0);
            }
        }
        let chosen = match base {
            "application/vnd.sdmx.structurespecificdata+xml" => Some(DataFormat::StructureSpecific),
            "application/vnd.sdmx.genericdata+xml" => Some(DataFormat::Generic),
            "application/vnd.sdmx.data+csv" if version_1 => Some(DataFormat::Csv(1)),
            "application/vnd.sdmx.data+csv" | "text/csv" => Some(DataFormat::Csv(2)),
            "application/vnd.sdmx.data+json" if version_1 => Some(DataFormat::Json1),
            "application/vnd.sdmx.data+json" | "application/json" => Some(DataFormat::Json),
            "application/xml" | "text/xml" | "application/*" | "*/*" => Some(DataFormat::StructureSpecific),
            _ => None,
        };
        if let Some(chosen) = chosen.filter(|_| quality > 0.0) {
            ranges.push((quality, chosen));
        }
    }
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    if let Some((_, chosen)) = ranges.first() {
        return Ok(*chosen);
    }
    Err(SdmxError {
        code: 406,
        message: format!(
            "none of {accept} is written here: SDMX-ML 2.1 structure-specific or generic data, SDMX-CSV 1.0 or \
             2.0, SDMX-JSON 1.0 or 2.0"
        ),
    })
}

fn indicators_client(backends: &Backends) -> IndicatorServiceClient<ServiceChannel> {
    IndicatorServiceClient::new(backends.indicators.clone())
        .max_decoding_message_size(sse_platform::calls::MAX_MESSAGE_BYTES)
}

async fn open_export(
    backends: &Backends,
    headers: &HeaderMap,
    filter: String,
    format: ExportFormat,
) -> Result<Streaming<sse_proto::google::api::HttpBody>, SdmxError> {
    let request = ExportObservationsRequest {
        filter,
        format: format.into(),
    };
    let outgoing = CallContext::from_headers(headers).outgoing(request, EXPORT_DEADLINE);
    indicators_client(backends)
        .export_observations(outgoing)
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| SdmxError::from_status(&status))
}

/// The service's export as it is, streamed.
async fn stream_export(
    backends: &Backends,
    headers: &HeaderMap,
    filter: String,
    format: ExportFormat,
) -> Result<Response, SdmxError> {
    let mut stream = open_export(backends, headers, filter, format).await?;
    // The first message says what the document is, so it is read before the response starts.
    let first = match stream.next().await {
        Some(Ok(first)) => first,
        Some(Err(status)) => return Err(SdmxError::from_status(&status)),
        None => return Err(SdmxError::from_status(&Status::internal("the export was empty"))),
    };
    let content_type = HeaderValue::from_str(&first.content_type).unwrap_or(HeaderValue::from_static("text/csv"));
    let rest = stream.map(|message| message.map(|message| bytes::Bytes::from(message.data)));
    let chunks = tokio_stream::once(Ok(bytes::Bytes::from(first.data))).chain(rest);
    Ok(([(header::CONTENT_TYPE, content_type)], Body::from_stream(chunks)).into_response())
}

/// The service's SDMX-CSV export, whole: SDMX-ML groups observations into series, which needs
/// them all.
async fn collect_export(backends: &Backends, headers: &HeaderMap, filter: String) -> Result<String, SdmxError> {
    let mut stream = open_export(backends, headers, filter, ExportFormat::SdmxCsv).await?;
    let mut bytes = Vec::new();
    while let Some(message) = stream.next().await {
        let message = message.map_err(|status| SdmxError::from_status(&status))?;
        bytes.extend_from_slice(&message.data);
    }
    String::from_utf8(bytes).map_err(|_| SdmxError::from_status(&Status::internal("the export is not UTF-8")))
}

/// What a data query selects: the service's filter, and the SOURCE_IDs kept after the export
/// (`None`: all).
#[derive(Debug, PartialEq)]
struct Selection {
    filter: String,
    sources: Option<BTreeSet<String>>,
}

fn export_request(flow: &str, key: &str, query: &DataQuery) -> Result<Selection, Status> {
    // SDMX REST names a flow as `DF_SSE_OBS` or `SSE,DF_SSE_OBS,1.0`.
    let known = matches!(
        flow,
        "DF_SSE_OBS" | "SSE,DF_SSE_OBS" | "SSE,DF_SSE_OBS,1.0" | "SSE,DF_SSE_OBS,latest" | "all,DF_SSE_OBS,latest"
    );
    if !known {
        return Err(Status::not_found(format!(
            "no dataflow {flow}; the observatory publishes DF_SSE_OBS"
        )));
    }
    let mut clauses = Vec::new();
    let mut sources = None;
    if key != "all" {
        let positions: Vec<&str> = key.split('.').collect();
        if positions.len() > 5 {
            return Err(Status::invalid_argument(
                "the key is INDICATOR.REF_AREA.INITIATIVE.OBS_STATUS.SOURCE_ID",
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
        if let Some(position) = positions
            .get(SOURCE_ID_POSITION)
            .filter(|position| !position.is_empty())
        {
            let wanted = position
                .split('+')
                .map(|value| {
                    if is_code(value) {
                        Ok(value.to_owned())
                    } else {
                        Err(Status::invalid_argument(format!(
                            "{} is not a value of SOURCE_ID",
                            sse_platform::validate::quoted(value)
                        )))
                    }
                })
                .collect::<Result<BTreeSet<String>, Status>>()?;
            sources = Some(wanted);
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
    Ok(Selection {
        filter: clauses.join(" AND "),
        sources,
    })
}

/// Whether `value` can be a code: letters, digits, `-` and `_`.
fn is_code(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "-_".contains(character))
}

#[derive(Debug, Default, Deserialize)]
pub struct StructureQuery {
    references: Option<String>,
    detail: Option<String>,
}

/// `/sdmx/{resource}[/{agency}[/{id}[/{version}]]]`, and the same under `/sdmx/structure/` (SDMX
/// REST 3.0).
pub async fn structure(
    State(backends): State<Backends>,
    Path(path): Path<String>,
    Query(query): Query<StructureQuery>,
    headers: HeaderMap,
) -> Response {
    answer(structure_response(&backends, &path, &query, &headers).await)
}

async fn structure_response(
    backends: &Backends,
    path: &str,
    query: &StructureQuery,
    headers: &HeaderMap,
) -> Result<Response, SdmxError> {
    let mut segments: Vec<&str> = path.split('/').filter(|segment| !segment.is_empty()).collect();
    if segments.first() == Some(&"structure") {
        segments.remove(0);
    }
    let Some((resource, rest)) = segments.split_first() else {
        return Err(SdmxError::syntax(
            "an SDMX query names a resource: /sdmx/dataflow, /sdmx/datastructure, /sdmx/codelist, /sdmx/conceptscheme or /sdmx/data",
        ));
    };
    if rest.len() > 3 {
        return Err(SdmxError::syntax(format!(
            "a structure query is /sdmx/{resource}/{{agency}}/{{id}}/{{version}}"
        )));
    }
    let Some(resource) = Resource::parse(resource) else {
        if structure::KNOWN_RESOURCES.contains(resource) {
            return Err(SdmxError::no_results(format!("the observatory has no {resource}")));
        }
        return Err(SdmxError::syntax(format!(
            "{} is not an SDMX resource",
            sse_platform::validate::quoted(resource)
        )));
    };
    if let Some(detail) = query.detail.as_deref()
        && !matches!(
            detail,
            "full" | "allstubs" | "referencestubs" | "allcompletestubs" | "referencecompletestubs" | "referencepartial"
        )
    {
        return Err(SdmxError::syntax(format!(
            "{} is not a structure detail",
            sse_platform::validate::quoted(detail)
        )));
    }
    let part = |index: usize, default: &'static str| rest.get(index).copied().unwrap_or(default);
    let artefacts = structure::select(
        resource,
        part(0, "all"),
        part(1, "all"),
        part(2, "latest"),
        query.references.as_deref(),
    )?;
    let codes = if structure::needs_codes(&artefacts) {
        codes(backends, headers).await?
    } else {
        Codes::default()
    };
    Ok((
        [(header::CONTENT_TYPE, structure::STRUCTURE_MEDIA_TYPE)],
        structure::message(&artefacts, &codes),
    )
        .into_response())
}

/// The codes in use: every indicator and initiative of the catalogue, and every code the figures
/// use (areas, and any indicator or initiative deleted since).
async fn codes(backends: &Backends, headers: &HeaderMap) -> Result<Codes, SdmxError> {
    let failed = |status: Status| SdmxError::from_status(&status);
    let context = CallContext::from_headers(headers);
    let mut indicators = BTreeMap::new();
    let mut page_token = String::new();
    loop {
        let request = ListIndicatorsRequest {
            page_size: 1000,
            page_token,
            ..Default::default()
        };
        let page = indicators_client(backends)
            .list_indicators(context.outgoing(request, LIST_DEADLINE))
            .await
            .map_err(failed)?
            .into_inner();
        for indicator in page.indicators {
            let code = indicator
                .name
                .strip_prefix("indicators/")
                .unwrap_or(&indicator.name)
                .to_owned();
            indicators.insert(code, indicator.display_name);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let mut initiatives = BTreeMap::from([("_Z".to_owned(), "Not applicable".to_owned())]);
    let mut client = InitiativeServiceClient::new(backends.initiatives.clone())
        .max_decoding_message_size(sse_platform::calls::MAX_MESSAGE_BYTES);
    let mut page_token = String::new();
    loop {
        let request = ListInitiativesRequest {
            page_size: 1000,
            page_token,
            ..Default::default()
        };
        let page = client
            .list_initiatives(context.outgoing(request, LIST_DEADLINE))
            .await
            .map_err(failed)?
            .into_inner();
        for initiative in page.initiatives {
            let code = initiative
                .name
                .strip_prefix("initiatives/")
                .unwrap_or(&initiative.name)
                .to_owned();
            initiatives.insert(code, initiative.display_name);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let used: Vec<Record> = data::parse_csv(&collect_export(backends, headers, String::new()).await?)?;
    let mut ref_areas = BTreeMap::from([("_Z".to_owned(), "Not applicable".to_owned())]);
    for record in &used {
        indicators.entry(record.key[0].clone()).or_default();
        initiatives.entry(record.key[2].clone()).or_default();
        let area = &record.key[1];
        if !ref_areas.contains_key(area) {
            ref_areas.insert(area.clone(), area_name(area));
        }
    }
    Ok(Codes {
        indicators: indicators.into_iter().collect(),
        ref_areas: ref_areas.into_iter().collect(),
        initiatives: initiatives.into_iter().collect(),
    })
}

fn area_name(code: &str) -> String {
    match code {
        "WORLD" => "World".to_owned(),
        code => sse_reference::place_name(code).unwrap_or(code).to_owned(),
    }
}

fn filter_clause(dimension: &str, field: &str, value: &str) -> Result<String, Status> {
    if !is_code(value) {
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
            ..Default::default()
        };
        export_request("DF_SSE_OBS", key, &query).map(|selection| selection.filter)
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
        assert!(filter("a.b.c.A.src-1.x", None).is_err());
        assert!(filter("a.b.c.A.src\"1", None).is_err());
        let sources = export_request("DF_SSE_OBS", "a....src-1+src-2", &DataQuery::default())
            .ok()
            .and_then(|selection| selection.sources);
        assert_eq!(sources.map(|set| set.len()), Some(2));
        assert!(filter("a\"b", None).is_err());
        assert!(filter("all", Some("2020-Q1")).is_err());
        assert!(filter("all", Some("2020-13")).is_err());
    }

    #[test]
    fn the_format_is_chosen_by_format_or_accept() {
        let accept = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_static(value));
            data_format(None, &headers, DataFormat::StructureSpecific).map_err(|error| error.code)
        };
        assert_eq!(
            data_format(None, &HeaderMap::new(), DataFormat::StructureSpecific).ok(),
            Some(DataFormat::StructureSpecific)
        );
        assert_eq!(accept("*/*"), Ok(DataFormat::StructureSpecific));
        assert_eq!(
            accept("application/vnd.sdmx.genericdata+xml;version=2.1"),
            Ok(DataFormat::Generic)
        );
        assert_eq!(
            accept("application/vnd.sdmx.data+csv;version=1.0.0"),
            Ok(DataFormat::Csv(1))
        );
        assert_eq!(accept("text/csv"), Ok(DataFormat::Csv(2)));
        assert_eq!(
            accept("application/vnd.sdmx.data+json;version=1.0.0"),
            Ok(DataFormat::Json1)
        );
        assert_eq!(
            accept("image/png, application/vnd.sdmx.data+json"),
            Ok(DataFormat::Json)
        );
        assert_eq!(accept("image/png"), Err(406));
        assert_eq!(
            accept("application/json;q=0.5, application/xml"),
            Ok(DataFormat::StructureSpecific)
        );
        assert_eq!(accept("text/csv;q=0, */*;q=0.1"), Ok(DataFormat::StructureSpecific));
        assert_eq!(
            data_format(Some("csv"), &HeaderMap::new(), DataFormat::StructureSpecific).ok(),
            Some(DataFormat::Csv(2))
        );
        assert_eq!(
            data_format(Some("xlsx"), &HeaderMap::new(), DataFormat::StructureSpecific).map_err(|e| e.code),
            Err(140)
        );
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
