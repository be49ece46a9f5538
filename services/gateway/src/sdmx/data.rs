//! Observations as SDMX REST data messages other than the service's own exports: SDMX-ML 2.1
//! StructureSpecificData and GenericData, SDMX-JSON 1.0, SDMX-CSV 1.0, and SDMX-CSV 2.0 after `detail` or
//! `firstNObservations`/`lastNObservations` have shaped it.
//!
//! The figures come from the indicators service's SDMX-CSV 2.0 export, read back here
//! ([`parse_csv`]): it already carries every dimension and attribute the data structure
//! defines, so the gateway needs no other call, and the two stay the same figures by
//! construction.

use std::{collections::BTreeMap, fmt::Write};

use super::{
    error::SdmxError,
    xml::{COMMON_NS, GENERIC_NS, MESSAGE_NS, SPECIFIC_NS, XSI_NS, escape, header_start},
};

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
const TIME: usize = 5;

pub const SPECIFIC_MEDIA_TYPE: &str = "application/vnd.sdmx.structurespecificdata+xml;version=2.1";
pub const GENERIC_MEDIA_TYPE: &str = "application/vnd.sdmx.genericdata+xml;version=2.1";
pub const CSV1_MEDIA_TYPE: &str = "application/vnd.sdmx.data+csv;version=1.0.0";
pub const CSV2_MEDIA_TYPE: &str = "application/vnd.sdmx.data+csv;version=2.0.0";
pub const JSON1_MEDIA_TYPE: &str = "application/vnd.sdmx.data+json;version=1.0.0";

/// One observation as the export writes it; the value stays as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: [String; 6],
    pub value: String,
    pub attributes: [String; 6],
}

/// What `detail=` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    Full,
    DataOnly,
    SeriesKeysOnly,
    NoData,
}

impl Detail {
    pub fn parse(text: Option<&str>) -> Result<Detail, SdmxError> {
        match text.unwrap_or("full") {
            "full" => Ok(Detail::Full),
            "dataonly" => Ok(Detail::DataOnly),
            "serieskeysonly" => Ok(Detail::SeriesKeysOnly),
            "nodata" => Ok(Detail::NoData),
            other => Err(SdmxError::syntax(format!(
                "detail is full, dataonly, serieskeysonly or nodata, not {other}"
            ))),
        }
    }

    fn has_observations(self) -> bool {
        matches!(self, Detail::Full | Detail::DataOnly)
    }

    fn has_attributes(self) -> bool {
        // Every attribute of the structure is attached to the observation, so `nodata` (series
        // attributes only) has none to give.
        self == Detail::Full
    }
}

/// Which dimension the observations of a series vary by (`dimensionAtObservation`): an index
/// into [`DIMENSIONS`], or none for `AllDimensions` (a flat list of observations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtObservation(pub Option<usize>);

impl AtObservation {
    pub fn parse(text: Option<&str>) -> Result<AtObservation, SdmxError> {
        match text {
            None => Ok(AtObservation(Some(TIME))),
            Some("AllDimensions") => Ok(AtObservation(None)),
            Some(id) => DIMENSIONS
                .iter()
                .position(|dimension| *dimension == id)
                .map(|index| AtObservation(Some(index)))
                .ok_or_else(|| {
                    SdmxError::semantic(format!(
                        "dimensionAtObservation is AllDimensions or a dimension of DSD_SSE_OBS ({}), not {id}",
                        DIMENSIONS.join(", ")
                    ))
                }),
        }
    }

    fn id(self) -> &'static str {
        self.0.map_or("AllDimensions", |index| DIMENSIONS[index])
    }
}

/// The rows of an SDMX-CSV 2.0 export (RFC 4180, one header row).
pub fn parse_csv(text: &str) -> Result<Vec<Record>, SdmxError> {
    let mut rows = csv_rows(text).into_iter();
    let header = rows.next().unwrap_or_default();
    let column = |name: &str| {
        header.iter().position(|field| field == name).ok_or_else(|| SdmxError {
            code: 500,
            message: format!("the export has no {name} column"),
        })
    };
    let dimensions = DIMENSIONS.map(column);
    let attributes = ATTRIBUTES.map(column);
    let value = column("OBS_VALUE")?;
    let dimensions: Vec<usize> = dimensions.into_iter().collect::<Result<_, _>>()?;
    let attributes: Vec<usize> = attributes.into_iter().collect::<Result<_, _>>()?;
    let field = |row: &[String], index: usize| row.get(index).cloned().unwrap_or_default();
    Ok(rows
        .filter(|row| row.iter().any(|field| !field.is_empty()))
        .map(|row| Record {
            key: std::array::from_fn(|position| field(&row, dimensions[position])),
            value: field(&row, value),
            attributes: std::array::from_fn(|position| field(&row, attributes[position])),
        })
        .collect())
}

fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut characters = text.chars().peekable();
    while let Some(character) = characters.next() {
        match (quoted, character) {
            (true, '"') if characters.peek() == Some(&'"') => {
                characters.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// Keeps the first `first` and the last `last` observations of each time series (the key
/// without TIME_PERIOD), in period order.
pub fn keep_first_and_last(records: Vec<Record>, first: Option<usize>, last: Option<usize>) -> Vec<Record> {
    if first.is_none() && last.is_none() {
        return records;
    }
    let mut series: BTreeMap<Vec<String>, Vec<Record>> = BTreeMap::new();
    for record in records {
        series.entry(record.key[..TIME].to_vec()).or_default().push(record);
    }
    let mut kept = Vec::new();
    for (_, mut observations) in series {
        observations.sort_by(|a, b| a.key[TIME].cmp(&b.key[TIME]));
        let count = observations.len();
        let head = first.unwrap_or(0).min(count);
        let tail_start = count - last.unwrap_or(0).min(count);
        for (index, observation) in observations.into_iter().enumerate() {
            if index < head || index >= tail_start {
                kept.push(observation);
            }
        }
    }
    kept
}

/// Observations grouped into series by every dimension but the one at the observation.
fn series(records: &[Record], at: usize) -> BTreeMap<Vec<(usize, &str)>, Vec<&Record>> {
    let mut grouped: BTreeMap<Vec<(usize, &str)>, Vec<&Record>> = BTreeMap::new();
    for record in records {
        let key = (0..DIMENSIONS.len())
            .filter(|index| *index != at)
            .map(|index| (index, record.key[index].as_str()))
            .collect();
        grouped.entry(key).or_default().push(record);
    }
    for observations in grouped.values_mut() {
        observations.sort_by(|a, b| a.key[at].cmp(&b.key[at]));
    }
    grouped
}

/// Where the observations of a message are, as its header says.
fn structure_header(at: AtObservation, specific: bool) -> String {
    let namespace = if specific {
        format!(
            " namespace=\"urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure=SSE:DSD_SSE_OBS(1.0):ObsLevelDim:{}\"",
            at.id()
        )
    } else {
        String::new()
    };
    format!(
        "    <mes:Structure structureID=\"SSE_DSD_SSE_OBS_1_0\"{namespace} dimensionAtObservation=\"{}\">\n      \
         <com:Structure>\n        <Ref agencyID=\"SSE\" id=\"DSD_SSE_OBS\" version=\"1.0\"/>\n      \
         </com:Structure>\n    </mes:Structure>\n  </mes:Header>\n",
        at.id()
    )
}

/// SDMX-ML 2.1 StructureSpecificData.
pub fn structure_specific(records: &[Record], at: AtObservation, detail: Detail) -> String {
    // A series key only makes sense with a dimension at the observation.
    let at = if detail.has_observations() {
        at
    } else {
        AtObservation(Some(TIME))
    };
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<mes:StructureSpecificData xmlns:mes=\"{MESSAGE_NS}\" \
         xmlns:com=\"{COMMON_NS}\" xmlns:ss=\"{SPECIFIC_NS}\" xmlns:xsi=\"{XSI_NS}\" \
         xmlns:ns1=\"urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure=SSE:DSD_SSE_OBS(1.0):ObsLevelDim:{}\">\n",
        at.id()
    );
    out.push_str(&header_start("DF_SSE_OBS"));
    out.push_str(&structure_header(at, true));
    out.push_str(
        "  <mes:DataSet ss:structureRef=\"SSE_DSD_SSE_OBS_1_0\" xsi:type=\"ns1:DataSetType\" \
         ss:dataScope=\"DataStructure\" action=\"Information\">\n",
    );
    let observation = |out: &mut String, record: &Record, dimensions: &[usize], indent: &str| {
        let _ = write!(out, "{indent}<Obs");
        for index in dimensions {
            let _ = write!(out, " {}=\"{}\"", DIMENSIONS[*index], escape(&record.key[*index]));
        }
        let _ = write!(out, " OBS_VALUE=\"{}\"", escape(&record.value));
        if detail.has_attributes() {
            for (id, value) in ATTRIBUTES.iter().zip(&record.attributes) {
                if !value.is_empty() {
                    let _ = write!(out, " {id}=\"{}\"", escape(value));
                }
            }
        }
        out.push_str("/>\n");
    };
    match at.0 {
        None => {
            let all: Vec<usize> = (0..DIMENSIONS.len()).collect();
            for record in records {
                observation(&mut out, record, &all, "    ");
            }
        }
        Some(at) => {
            for (key, observations) in series(records, at) {
                out.push_str("    <Series");
                for (index, value) in &key {
                    let _ = write!(out, " {}=\"{}\"", DIMENSIONS[*index], escape(value));
                }
                if !detail.has_observations() {
                    out.push_str("/>\n");
                    continue;
                }
                out.push_str(">\n");
                for record in observations {
                    observation(&mut out, record, &[at], "      ");
                }
                out.push_str("    </Series>\n");
            }
        }
    }
    out.push_str("  </mes:DataSet>\n</mes:StructureSpecificData>\n");
    out
}

/// SDMX-ML 2.1 GenericData.
pub fn generic(records: &[Record], at: AtObservation, detail: Detail) -> String {
    let at = if detail.has_observations() {
        at
    } else {
        AtObservation(Some(TIME))
    };
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<mes:GenericData xmlns:mes=\"{MESSAGE_NS}\" \
         xmlns:com=\"{COMMON_NS}\" xmlns:gen=\"{GENERIC_NS}\">\n"
    );
    out.push_str(&header_start("DF_SSE_OBS"));
    out.push_str(&structure_header(at, false));
    out.push_str("  <mes:DataSet structureRef=\"SSE_DSD_SSE_OBS_1_0\" action=\"Information\">\n");
    let values = |out: &mut String, element: &str, pairs: &[(&str, &str)], indent: &str| {
        let _ = writeln!(out, "{indent}<gen:{element}>");
        for (id, value) in pairs {
            let _ = writeln!(out, "{indent}  <gen:Value id=\"{id}\" value=\"{}\"/>", escape(value));
        }
        let _ = writeln!(out, "{indent}</gen:{element}>");
    };
    let observation = |out: &mut String, record: &Record, at: Option<usize>, indent: &str| {
        let _ = writeln!(out, "{indent}<gen:Obs>");
        let inner = format!("{indent}  ");
        match at {
            Some(at) => {
                let _ = writeln!(out, "{inner}<gen:ObsDimension value=\"{}\"/>", escape(&record.key[at]));
            }
            None => {
                let pairs: Vec<(&str, &str)> = DIMENSIONS
                    .iter()
                    .zip(&record.key)
                    .map(|(id, value)| (*id, value.as_str()))
                    .collect();
                values(out, "ObsKey", &pairs, &inner);
            }
        }
        let _ = writeln!(out, "{inner}<gen:ObsValue value=\"{}\"/>", escape(&record.value));
        if detail.has_attributes() {
            let pairs: Vec<(&str, &str)> = ATTRIBUTES
                .iter()
                .zip(&record.attributes)
                .filter(|(_, value)| !value.is_empty())
                .map(|(id, value)| (*id, value.as_str()))
                .collect();
            if !pairs.is_empty() {
                values(out, "Attributes", &pairs, &inner);
            }
        }
        let _ = writeln!(out, "{indent}</gen:Obs>");
    };
    match at.0 {
        None => {
            for record in records {
                observation(&mut out, record, None, "    ");
            }
        }
        Some(at) => {
            for (key, observations) in series(records, at) {
                out.push_str("    <gen:Series>\n");
                let pairs: Vec<(&str, &str)> = key.iter().map(|(index, value)| (DIMENSIONS[*index], *value)).collect();
                values(&mut out, "SeriesKey", &pairs, "      ");
                if detail.has_observations() {
                    for record in observations {
                        observation(&mut out, record, Some(at), "      ");
                    }
                }
                out.push_str("    </gen:Series>\n");
            }
        }
    }
    out.push_str("  </mes:DataSet>\n</mes:GenericData>\n");
    out
}

/// SDMX-JSON 1.0.0 (the JSON of SDMX 2.1): each dimension's values listed once in
/// `structure`, series and observations keyed by the indices of their values, attributes given as
/// indices into their lists of values (null when absent).
pub fn json1(records: &[Record], at: AtObservation, detail: Detail) -> String {
    use serde_json::{Value, json};
    let at = if detail.has_observations() {
        at
    } else {
        AtObservation(Some(TIME))
    };
    let series_dimensions: Vec<usize> = (0..DIMENSIONS.len())
        .filter(|index| Some(*index) != at.0 && at.0.is_some())
        .collect();
    let observation_dimensions: Vec<usize> = match at.0 {
        Some(at) => vec![at],
        None => (0..DIMENSIONS.len()).collect(),
    };
    // The values of each dimension and attribute, in order of first appearance.
    let mut dimension_values: Vec<Vec<&str>> = vec![Vec::new(); DIMENSIONS.len()];
    let mut attribute_values: Vec<Vec<&str>> = vec![Vec::new(); ATTRIBUTES.len()];
    let mut series: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    let mut flat: BTreeMap<String, Value> = BTreeMap::new();
    let mut attribute_indices: Vec<Vec<Option<usize>>> = Vec::with_capacity(records.len());
    for record in records {
        let indices: Vec<Option<usize>> = record
            .attributes
            .iter()
            .enumerate()
            .map(|(position, value)| {
                (!value.is_empty() && detail.has_attributes()).then(|| index_of(&mut attribute_values[position], value))
            })
            .collect();
        attribute_indices.push(indices);
    }
    // Attributes no observation has are left out: sdmx1 drops them anyway, with a warning.
    let present: Vec<usize> = (0..ATTRIBUTES.len())
        .filter(|index| !attribute_values[*index].is_empty())
        .collect();
    for (record, indices) in records.iter().zip(&attribute_indices) {
        let series_key = json_key(record, &series_dimensions, &mut dimension_values);
        let observation_key = json_key(record, &observation_dimensions, &mut dimension_values);
        let value = record.value.parse::<f64>().map_or(Value::Null, |value| json!(value));
        let mut observation = vec![value];
        observation.extend(
            present
                .iter()
                .map(|index| indices[*index].map_or(Value::Null, |index| json!(index))),
        );
        let observation = Value::Array(observation);
        match at.0 {
            Some(_) => {
                let observations = series.entry(series_key).or_default();
                if detail.has_observations() {
                    observations.insert(observation_key, observation);
                }
            }
            None => {
                flat.insert(observation_key, observation);
            }
        }
    }
    let dimension = |index: usize, position: usize| {
        let mut entry = json!({
            "id": DIMENSIONS[index],
            "name": DIMENSIONS[index],
            "keyPosition": position,
            "values": dimension_values[index].iter().map(|value| json!({"id": value, "name": value})).collect::<Vec<_>>(),
        });
        if index == TIME {
            entry["role"] = json!("time");
        }
        entry
    };
    let series_level: Vec<Value> = series_dimensions
        .iter()
        .map(|index| dimension(*index, *index))
        .collect();
    let observation_level: Vec<Value> = observation_dimensions
        .iter()
        .map(|index| dimension(*index, *index))
        .collect();
    let attributes: Vec<Value> = present
        .iter()
        .map(|index| {
            json!({
                "id": ATTRIBUTES[*index],
                "name": ATTRIBUTES[*index],
                "values": attribute_values[*index].iter().map(|value| json!({"name": value})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut data_set = json!({"action": "Information"});
    match at.0 {
        Some(_) => {
            let series: serde_json::Map<String, Value> = series
                .into_iter()
                .map(|(key, observations)| (key, json!({"attributes": [], "observations": observations})))
                .collect();
            data_set["series"] = Value::Object(series);
        }
        None => data_set["observations"] = json!(flat),
    }
    let document = json!({
        "header": {
            "id": "DF_SSE_OBS",
            "test": false,
            "prepared": super::xml::now(),
            "sender": {"id": "SSE", "name": "SSE Observatory"},
        },
        "structure": {
            "name": "SSE Observatory observations",
            "dimensions": {"dataSet": [], "series": series_level, "observation": observation_level},
            "attributes": {"dataSet": [], "series": [], "observation": attributes},
        },
        "dataSets": [data_set],
    });
    document.to_string()
}

/// The position of `value` in `values`, added at the end if it is new.
fn index_of<'a>(values: &mut Vec<&'a str>, value: &'a str) -> usize {
    values.iter().position(|known| *known == value).unwrap_or_else(|| {
        values.push(value);
        values.len() - 1
    })
}

/// An SDMX-JSON key: the indices of the record's values of `dimensions`, joined by `:`.
fn json_key<'a>(record: &'a Record, dimensions: &[usize], values: &mut [Vec<&'a str>]) -> String {
    dimensions
        .iter()
        .map(|index| index_of(&mut values[*index], &record.key[*index]).to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// SDMX-CSV, 1.0 (`DATAFLOW` first) or 2.0 (`STRUCTURE,STRUCTURE_ID,ACTION` first); with
/// `detail=dataonly` the attribute columns are left out.
pub fn csv(records: &[Record], version: u8, detail: Detail) -> String {
    let mut header: Vec<&str> = if version == 1 {
        vec!["DATAFLOW"]
    } else {
        vec!["STRUCTURE", "STRUCTURE_ID", "ACTION"]
    };
    header.extend(DIMENSIONS);
    header.push("OBS_VALUE");
    if detail.has_attributes() {
        header.extend(ATTRIBUTES);
    }
    let mut out = header.join(",");
    out.push('\n');
    for record in records {
        let mut fields: Vec<&str> = if version == 1 {
            vec!["SSE:DF_SSE_OBS(1.0)"]
        } else {
            vec!["dataflow", "SSE:DF_SSE_OBS(1.0)", "I"]
        };
        fields.extend(record.key.iter().map(String::as_str));
        fields.push(&record.value);
        if detail.has_attributes() {
            fields.extend(record.attributes.iter().map(String::as_str));
        }
        let line: Vec<String> = fields.into_iter().map(csv_field).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(indicator: &str, period: &str, value: &str) -> Record {
        Record {
            key: [indicator, "FR", "_Z", "A", "src-1", period].map(str::to_owned),
            value: value.to_owned(),
            attributes: ["ha", "A \"title\", 2020", "", "", "", ""].map(str::to_owned),
        }
    }

    #[test]
    fn the_export_reads_back() {
        let records = vec![record("jobs", "2020", "7"), record("jobs", "2021", "8.5")];
        let text = csv(&records, 2, Detail::Full);
        assert_eq!(parse_csv(&text).ok(), Some(records));
    }

    #[test]
    fn first_and_last_observations_are_per_series() {
        let records = vec![
            record("jobs", "2021", "2"),
            record("jobs", "2020", "1"),
            record("jobs", "2022", "3"),
            record("land", "2020", "4"),
        ];
        let periods = |kept: Vec<Record>| -> Vec<(String, String)> {
            kept.into_iter().map(|r| (r.key[0].clone(), r.key[5].clone())).collect()
        };
        let last = keep_first_and_last(records.clone(), None, Some(1));
        assert_eq!(
            periods(last),
            [("jobs".into(), "2022".into()), ("land".into(), "2020".into())]
        );
        let first = keep_first_and_last(records, Some(2), None);
        assert_eq!(first.len(), 3);
    }

    #[test]
    fn structure_specific_data_has_series_of_observations() {
        let records = vec![record("jobs", "2020", "7")];
        let text = structure_specific(&records, AtObservation(Some(5)), Detail::Full);
        assert!(text.contains("<Series INDICATOR=\"jobs\" REF_AREA=\"FR\""));
        assert!(text.contains("<Obs TIME_PERIOD=\"2020\" OBS_VALUE=\"7\" UNIT_MEASURE=\"ha\""));
        let flat = structure_specific(&records, AtObservation(None), Detail::DataOnly);
        assert!(flat.contains("<Obs INDICATOR=\"jobs\""));
        assert!(!flat.contains("UNIT_MEASURE"));
        let keys = generic(&records, AtObservation(Some(5)), Detail::SeriesKeysOnly);
        assert!(keys.contains("<gen:SeriesKey>") && !keys.contains("<gen:Obs>"));
    }

    #[test]
    fn sdmx_json_1_indexes_values() {
        let records = vec![record("jobs", "2020", "7"), record("jobs", "2021", "8.5")];
        let text = json1(&records, AtObservation(Some(5)), Detail::Full);
        let tree: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let series = &tree["dataSets"][0]["series"]["0:0:0:0:0"]["observations"];
        assert_eq!(series["1"][0], serde_json::json!(8.5));
        assert_eq!(series["1"][1], serde_json::json!(0), "UNIT_MEASURE's first value");
        assert_eq!(
            tree["structure"]["dimensions"]["observation"][0]["values"][1]["id"],
            "2021"
        );
        assert_eq!(
            tree["structure"]["attributes"]["observation"].as_array().map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn options_are_checked() {
        assert!(Detail::parse(Some("everything")).is_err());
        assert_eq!(
            AtObservation::parse(Some("REF_AREA")).ok(),
            Some(AtObservation(Some(1)))
        );
        assert_eq!(AtObservation::parse(Some("NOPE")).map_err(|e| e.code), Err(150));
    }
}
