//! SDMX-JSON 2.0 data messages, flat (every dimension at the observation level). Values of each
//! dimension and attribute are listed once, in order of first use, and observations point at
//! them by index. An attribute with no value in the whole message is left out: readers that meet
//! an attribute with an empty value list misalign the ones after it.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{ATTRIBUTES, DIMENSIONS, SdmxObservation, bounds, now, status_name};

const SCHEMA: &str = "https://raw.githubusercontent.com/sdmx-twg/sdmx-json/master/data-message/tools/schemas/2.0.0/sdmx-json-data-schema.json";
const DIMENSION_NAMES: [&str; 6] = [
    "Indicator",
    "Reference area",
    "Initiative",
    "Observation status",
    "Source identifier",
    "Time period or range",
];
const ATTRIBUTE_NAMES: [&str; 6] = [
    "Unit of measure",
    "Source title",
    "Source URL",
    "Source publisher",
    "Source publication date",
    "Comment",
];

/// Distinct values in order of first use.
#[derive(Default)]
struct Values {
    listed: Vec<String>,
    positions: HashMap<String, usize>,
}

impl Values {
    fn index(&mut self, value: &str) -> usize {
        if let Some(position) = self.positions.get(value) {
            return *position;
        }
        self.listed.push(value.to_owned());
        self.positions.insert(value.to_owned(), self.listed.len() - 1);
        self.listed.len() - 1
    }
}

/// An SDMX-JSON message written piece by piece: [`JsonWriter::start`], observations in any
/// number of [`JsonWriter::write_observations`] calls, then [`JsonWriter::finish`]. The data set
/// comes before the structure, whose value lists are only known at the end; which attributes
/// the message has must be known at the start (every observation lists them by position).
pub struct JsonWriter {
    dimension_values: [Values; 6],
    attribute_values: [Values; 6],
    periods: Vec<(String, String)>,
    /// The positions in [`ATTRIBUTES`] the message has.
    used: Vec<usize>,
    written: usize,
}

impl JsonWriter {
    /// A writer of a message whose observations have the attributes flagged in `has`.
    pub fn new(has: [bool; 6]) -> JsonWriter {
        JsonWriter {
            dimension_values: Default::default(),
            attribute_values: Default::default(),
            periods: Vec::new(),
            used: (0..ATTRIBUTES.len()).filter(|index| has[*index]).collect(),
            written: 0,
        }
    }

    /// The message up to its first observation.
    pub fn start(&self) -> String {
        let meta = json!({
            "schema": SCHEMA,
            "id": uuid::Uuid::new_v4().to_string(),
            "test": false,
            "prepared": now(),
            "contentLanguages": ["en"],
            "sender": {"id": "SSE", "name": "SSE Observatory"},
        });
        let links = json!([{"rel": "dataflow", "urn": "urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow=SSE:DF_SSE_OBS(1.0)"}]);
        format!(
            "{{\"meta\":{meta},\n\"data\":{{\"dataSets\":[{{\"structure\":0,\"action\":\"Information\",\"links\":{links},\n\"observations\":{{"
        )
    }

    /// Appends `observations`, one line each.
    pub fn write_observations(&mut self, out: &mut String, observations: &[SdmxObservation]) {
        for observation in observations {
            let key: Vec<usize> = observation
                .key
                .iter()
                .zip(self.dimension_values.iter_mut())
                .map(|(value, values)| values.index(value))
                .collect();
            if key[5] == self.periods.len() {
                self.periods.push(bounds(&observation.period));
            }
            let key: Vec<String> = key.iter().map(usize::to_string).collect();
            let mut entry = vec![json!(observation.value)];
            for &index in &self.used {
                let value = &observation.attributes[index];
                entry.push(if value.is_empty() {
                    Value::Null
                } else {
                    json!(self.attribute_values[index].index(value))
                });
            }
            if self.written > 0 {
                out.push(',');
            }
            out.push('\n');
            out.push_str(&Value::String(key.join(":")).to_string());
            out.push(':');
            out.push_str(&Value::Array(entry).to_string());
            self.written += 1;
        }
    }

