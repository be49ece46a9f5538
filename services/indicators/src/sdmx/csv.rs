//! SDMX-CSV 2.0: one header, one row per observation, fields quoted only when they must be;
//! written piece by piece, so an export streams.

use super::{ATTRIBUTES, DATAFLOW, DIMENSIONS, SdmxObservation};

/// The header line.
pub fn header() -> String {
    let header: Vec<&str> = ["STRUCTURE", "STRUCTURE_ID", "ACTION"]
        .into_iter()
        .chain(DIMENSIONS)
        .chain(["OBS_VALUE"])
        .chain(ATTRIBUTES)
        .collect();
    let mut out = header.join(",");
    out.push('\n');
    out
}

/// Appends one line per observation to `out`.
pub fn write_lines(out: &mut String, observations: &[SdmxObservation]) {
    for observation in observations {
        let mut fields = vec!["dataflow".to_owned(), DATAFLOW.to_owned(), "I".to_owned()];
        fields.extend(observation.key.iter().cloned());
        fields.push(format!("{}", observation.value));
        fields.extend(observation.attributes.iter().cloned());
        let line: Vec<String> = fields.iter().map(|field| quoted(field)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
}

/// One row of an SDMX-CSV file with the columns [`header`] writes (in any order; `STRUCTURE`,
/// `STRUCTURE_ID`, `ACTION`, `UNIT_MEASURE` and `SOURCE_ID` are read past, being the dataflow's
/// or derived from the rest): the indicator's code and the observation. Every bad cell is
/// reported by its column.
pub fn read_row(
    headers: &[String],
    cells: &csv::StringRecord,
) -> Result<(String, sse_proto::indicators::Observation), Vec<sse_platform::transfer::FieldError>> {
    use sse_platform::{transfer::FieldError, validate::quoted};
    use sse_proto::{
        indicators::{Observation, observation::Status},
        types::{PartialDate, SourceCitation},
    };
    let mut errors = Vec::new();
    if cells.len() != headers.len() {
        return Err(vec![FieldError::new(
            "-",
            format!("has {} cells where the header has {}", cells.len(), headers.len()),
        )]);
    }
    let mut indicator = String::new();
    let mut observation = Observation::default();
    let mut source = SourceCitation::default();
    let mut has_value = false;
    for (header, cell) in headers.iter().zip(cells.iter()) {
        let header = header.trim();
        let applicable = if cell == "_Z" { "" } else { cell };
        match header {
            "STRUCTURE" | "STRUCTURE_ID" | "UNIT_MEASURE" | "SOURCE_ID" => {}
            "ACTION" if matches!(cell, "" | "I" | "A" | "R") => {}
            "ACTION" => errors.push(FieldError::new(header, format!("{} is not an addition (I, A or R)", quoted(cell)))),
            "INDICATOR" => indicator = cell.to_owned(),
            "REF_AREA" => observation.ref_area = applicable.to_owned(),
            "INITIATIVE" if applicable.is_empty() => {}
            "INITIATIVE" => observation.initiative = format!("initiatives/{applicable}"),
            "OBS_STATUS" => match cell {
                "A" | "" => observation.set_status(Status::Reported),
                "T" => observation.set_status(Status::Target),
                "E" => observation.set_status(Status::Estimate),
                "P" => observation.set_status(Status::Provisional),
                other => errors.push(FieldError::new(header, format!("{} is not A, T, E or P", quoted(other)))),
            },
            "TIME_PERIOD" => match time_period(cell) {
                Some(period) => observation.time_period = period,
                None => errors.push(FieldError::new(header, format!("{} is not an SDMX period", quoted(cell)))),
            },
            "OBS_VALUE" => match cell.trim().parse::<f64>() {
                Ok(value) => {
                    observation.value = value;
                    has_value = true;
                }
                Err(_) => errors.push(FieldError::new(header, format!("{} is not a number", quoted(cell)))),
            },
            "SOURCE_TITLE" => source.title = cell.to_owned(),
            "SOURCE_URL" => source.url = cell.to_owned(),
            "SOURCE_PUBLISHER" => source.publisher = cell.to_owned(),
            "SOURCE_DATE" if cell.is_empty() => {}
            "SOURCE_DATE" => {
                let parts: Vec<Option<i32>> = cell.split('-').map(|part| part.parse().ok()).collect();
                match parts.as_slice() {
                    [Some(year)] => source.date = Some(PartialDate { year: *year, month: 0, day: 0 }),
                    [Some(year), Some(month)] => source.date = Some(PartialDate { year: *year, month: *month, day: 0 }),
                    [Some(year), Some(month), Some(day)] => {
                        source.date = Some(PartialDate { year: *year, month: *month, day: *day })
                    }
                    _ => errors.push(FieldError::new(header, format!("{} is not a date", quoted(cell)))),
                }
            }
            "COMMENT" => observation.note = cell.to_owned(),
            other => errors.push(FieldError::new(
                other,
                "is not a column of SSE:DF_SSE_OBS (INDICATOR, REF_AREA, INITIATIVE, OBS_STATUS, TIME_PERIOD, OBS_VALUE, SOURCE_*, COMMENT)",
            )),
        }
    }
    if indicator.is_empty() {
        errors.push(FieldError::new("INDICATOR", "is required"));
    }
    if !has_value && !errors.iter().any(|error| error.field == "OBS_VALUE") {
        errors.push(FieldError::new("OBS_VALUE", "is required"));
    }
    if source != SourceCitation::default() {
        observation.source = Some(source);
    }
    if errors.is_empty() {
        Ok((indicator, observation))
    } else {
        Err(errors)
    }
}

/// A TIME_PERIOD as the observatory writes periods: an SDMX start and duration
/// (`2007-01-01/P14Y`) becomes the interval it was (`2007/2020`); any other period is kept.
fn time_period(text: &str) -> Option<String> {
    let Some((start, duration)) = text.split_once("/P") else {
        return (!text.is_empty()).then(|| text.to_owned());
    };
    let start = chrono::NaiveDate::parse_from_str(start, "%Y-%m-%d").ok()?;
    let (count, unit) = duration.split_at(duration.len().checked_sub(1)?);
    let count: u32 = count.parse().ok().filter(|count| *count > 0)?;
    use chrono::Datelike;
    Some(match unit {
        "Y" if start.month() == 1 && start.day() == 1 => {
            format!("{}/{}", start.year(), start.year() + count as i32 - 1)
        }
        "M" if start.day() == 1 => {
            let last = start.checked_add_months(chrono::Months::new(count - 1))?;
            format!("{}/{}", start.format("%Y-%m"), last.format("%Y-%m"))
        }
        "D" => {
            let last = start.checked_add_days(chrono::Days::new(u64::from(count) - 1))?;
            format!("{start}/{last}")
        }
        _ => return None,
    })
}

/// RFC 4180, quoting only when needed.
fn quoted(field: &str) -> String {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        assert_eq!(quoted("UNCCD"), "UNCCD");
        assert_eq!(quoted("UNCCD, 2020"), "\"UNCCD, 2020\"");
        assert_eq!(quoted("the \"Panorama\""), "\"the \"\"Panorama\"\"\"");
    }
}
