//! SDMX 3.0 data queries (SDMX REST 2.x): `/sdmx/data/{context}/{agency}/{id}/{version}/{key}`
//! with `c[COMPONENT]=…` filters, translated into the SDMX 2.1 query this module already answers
//! (flow, key, `startPeriod`, `endPeriod`), so that both paths select the same figures by the
//! same code.
//!
//! What 3.0 says differently, and how it maps:
//! - the flow is named by path segments: `context` `dataflow` (or `datastructure`, the flow's
//!   DSD, or `*`), `agency` `SSE` (or `*`, `all`, sdmx1's `SSEOBS`), `id` `DF_SSE_OBS` (or the
//!   DSD's id, or `*`), `version` `1.0`, `1.0.0`, `+`, `~`, `*` or `latest`;
//! - in the key, `*` is a wildcard position, missing trailing positions are wildcards, and
//!   several keys are joined by `,`: keys that differ in one position at most are read as one
//!   key with several values there (`A.X` and `A.Y` as `A.X+Y`);
//! - `c[DIMENSION]=A,B` selects values of a dimension (`,` is OR; `eq:` may prefix a value),
//!   on top of the key; `c[TIME_PERIOD]=ge:2010+le:2020` bounds the periods (`ge:` is
//!   `startPeriod`, `le:` is `endPeriod`, `eq:` both), with the 2.1 rule that a figure whose
//!   period overlaps the range is kept.
//!
//! Other operators (`ne`, `lt`, `gt`, `co`, …), filters on attributes or the measure, and OR
//! between period ranges are refused as not offered (501), never ignored.

use super::{DataQuery, error::SdmxError};

/// The key's dimensions, in order (SOURCE_ID last), as `c[…]` names them.
const DIMENSIONS: [&str; 5] = ["INDICATOR", "REF_AREA", "INITIATIVE", "OBS_STATUS", "SOURCE_ID"];

/// Whether the first segment after `/sdmx/data/` is a 3.0 context rather than a 2.1 flow.
pub fn is_context(segment: &str) -> bool {
    matches!(segment, "dataflow" | "datastructure" | "provisionagreement" | "*")
}

/// A 3.0 data query in 2.1 terms.
#[derive(Debug, PartialEq, Eq)]
pub struct Translated {
    /// The flow as 2.1 names it.
    pub flow: String,
    /// The 2.1 key: positions `.`-joined, values `+`-joined, empty for all.
    pub key: String,
}

