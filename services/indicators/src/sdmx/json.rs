//! SDMX-JSON 2.0 data messages, flat (every dimension at the observation level). Values of each
//! dimension and attribute are listed once, in order of first use, and observations point at
//! them by index. An attribute with no value in the whole message is left out: readers that meet
//! an attribute with an empty value list misalign the ones after it.

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
struct Values(Vec<String>);

impl Values {
    fn index(&mut self, value: &str) -> usize {
        match self.0.iter().position(|known| known == value) {
            Some(index) => index,
            None => {
                self.0.push(value.to_owned());
                self.0.len() - 1
            }
        }
    }
}

pub fn write(observations: &[SdmxObservation]) -> String {
    let mut dimension_values: [Values; 6] = Default::default();
    let mut attribute_values: [Values; 6] = Default::default();
    let mut periods = Vec::new();
    let mut indexed = Vec::with_capacity(observations.len());
    for observation in observations {
        let key: Vec<usize> = observation
            .key
            .iter()
            .zip(dimension_values.iter_mut())
            .map(|(value, values)| values.index(value))
            .collect();
        if key[5] == periods.len() {
            periods.push(bounds(&observation.period));
        }
        let attributes: Vec<Option<usize>> = observation
            .attributes
            .iter()
            .zip(attribute_values.iter_mut())
            .map(|(value, values)| (!value.is_empty()).then(|| values.index(value)))
            .collect();
        indexed.push((key, observation.value, attributes));
    }
    let used: Vec<usize> = (0..ATTRIBUTES.len())
        .filter(|index| !attribute_values[*index].0.is_empty())
        .collect();

    let dimensions: Vec<Value> = DIMENSIONS
        .iter()
        .enumerate()
        .map(|(position, id)| {
            let values: Vec<Value> = dimension_values[position]
                .0
                .iter()
                .enumerate()
                .map(|(index, value)| match position {
                    3 => json!({"id": value, "name": status_name(value)}),
                    5 => {
                        let (start, end) = &periods[index];
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
    let attributes: Vec<Value> = used
        .iter()
        .map(|&index| {
            let values: Vec<Value> = attribute_values[index]
                .0
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
    let mut observation_map = serde_json::Map::new();
    for (key, value, attribute_indices) in indexed {
        let key = key.iter().map(usize::to_string).collect::<Vec<_>>().join(":");
        let mut entry = vec![json!(value)];
        entry.extend(
            used.iter()
                .map(|&index| attribute_indices[index].map_or(Value::Null, |position| json!(position))),
        );
        observation_map.insert(key, Value::Array(entry));
    }

    let message = json!({
        "meta": {
            "schema": SCHEMA,
            "id": uuid::Uuid::new_v4().to_string(),
            "test": false,
            "prepared": now(),
            "contentLanguages": ["en"],
            "sender": {"id": "SSE", "name": "SSE Observatory"},
        },
        "data": {
            "structures": [{
                "links": [
                    {"rel": "dataflow", "urn": "urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow=SSE:DF_SSE_OBS(1.0)"},
                    {"rel": "structure", "urn": "urn:sdmx:org.sdmx.infomodel.datastructure.DataStructure=SSE:DSD_SSE_OBS(1.0)"},
                ],
                "name": "SSE Observatory observations",
                "dimensions": {"dataSet": [], "series": [], "observation": dimensions},
                "measures": {"observation": [{"id": "OBS_VALUE", "name": "Observation value"}]},
                "attributes": {"dataSet": [], "dimensionGroup": [], "series": [], "observation": attributes},
                "dataSets": [0],
            }],
            "dataSets": [{
                "structure": 0,
                "action": "Information",
                "links": [{"rel": "dataflow", "urn": "urn:sdmx:org.sdmx.infomodel.datastructure.Dataflow=SSE:DF_SSE_OBS(1.0)"}],
                "observations": observation_map,
            }],
        },
    });
    let mut text = serde_json::to_string_pretty(&message).unwrap_or_default();
    text.push('\n');
    text
}
