//! From an HTTP request to a gRPC request message and back, as grpc-gateway and Envoy's
//! transcoder do it: path variables and query parameters set request fields, the body fills the
//! field the rule names (or the whole request), and the proto3 JSON mapping reads and writes
//! every message.

use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage, SerializeOptions};
use serde_json::{Map, Value};
use sse_platform::validate::quoted;

use super::routes::Route;

/// What went wrong reading a request: the caller's mistake, said in a sentence.
#[derive(Debug)]
pub struct BadRequest(pub String);

/// The request message for `route`, from the path values, the query string and the body. The
/// body is read straight into the message (no intermediate JSON tree, which would hold several
/// times its size); the path values and query parameters, small, are then laid over it.
pub fn request_message(
    route: &Route,
    path_values: &[String],
    query: &str,
    body: &[u8],
) -> Result<DynamicMessage, BadRequest> {
    let input = route.method.input();
    let body_given = !body.iter().all(u8::is_ascii_whitespace);
    let mut request = DynamicMessage::new(input.clone());
    let mut body_keys = Vec::new();
    match route.body.as_str() {
        "" => {}
        "*" if body_given => request = from_json(input.clone(), body)?,
        "*" => {}
        field if body_given => {
            let descriptor = field_by_name(&input, field)?;
            match descriptor.kind() {
                Kind::Message(resource) if !descriptor.is_list() => {
                    if route.http_method == http::Method::PATCH {
                        body_keys = object_keys(body)?;
                    }
                    let value = from_json(resource, body)?;
                    request.set_field(&descriptor, prost_reflect::Value::Message(value));
                }
                _ => {
                    let value: Value = serde_json::from_slice(body)
                        .map_err(|error| BadRequest(format!("the body is not JSON: {error}")))?;
                    let mut json = Map::new();
                    json.insert(descriptor.json_name().to_owned(), value);
                    request = DynamicMessage::deserialize(input.clone(), Value::Object(json))
                        .map_err(|error| BadRequest(format!("invalid request: {error}")))?;
                }
            }
        }
        _ => {}
    }
    let mut json = Map::new();
    for (field_path, value) in route.template.variables.iter().zip(path_values) {
        set_path(&input, &mut json, field_path, Value::String(value.clone()), false)?;
    }
    // As grpc-gateway does: with `body: "*"` the query string sets nothing; otherwise it sets
    // every field that neither the path nor the body sets.
    if route.body != "*" {
        let bound: Vec<&str> = route.template.variables.iter().map(String::as_str).collect();
        let body_field = input.get_field_by_name(&route.body);
        for (key, value) in url_query(query) {
            let head = key.split('.').next().unwrap_or_default();
            let in_body = body_field
                .as_ref()
                .is_some_and(|field| head == field.name() || head == field.json_name());
            if bound.contains(&key.as_str()) || in_body {
                continue;
            }
            set_path(&input, &mut json, &key, Value::String(value), true)?;
        }
    }
    // A PATCH without an update mask, or with an empty one, updates the fields its body names,
    // as grpc-gateway derives the mask from the body.
    if let Some(mask) = input.get_field_by_name("update_mask")
        && !body_keys.is_empty()
        && json
            .get(mask.json_name())
            .is_none_or(|given| given.as_str().is_some_and(str::is_empty))
    {
        json.insert(mask.json_name().to_owned(), Value::String(body_keys.join(",")));
    }
    let overlay = DynamicMessage::deserialize(input, Value::Object(json))
        .map_err(|error| BadRequest(format!("invalid request: {error}")))?;
    lay_over(&mut request, &overlay);
    Ok(request)
}

/// A message of `descriptor` read from JSON bytes.
fn from_json(descriptor: MessageDescriptor, body: &[u8]) -> Result<DynamicMessage, BadRequest> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let message = DynamicMessage::deserialize(descriptor, &mut deserializer)
        .and_then(|message| deserializer.end().map(|()| message))
        .map_err(|error| match error.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                BadRequest(format!("the body is not JSON: {error}"))
            }
            _ if !body.trim_ascii_start().starts_with(b"{") => BadRequest("the body must be a JSON object".to_owned()),
            _ => BadRequest(format!("invalid request: {error}")),
        })?;
    Ok(message)
}

/// The top-level keys of a JSON object, without reading its values into memory.
fn object_keys(body: &[u8]) -> Result<Vec<String>, BadRequest> {
    let keys: std::collections::BTreeMap<String, serde::de::IgnoredAny> =
        serde_json::from_slice(body).map_err(|error| BadRequest(format!("the body is not JSON: {error}")))?;
    Ok(keys.into_keys().collect())
}

/// Sets every field `overlay` sets on `target`, going into messages both set, so that a path
/// value (`initiative.name`) lands inside the body's resource.
fn lay_over(target: &mut DynamicMessage, overlay: &DynamicMessage) {
    for (field, value) in overlay.fields() {
        if let prost_reflect::Value::Message(inner) = value
            && target.has_field(&field)
            && let prost_reflect::Value::Message(existing) = target.get_field_mut(&field)
        {
            lay_over(existing, inner);
            continue;
        }
        target.set_field(&field, value.clone());
    }
}