/// Translates the path segments and the `c[…]` filters of `pairs` (the query string's
/// name-value pairs), setting `query`'s periods from `c[TIME_PERIOD]`.
pub fn translate(
    context: &str,
    agency: &str,
    id: &str,
    version: &str,
    key: &str,
    pairs: &[(String, String)],
    query: &mut DataQuery,
) -> Result<Translated, SdmxError> {
    check_flow(context, agency, id, version)?;
    let mut positions = key_positions(key)?;
    for (name, value) in pairs {
        let Some(component) = name.strip_prefix("c[").and_then(|rest| rest.strip_suffix(']')) else {
            continue;
        };
        if component == "TIME_PERIOD" {
            period_filter(value, query)?;
            continue;
        }
        let Some(index) = DIMENSIONS.iter().position(|dimension| *dimension == component) else {
            return Err(SdmxError::not_implemented(format!(
                "c[{component}] is not offered: filters are on the dimensions {} and TIME_PERIOD",
                DIMENSIONS.join(", ")
            )));
        };
        let wanted = values_of(component, value)?;
        positions[index] = match positions[index].take() {
            None => Some(wanted),
            // Both the key and the filter name values: the figures must satisfy both.
            Some(in_key) => Some(in_key.into_iter().filter(|value| wanted.contains(value)).collect()),
        };
        if positions[index].as_ref().is_some_and(Vec::is_empty) {
            return Err(SdmxError::no_results(format!(
                "no value of {component} is both in the key and in c[{component}]"
            )));
        }
    }
    let key = positions
        .iter()
        .map(|values| values.as_ref().map(|values| values.join("+")).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(".");
    Ok(Translated {
        flow: "SSE,DF_SSE_OBS,1.0".to_owned(),
        key: if key.chars().all(|character| character == '.') {
            "all".to_owned()
        } else {
            key
        },
    })
}

/// Whether the path names the observatory's flow (or every flow, which is the same one).
fn check_flow(context: &str, agency: &str, id: &str, version: &str) -> Result<(), SdmxError> {
    let known_id = match context {
        "dataflow" => matches!(id, "DF_SSE_OBS" | "*"),
        "datastructure" => matches!(id, "DSD_SSE_OBS" | "*"),
        "*" => matches!(id, "DF_SSE_OBS" | "DSD_SSE_OBS" | "*"),
        "provisionagreement" => false,
        other => {
            return Err(SdmxError::syntax(format!(
                "the context is dataflow, datastructure, provisionagreement or *, not {other}"
            )));
        }
    };
    let known_agency = agency
        .split(',')
        .any(|one| matches!(one, "SSE" | "SSEOBS" | "all" | "*"));
    let known_version = version
        .split(',')
        .any(|one| matches!(one, "1.0" | "1.0.0" | "+" | "~" | "*" | "latest"));
    if known_id && known_agency && known_version {
        Ok(())
    } else {
        Err(SdmxError::no_results(format!(
            "no data for {context}/{agency}/{id}/{version}; the observatory publishes dataflow/SSE/DF_SSE_OBS/1.0"
        )))
    }
}

/// The positions of a 3.0 key (`None`: any value), several keys merged when they differ in one
/// position at most.
fn key_positions(key: &str) -> Result<Vec<Option<Vec<String>>>, SdmxError> {
    let mut merged: Option<Vec<Option<Vec<String>>>> = None;
    for one in key.split(',') {
        let parts: Vec<&str> = if one.is_empty() || one == "*" {
            Vec::new()
        } else {
            one.split('.').collect()
        };
        if parts.len() > DIMENSIONS.len() {
            return Err(SdmxError::syntax(format!(
                "the key has {} positions: {}",
                DIMENSIONS.len(),
                DIMENSIONS.join(".")
            )));
        }
        let mut positions: Vec<Option<Vec<String>>> = vec![None; DIMENSIONS.len()];
        for (index, part) in parts.iter().enumerate() {
            match *part {
                "" | "*" => {}
                value if value.contains('+') => {
                    return Err(SdmxError::syntax(format!(
                        "{} is not a value: in SDMX 3.0 keys, several keys are joined by `,`",
                        sse_platform::validate::quoted(value)
                    )));
                }
                value => positions[index] = Some(vec![value.to_owned()]),
            }
        }
        merged = Some(match merged {
            None => positions,
            Some(previous) => merge(previous, positions)?,
        });
    }
    Ok(merged.unwrap_or_else(|| vec![None; DIMENSIONS.len()]))
}

/// Two keys as one, when they differ in one position at most.
fn merge(
    mut first: Vec<Option<Vec<String>>>,
    second: Vec<Option<Vec<String>>>,
) -> Result<Vec<Option<Vec<String>>>, SdmxError> {
    let differing: Vec<usize> = (0..first.len())
        .filter(|index| first[*index] != second[*index])
        .collect();
    match differing.as_slice() {
        [] => Ok(first),
        [index] => {
            first[*index] = match (first[*index].take(), &second[*index]) {
                // A wildcard on either side selects every value.
                (None, _) | (_, None) => None,
                (Some(mut values), Some(more)) => {
                    for value in more {
                        if !values.contains(value) {
                            values.push(value.clone());
                        }
                    }
                    Some(values)
                }
            };
            Ok(first)
        }
        _ => Err(SdmxError::not_implemented(
            "several keys that differ in more than one dimension are not offered: send one query per key, or name \
             the values with c[…]",
        )),
    }
}

/// The values `c[component]=…` selects: `,`-separated, each optionally `eq:`.
fn values_of(component: &str, value: &str) -> Result<Vec<String>, SdmxError> {
    value
        .split(',')
        .map(|one| {
            let one = one.strip_prefix("eq:").unwrap_or(one);
            if one.contains('+') || one.contains(':') || one.is_empty() {
                Err(SdmxError::not_implemented(format!(
                    "c[{component}]={} is not offered: a dimension filter is values joined by `,`, each optionally eq:",
                    sse_platform::validate::quoted(value)
                )))
            } else {
                Ok(one.to_owned())
            }
        })
        .collect()
}

/// `c[TIME_PERIOD]=ge:…+le:…` (or `eq:…`) as `startPeriod` and `endPeriod`.
fn period_filter(value: &str, query: &mut DataQuery) -> Result<(), SdmxError> {
    if value.contains(',') {
        return Err(SdmxError::not_implemented(
            "c[TIME_PERIOD] with several ranges (`,`) is not offered: send one query per range",
        ));
    }
    for term in value.split('+') {
        let (operator, period) = term.split_once(':').unwrap_or(("eq", term));
        let period = period.to_owned();
        match operator {
            "ge" => query.start_period = Some(period),
            "le" => query.end_period = Some(period),
            "eq" => {
                query.start_period = Some(period.clone());
                query.end_period = Some(period);
            }
            other => {
                return Err(SdmxError::not_implemented(format!(
                    "c[TIME_PERIOD] takes ge:, le: and eq:, not {other}:"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(key: &str, pairs: &[(&str, &str)]) -> Result<(String, DataQuery), SdmxError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        let mut query = DataQuery::default();
        let translated = translate("dataflow", "SSE", "DF_SSE_OBS", "1.0", key, &pairs, &mut query)?;
        Ok((translated.key, query))
    }

    #[test]
    fn wildcards_missing_positions_and_several_keys_become_a_21_key() {
        assert_eq!(key_of("*", &[]).map(|(key, _)| key), Ok("all".to_owned()));
        assert_eq!(key_of("", &[]).map(|(key, _)| key), Ok("all".to_owned()));
        assert_eq!(
            key_of("workers.*.tzcld", &[]).map(|(key, _)| key),
            Ok("workers..tzcld..".to_owned())
        );
        assert_eq!(
            key_of("workers.FR,workers.SN", &[]).map(|(key, _)| key),
            Ok("workers.FR+SN...".to_owned())
        );
        assert_eq!(
            key_of("workers.FR,workers", &[]).map(|(key, _)| key),
            Ok("workers....".to_owned())
        );
        assert_eq!(
            key_of("workers.FR,jobs.SN", &[]).err().map(|error| error.code),
            Some(501)
        );
        assert_eq!(key_of("workers.FR+SN", &[]).err().map(|error| error.code), Some(140));
        assert_eq!(key_of("a.b.c.d.e.f", &[]).err().map(|error| error.code), Some(140));
    }

    #[test]
    fn component_filters_narrow_the_key_and_bound_the_periods() {
        let (key, query) = key_of(
            "workers",
            &[
                ("c[REF_AREA]", "FR,eq:SN"),
                ("c[TIME_PERIOD]", "ge:2010+le:2020-06"),
                ("attributes", "dsd"),
            ],
        )
        .expect("a valid query");
        assert_eq!(key, "workers.FR+SN...");
        assert_eq!(query.start_period.as_deref(), Some("2010"));
        assert_eq!(query.end_period.as_deref(), Some("2020-06"));
        assert_eq!(
            key_of("workers", &[("c[INDICATOR]", "workers,jobs")]).map(|(key, _)| key),
            Ok("workers....".to_owned())
        );
        assert_eq!(
            key_of("workers", &[("c[INDICATOR]", "jobs")])
                .err()
                .map(|error| error.code),
            Some(100)
        );
        for refused in [
            ("c[REF_AREA]", "ne:FR"),
            ("c[OBS_VALUE]", "ge:10"),
            ("c[TIME_PERIOD]", "gt:2010"),
            ("c[TIME_PERIOD]", "ge:2010,ge:2015"),
        ] {
            assert_eq!(
                key_of("", &[refused]).err().map(|error| error.code),
                Some(501),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn the_flow_is_named_by_context_agency_id_and_version() {
        let mut query = DataQuery::default();
        for (context, agency, id, version) in [
            ("dataflow", "SSE", "DF_SSE_OBS", "1.0"),
            ("dataflow", "*", "*", "+"),
            ("datastructure", "SSE", "DSD_SSE_OBS", "~"),
            ("*", "all", "DF_SSE_OBS", "1.0.0"),
        ] {
            assert!(translate(context, agency, id, version, "*", &[], &mut query).is_ok());
        }
        let code = |context, id| {
            translate(context, "SSE", id, "1.0", "*", &[], &mut DataQuery::default()).map_err(|error| error.code)
        };
        assert_eq!(code("dataflow", "OTHER"), Err(100));
        assert_eq!(code("provisionagreement", "DF_SSE_OBS"), Err(100));
        assert_eq!(code("flows", "DF_SSE_OBS"), Err(140));
    }
}
