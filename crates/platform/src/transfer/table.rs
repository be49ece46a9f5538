//! How one resource is a CSV row, derived from its message's descriptor so that every kind has
//! the same, documented layout (docs/import-export.md): a column per field in the message's
//! order, headed by its proto name; nested messages flattened into `field.subfield` columns;
//! dates (`sse.type.v1.PartialDate`) as `2007`, `2007-04` or `2007-04-15`; enums by their short
//! name (`COOPERATIVE`); repeated scalars joined by `;` (a `;` or `\` inside an item escaped
//! with `\`); repeated messages as a JSON array of their proto3 JSON, with proto field names.
//! Output-only fields (create, update and delete times, etag) have no column.

use prost_reflect::{DynamicMessage, SerializeOptions};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor, ReflectMessage, Value};

/// Fields the server sets and a create ignores: left out of exports, so that a round trip
/// through another database gives the same file.
pub const OUTPUT_ONLY_FIELDS: [&str; 4] = ["create_time", "update_time", "delete_time", "etag"];

const PARTIAL_DATE: &str = "sse.type.v1.PartialDate";

/// What is wrong with one cell (or line) of an input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The column or field path, e.g. `countries` or `location.latitude`; `-` for the whole row.
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Scalar,
    Enum,
    PartialDate,
    RepeatedScalar,
    RepeatedEnum,
    /// A repeated message (or a map): a JSON array in one cell.
    Json,
}

#[derive(Debug, Clone)]
struct Column {
    header: String,
    /// The fields from the resource down to the cell's.
    path: Vec<FieldDescriptor>,
    encoding: Encoding,
}

/// The CSV layout of one message.
#[derive(Debug, Clone)]
pub struct Layout {
    message: MessageDescriptor,
    columns: Vec<Column>,
}

impl Layout {
    pub fn new(message: MessageDescriptor) -> Layout {
        let mut columns = Vec::new();
        let fields: Vec<FieldDescriptor> = message
            .fields()
            .filter(|field| !OUTPUT_ONLY_FIELDS.contains(&field.name()))
            .collect();
        for field in fields {
            add_columns(&mut columns, "", &[], field);
        }
        Layout { message, columns }
    }

    pub fn headers(&self) -> Vec<&str> {
        self.columns.iter().map(|column| column.header.as_str()).collect()
    }

    /// The cells of `resource`, one per column.
    pub fn row(&self, resource: &DynamicMessage) -> Vec<String> {
        self.columns.iter().map(|column| cell(resource, column)).collect()
    }

    /// Which column each header of a file is; every unknown or repeated header is an error.
    pub fn read_headers(&self, headers: &[String]) -> Result<Vec<usize>, Vec<FieldError>> {
        let mut positions = Vec::with_capacity(headers.len());
        let mut errors = Vec::new();
        for header in headers {
            let header = header.trim();
            match self.columns.iter().position(|column| column.header == header) {
                Some(position) if positions.contains(&position) => {
                    errors.push(FieldError::new(header, "is a column given twice"));
                }
                Some(position) => positions.push(position),
                None => errors.push(FieldError::new(
                    header,
                    format!("is not a column; the columns are {}", self.headers().join(", ")),
                )),
            }
        }
        if errors.is_empty() { Ok(positions) } else { Err(errors) }
    }

    /// The resource of one row, whose cells are in the columns `positions` gave; every bad cell
    /// is reported.
    pub fn parse(&self, positions: &[usize], cells: &csv::StringRecord) -> Result<DynamicMessage, Vec<FieldError>> {
        let mut resource = DynamicMessage::new(self.message.clone());
        let mut errors = Vec::new();
        if cells.len() != positions.len() {
            return Err(vec![FieldError::new(
                "-",
                format!("has {} cells where the header has {}", cells.len(), positions.len()),
            )]);
        }
        for (text, position) in cells.iter().zip(positions) {
            if text.is_empty() {
                continue;
            }
            let column = &self.columns[*position];
            if let Err(reason) = set_cell(&mut resource, column, text) {
                errors.push(FieldError::new(column.header.clone(), reason));
            }
        }
        if errors.is_empty() { Ok(resource) } else { Err(errors) }
    }
}