    /// The rest of the message: the end of the data set, then the structure.
    pub fn finish(self) -> String {
        let dimensions: Vec<Value> = DIMENSIONS
            .iter()
            .enumerate()
            .map(|(position, id)| {
                let values: Vec<Value> = self.dimension_values[position]
                    .listed
                    .iter()
                    .enumerate()
                    .map(|(index, value)| match position {
                        3 => json!({"id": value, "name": status_name(value)}),
                        5 => {
                            let (start, end) = &self.periods[index];
                            json!({"id": value, "name": value, "start": start, "end": end})
                        }
                        _ => json!({"id": value, "name": value}),
                    })
                    .collect();
                let mut dimension =
                    json!({"id": id, "name": DIMENSION_NAMES[position], "keyPosition": position, "values": values});
                if matches!(*id, "REF_AREA" | "TIME_PERIOD") {
                    dimension["roles"] = json!([id]);
                }
                dimension
            })
            .collect();
        let attributes: Vec<Value> = self
            .used
            .iter()
            .map(|&index| {
                let values: Vec<Value> = self.attribute_values[index]
                    .listed
                    .iter()
                    .map(|value| json!({"value": value, "name": value}))
                    .collect();
                let mut attribute = json!({
                    "id": ATTRIBUTES[index],
                    "name": ATTRIBUTE_NAMES[index],
                    "relationship": {"observation": {}},
                    "values": values,
                });
                if ATTRIBUTES[index] == "UNIT_MEASURE" {
                    attribute["roles"] = json!(["UNIT_MEASURE"]);
                }
                attribute
            })
            .collect();
        let structures = json!([{
            "links": [
                {"rel": "dataflow", "urn": "urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow=SSE:DF_SSE_OBS(1.0)"},
                {"rel": "structure", "urn": "urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure=SSE:DSD_SSE_OBS(1.0)"},
            ],
            "name": "SSE Observatory observations",
            "dimensions": {"dataSet": [], "series": [], "observation": dimensions},
            "measures": {"observation": [{"id": "OBS_VALUE", "name": "Observation value"}]},
            "attributes": {"dataSet": [], "dimensionGroup": [], "series": [], "observation": attributes},
            "dataSets": [0],
        }]);
        format!("\n}}}}],\n\"structures\":{structures}}}}}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::period::Period;

    fn observation(key: [&str; 6], value: f64, unit: &str) -> SdmxObservation {
        SdmxObservation {
            key: key.map(str::to_owned),
            value,
            attributes: [unit, "", "", "", "", ""].map(str::to_owned),
            period: Period::parse(key[5]).expect("period"),
        }
    }

    #[test]
    fn a_message_written_in_pieces_is_one_json_document() {
        let mut writer = JsonWriter::new([true, false, false, false, false, false]);
        let mut text = writer.start();
        writer.write_observations(
            &mut text,
            &[observation(["jobs", "FR", "_Z", "A", "src-1", "2020"], 5.0, "{jobs}")],
        );
        writer.write_observations(
            &mut text,
            &[
                observation(["jobs", "ES", "_Z", "A", "src-1", "2021"], 7.0, "{jobs}"),
                observation(["jobs", "FR", "_Z", "T", "src-1", "2020"], 9.0, ""),
            ],
        );
        text.push_str(&writer.finish());
        let message: Value = serde_json::from_str(&text).expect("json");
        let observations = &message["data"]["dataSets"][0]["observations"];
        assert_eq!(observations["0:0:0:0:0:0"], json!([5.0, 0]));
        assert_eq!(observations["0:1:0:0:0:1"], json!([7.0, 0]));
        assert_eq!(observations["0:0:0:1:0:0"], json!([9.0, null]));
        let dimensions = &message["data"]["structures"][0]["dimensions"]["observation"];
        assert_eq!(dimensions[5]["values"][1]["start"], "2021-01-01T00:00:00Z");
        let attributes = &message["data"]["structures"][0]["attributes"]["observation"];
        assert_eq!(attributes.as_array().map(Vec::len), Some(1));
    }
}
