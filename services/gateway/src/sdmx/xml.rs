//! What every SDMX-ML message the gateway writes shares: escaping, namespaces and the header.

use chrono::{SecondsFormat, Utc};

pub const MESSAGE_NS: &str = "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/message";
pub const COMMON_NS: &str = "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/common";
pub const STRUCTURE_NS: &str = "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/structure";
pub const GENERIC_NS: &str = "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/data/generic";
pub const SPECIFIC_NS: &str = "http://www.sdmx.org/resources/sdmxml/schemas/v2_1/data/structurespecific";
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Text or an attribute value, escaped for XML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// The moment a message is prepared, as SDMX writes it.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The opening of `<mes:Header>` up to and including the sender, for a message named `id`.
pub fn header_start(id: &str) -> String {
    format!(
        "  <mes:Header>\n    <mes:ID>{}</mes:ID>\n    <mes:Test>false</mes:Test>\n    \
         <mes:Prepared>{}</mes:Prepared>\n    <mes:Sender id=\"SSE\">\n      \
         <com:Name xml:lang=\"en\">SSE Observatory</com:Name>\n    </mes:Sender>\n",
        escape(id),
        now()
    )
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_and_control_characters_are_escaped() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("a\u{1}b\tc"), "ab\tc");
    }
}