fn add_columns(columns: &mut Vec<Column>, prefix: &str, parents: &[FieldDescriptor], field: FieldDescriptor) {
    let header = format!("{prefix}{}", field.name());
    let mut path = parents.to_vec();
    path.push(field.clone());
    let encoding = match field.kind() {
        _ if field.is_map() => Encoding::Json,
        Kind::Message(_) if field.is_list() => Encoding::Json,
        Kind::Enum(_) if field.is_list() => Encoding::RepeatedEnum,
        _ if field.is_list() => Encoding::RepeatedScalar,
        Kind::Message(message) if message.full_name() == PARTIAL_DATE => Encoding::PartialDate,
        Kind::Message(message) => {
            for inner in message.fields() {
                add_columns(columns, &format!("{header}."), &path, inner);
            }
            return;
        }
        Kind::Enum(_) => Encoding::Enum,
        _ => Encoding::Scalar,
    };
    columns.push(Column { header, path, encoding });
}

/// The message holding the column's field, if every message on the way is set.
fn holder<'a>(resource: &'a DynamicMessage, column: &Column) -> Option<&'a DynamicMessage> {
    let mut current = resource;
    for field in &column.path[..column.path.len() - 1] {
        if !current.has_field(field) {
            return None;
        }
        current = match current.fields().find(|(set, _)| set == field) {
            Some((_, Value::Message(inner))) => inner,
            _ => return None,
        };
    }
    Some(current)
}

fn cell(resource: &DynamicMessage, column: &Column) -> String {
    let Some(holder) = holder(resource, column) else {
        return String::new();
    };
    let field = &column.path[column.path.len() - 1];
    let value = holder.get_field(field);
    match (column.encoding, value.as_ref()) {
        (Encoding::Scalar, value) => scalar_text(value),
        (Encoding::Enum, Value::EnumNumber(number)) => enum_text(field, *number),
        (Encoding::PartialDate, Value::Message(date)) if holder.has_field(field) => partial_date_text(date),
        (Encoding::PartialDate, _) => String::new(),
        (Encoding::RepeatedScalar, Value::List(items)) => join(items.iter().map(scalar_text)),
        (Encoding::RepeatedEnum, Value::List(items)) => join(items.iter().map(|item| match item {
            Value::EnumNumber(number) => enum_text(field, *number),
            other => scalar_text(other),
        })),
        (Encoding::Json, Value::List(items)) if items.is_empty() => String::new(),
        (Encoding::Json, Value::Map(items)) if items.is_empty() => String::new(),
        (Encoding::Json, _) => json_text(holder, field),
        (_, other) => scalar_text(other),
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Bool(value) => value.to_string(),
        Value::I32(value) => value.to_string(),
        Value::I64(value) => value.to_string(),
        Value::U32(value) => value.to_string(),
        Value::U64(value) => value.to_string(),
        Value::F32(value) => value.to_string(),
        Value::F64(value) => value.to_string(),
        Value::String(value) => value.clone(),
        Value::Bytes(value) => String::from_utf8_lossy(value).into_owned(),
        Value::EnumNumber(value) => value.to_string(),
        Value::Message(_) | Value::List(_) | Value::Map(_) => String::new(),
    }
}

/// The prefix every value of an enum shares, `LEGAL_FORM_` for `LEGAL_FORM_UNSPECIFIED`.
fn enum_prefix(values: &prost_reflect::EnumDescriptor) -> String {
    values
        .get_value(0)
        .and_then(|zero| zero.name().strip_suffix("UNSPECIFIED").map(str::to_owned))
        .unwrap_or_default()
}

fn enum_text(field: &FieldDescriptor, number: i32) -> String {
    let Kind::Enum(values) = field.kind() else {
        return number.to_string();
    };
    if number == 0 {
        return String::new();
    }
    let prefix = enum_prefix(&values);
    match values.get_value(number) {
        Some(value) => value
            .name()
            .strip_prefix(prefix.as_str())
            .unwrap_or(value.name())
            .to_owned(),
        None => number.to_string(),
    }
}

fn partial_date_text(date: &DynamicMessage) -> String {
    let part = |name: &str| match date.get_field_by_name(name).as_deref() {
        Some(Value::I32(value)) => *value,
        _ => 0,
    };
    match (part("year"), part("month"), part("day")) {
        (year, 0, _) => format!("{year:04}"),
        (year, month, 0) => format!("{year:04}-{month:02}"),
        (year, month, day) => format!("{year:04}-{month:02}-{day:02}"),
    }
}

fn json_text(holder: &DynamicMessage, field: &FieldDescriptor) -> String {
    // The field alone, serialized through a message holding only it, gives its proto3 JSON.
    let mut alone = DynamicMessage::new(holder.descriptor());
    alone.set_field(field, holder.get_field(field).into_owned());
    let options = SerializeOptions::new().use_proto_field_name(true);
    let mut serializer = serde_json::Serializer::new(Vec::new());
    if alone.serialize_with_options(&mut serializer, &options).is_err() {
        return String::new();
    }
    // `{"field":[…]}`: the value is what follows the key, in the fields' own order.
    let whole = String::from_utf8(serializer.into_inner()).unwrap_or_default();
    let key = format!("{{\"{}\":", field.name());
    whole
        .strip_prefix(&key)
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or_default()
        .to_owned()
}