/// The HTTP body of a unary response, and the etag of the resource it is, if any: the whole
/// message, or the field the rule names, written straight to JSON bytes.
pub fn response_body(route: &Route, message: &DynamicMessage) -> Result<(Vec<u8>, Option<String>), serde_json::Error> {
    let options = SerializeOptions::new()
        .skip_default_fields(true)
        .stringify_64_bit_integers(true);
    let resource = match route.response_body.as_str() {
        "" => None,
        field => match message.get_field_by_name(field).as_deref() {
            Some(prost_reflect::Value::Message(resource)) => Some(resource.clone()),
            _ => return Ok((serde_json::to_vec(&response_json(route, message)?)?, None)),
        },
    };
    let written = resource.as_ref().unwrap_or(message);
    let etag = resource
        .as_ref()
        .and_then(|resource| match resource.get_field_by_name("etag").as_deref() {
            Some(prost_reflect::Value::String(etag)) if !etag.is_empty() => Some(etag.clone()),
            _ => None,
        });
    let mut bytes = Vec::with_capacity(512);
    written.serialize_with_options(&mut serde_json::Serializer::new(&mut bytes), &options)?;
    Ok((bytes, etag))
}

/// The JSON of a response message: the whole message, or the field the rule names.
pub fn response_json(route: &Route, message: &DynamicMessage) -> Result<Value, serde_json::Error> {
    let options = SerializeOptions::new()
        .skip_default_fields(true)
        .stringify_64_bit_integers(true);
    let whole = message.serialize_with_options(serde_json::value::Serializer, &options)?;
    if route.response_body.is_empty() {
        return Ok(whole);
    }
    let json_name = message
        .descriptor()
        .get_field_by_name(&route.response_body)
        .map(|field| field.json_name().to_owned())
        .unwrap_or_else(|| route.response_body.clone());
    Ok(whole
        .get(&json_name)
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new())))
}

/// Sets the etag an `If-Match` header gives on the request, where the request carries one:
/// on the request itself (delete) or on the resource in its body (update). False when the
/// request has no etag to set, so the header cannot be honoured.
pub fn set_if_match(message: &mut DynamicMessage, route: &Route, etag: &str) -> bool {
    if message.descriptor().get_field_by_name("etag").is_some() {
        message.set_field_by_name("etag", prost_reflect::Value::String(etag.to_owned()));
        return true;
    }
    let updates_existing = route.http_method == http::Method::PATCH;
    if !updates_existing || route.body.is_empty() || route.body == "*" {
        return false;
    }
    match message.get_field_by_name_mut(&route.body) {
        Some(prost_reflect::Value::Message(resource)) if resource.descriptor().get_field_by_name("etag").is_some() => {
            resource.set_field_by_name("etag", prost_reflect::Value::String(etag.to_owned()));
            true
        }
        _ => false,
    }
}

fn field_by_name(message: &MessageDescriptor, name: &str) -> Result<FieldDescriptor, BadRequest> {
    message
        .get_field_by_name(name)
        .or_else(|| message.get_field_by_json_name(name))
        .ok_or_else(|| BadRequest(format!("{} has no field {}", message.name(), quoted(name))))
}

/// Sets `value` at a dotted field path (proto or JSON names), creating the messages on the way.
/// Query parameters arrive as text: booleans become JSON booleans, repeated fields collect every
/// occurrence, and the JSON mapping parses the rest (numbers, enums, timestamps, field masks).
fn set_path(
    message: &MessageDescriptor,
    json: &mut Map<String, Value>,
    path: &str,
    value: Value,
    from_query: bool,
) -> Result<(), BadRequest> {
    let (head, tail) = match path.split_once('.') {
        Some((head, tail)) => (head, Some(tail)),
        None => (path, None),
    };
    let field = field_by_name(message, head)?;
    let key = field.json_name().to_owned();
    match (tail, field.kind()) {
        (Some(tail), Kind::Message(inner)) if !field.is_list() => {
            let entry = json.entry(key).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(object) = entry else {
                return Err(BadRequest(format!("{} is given twice", quoted(head))));
            };
            set_path(&inner, object, tail, value, from_query)
        }
        (Some(_), _) => Err(BadRequest(format!(
            "{} has no fields to set with {}",
            quoted(head),
            quoted(path)
        ))),
        (None, kind) => {
            let value = match (&value, kind) {
                (Value::String(text), Kind::Bool) if from_query => match text.as_str() {
                    "true" | "1" => Value::Bool(true),
                    "false" | "0" => Value::Bool(false),
                    _ => {
                        return Err(BadRequest(format!(
                            "{} takes true or false, not {}",
                            quoted(path),
                            quoted(text)
                        )));
                    }
                },
                // An enum may be given by number, as grpc-gateway and Envoy accept.
                (Value::String(text), Kind::Enum(_)) if from_query => match text.parse::<i32>() {
                    Ok(number) => Value::from(number),
                    Err(_) => value,
                },
                _ => value,
            };
            if field.is_list() {
                match json.entry(key).or_insert_with(|| Value::Array(Vec::new())) {
                    Value::Array(values) => values.push(value),
                    _ => return Err(BadRequest(format!("{} is given twice", quoted(path)))),
                }
            } else {
                json.insert(key, value);
            }
            Ok(())
        }
    }
}

/// The query string's pairs, decoded.
fn url_query(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect()
}
