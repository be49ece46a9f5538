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