/// Items joined by `;`, each with its `\` and `;` escaped.
fn join(items: impl Iterator<Item = String>) -> String {
    items
        .map(|item| item.replace('\\', "\\\\").replace(';', "\\;"))
        .collect::<Vec<_>>()
        .join(";")
}

/// The items of a `;`-joined cell, unescaped and trimmed.
fn split(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut characters = text.chars();
    while let Some(character) = characters.next() {
        match character {
            '\\' => current.extend(characters.next()),
            ';' => items.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    items.push(current);
    items.into_iter().map(|item| item.trim().to_owned()).collect()
}

fn set_cell(resource: &mut DynamicMessage, column: &Column, text: &str) -> Result<(), String> {
    let mut holder = resource;
    for field in &column.path[..column.path.len() - 1] {
        holder = match holder.get_field_mut(field) {
            Value::Message(inner) => inner,
            _ => return Err("is not a message".to_owned()),
        };
    }
    let field = &column.path[column.path.len() - 1];
    let value = match column.encoding {
        Encoding::Scalar => parse_scalar(field, text.trim_matches(is_not_text(field)))?,
        Encoding::Enum => Value::EnumNumber(parse_enum(field, text.trim())?),
        Encoding::PartialDate => parse_partial_date(field, text.trim())?,
        Encoding::RepeatedScalar => Value::List(
            split(text)
                .iter()
                .map(|item| parse_scalar(field, item))
                .collect::<Result<_, _>>()?,
        ),
        Encoding::RepeatedEnum => Value::List(
            split(text)
                .iter()
                .map(|item| parse_enum(field, item).map(Value::EnumNumber))
                .collect::<Result<_, _>>()?,
        ),
        Encoding::Json => parse_json(holder, field, text)?,
    };
    holder.try_set_field(field, value).map_err(|error| error.to_string())
}

/// Spaces around a number, an enum or a flag are not part of it; around text they are.
fn is_not_text(field: &FieldDescriptor) -> impl Fn(char) -> bool {
    let text = matches!(field.kind(), Kind::String | Kind::Bytes);
    move |character: char| !text && character.is_whitespace()
}

fn parse_scalar(field: &FieldDescriptor, text: &str) -> Result<Value, String> {
    let quoted = crate::validate::quoted(text);
    let number = |kind: &str| format!("{quoted} is not {kind}");
    Ok(match field.kind() {
        Kind::String => Value::String(text.to_owned()),
        Kind::Bytes => Value::Bytes(text.as_bytes().to_vec().into()),
        Kind::Bool => match text {
            "true" | "TRUE" | "True" => Value::Bool(true),
            "false" | "FALSE" | "False" => Value::Bool(false),
            _ => return Err(format!("{quoted} is not `true` or `false`")),
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(text.parse().map_err(|_| number("a whole number"))?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(text.parse().map_err(|_| number("a whole number"))?),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(text.parse().map_err(|_| number("a positive whole number"))?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(text.parse().map_err(|_| number("a positive whole number"))?),
        Kind::Float => Value::F32(text.parse().map_err(|_| number("a number"))?),
        Kind::Double => Value::F64(text.parse().map_err(|_| number("a number"))?),
        Kind::Enum(_) => Value::EnumNumber(parse_enum(field, text)?),
        Kind::Message(_) => return Err("is not a scalar".to_owned()),
    })
}

fn parse_enum(field: &FieldDescriptor, text: &str) -> Result<i32, String> {
    let Kind::Enum(values) = field.kind() else {
        return Err("is not an enum".to_owned());
    };
    if text.is_empty() {
        return Ok(0);
    }
    let prefix = enum_prefix(&values);
    let wanted = text.to_ascii_uppercase();
    let found = values
        .values()
        .find(|value| value.number() != 0 && (value.name() == wanted || value.name() == format!("{prefix}{wanted}")));
    match found {
        Some(value) => Ok(value.number()),
        None => {
            let known: Vec<String> = values
                .values()
                .filter(|value| value.number() != 0)
                .map(|value| {
                    value
                        .name()
                        .strip_prefix(prefix.as_str())
                        .unwrap_or(value.name())
                        .to_owned()
                })
                .collect();
            Err(format!(
                "{} is not one of {}",
                crate::validate::quoted(text),
                known.join(", ")
            ))
        }
    }
}

fn parse_partial_date(field: &FieldDescriptor, text: &str) -> Result<Value, String> {
    let Kind::Message(message) = field.kind() else {
        return Err("is not a date".to_owned());
    };
    let refused = || {
        format!(
            "{} is not a date as YYYY, YYYY-MM or YYYY-MM-DD",
            crate::validate::quoted(text)
        )
    };
    let parts: Vec<&str> = text.split('-').collect();
    if parts.is_empty() || parts.len() > 3 || parts[0].len() != 4 || parts[1..].iter().any(|part| part.len() != 2) {
        return Err(refused());
    }
    let mut date = DynamicMessage::new(message);
    for (part, name) in parts.iter().zip(["year", "month", "day"]) {
        let number: i32 = part.parse().map_err(|_| refused())?;
        date.try_set_field_by_name(name, Value::I32(number))
            .map_err(|error| error.to_string())?;
    }
    Ok(Value::Message(date))
}

fn parse_json(holder: &DynamicMessage, field: &FieldDescriptor, text: &str) -> Result<Value, String> {
    let items: serde_json::Value =
        serde_json::from_str(text).map_err(|error| format!("is not a JSON array of objects: {error}"))?;
    // Read through a message holding only this field, as proto3 JSON reads it.
    let whole = serde_json::json!({ field.name(): items });
    let alone = DynamicMessage::deserialize(holder.descriptor(), whole).map_err(|error| error.to_string())?;
    Ok(alone.get_field(field).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initiative_layout() -> Layout {
        let pool = prost_reflect::DescriptorPool::decode(sse_proto::FILE_DESCRIPTOR_SET).expect("contracts");
        Layout::new(
            pool.get_message_by_name("sse.initiatives.v1.Initiative")
                .expect("initiative"),
        )
    }

    #[test]
    fn the_layout_follows_the_message_and_leaves_out_output_only_fields() {
        let layout = initiative_layout();
        assert_eq!(
            layout.headers(),
            [
                "name",
                "display_name",
                "description",
                "legal_form",
                "countries",
                "territories",
                "location.latitude",
                "location.longitude",
                "sdg_goals",
                "sdg_targets",
                "status",
                "start_date",
                "end_date",
                "website",
                "identifiers",
                "sources",
                "related_legal_texts"
            ]
        );
    }

    #[test]
    fn a_row_reads_back_as_written() {
        let layout = initiative_layout();
        let headers: Vec<String> = layout.headers().iter().map(|header| (*header).to_owned()).collect();
        let positions = layout.read_headers(&headers).expect("headers");
        let cells = csv::StringRecord::from(vec![
            "initiatives/a",
            "Café; \"la\", coop",
            "line one\nline two",
            "cooperative",
            "FR; SN",
            "FR-75",
            "48.85",
            "2.35",
            "8;5",
            "8.5",
            "ACTIVE",
            "2007",
            "2023-04-15",
            "",
            r#"[{"scheme":"siren","value":"1;2"}]"#,
            "",
            "",
        ]);
        let resource = layout.parse(&positions, &cells).expect("a valid row");
        let row = layout.row(&resource);
        assert_eq!(row[3], "COOPERATIVE");
        assert_eq!(row[4], "FR;SN");
        assert_eq!(row[11], "2007");
        assert_eq!(row[12], "2023-04-15");
        assert_eq!(row[14], r#"[{"scheme":"siren","value":"1;2"}]"#);
        let again = layout
            .parse(&positions, &csv::StringRecord::from(row.clone()))
            .expect("again");
        assert_eq!(layout.row(&again), row);
    }

    #[test]
    fn bad_cells_are_named_with_their_reason() {
        let layout = initiative_layout();
        let headers = vec!["legal_form".to_owned(), "sdg_goals".to_owned(), "start_date".to_owned()];
        let positions = layout.read_headers(&headers).expect("headers");
        let errors = layout
            .parse(&positions, &csv::StringRecord::from(vec!["COOP", "8;x", "2023-4"]))
            .expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
        assert_eq!(fields, ["legal_form", "sdg_goals", "start_date"]);
        assert!(errors[0].reason.contains("COOPERATIVE"), "{errors:?}");
        let unknown = layout.read_headers(&["nom".to_owned()]).expect_err("unknown");
        assert_eq!(unknown[0].field, "nom");
    }

    #[test]
    fn escaped_separators_stay_inside_their_item() {
        assert_eq!(split(r"a\;b;c\\"), ["a;b", r"c\"]);
        assert_eq!(join(["a;b".to_owned(), r"c\".to_owned()].into_iter()), r"a\;b;c\\");
    }
}
