//! The OpenAPI 3.1 document of the REST API, generated from the same route table that serves it
//! and from the message descriptors: every route, its path and query parameters, its body and
//! response schemas, and the error shape. What the contracts say of each field
//! (`google.api.field_behavior`, `sse.type.v1.field_limits`, read through
//! [`sse_proto::contract`]) becomes `required`, `readOnly` and the bounds the server enforces, so
//! that a request valid by the document is one the server accepts, and the reverse.

use std::collections::BTreeMap;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};
use sse_platform::access::{Effect, METHODS, Scope};
use sse_proto::{
    contract::{self, FieldBehavior},
    types::{CodeList, FieldLimits},
};

use crate::rest::routes::Route;

/// Text fields refuse control characters other than tab and newline (`validate::forbidden_char`).
const PLAIN_TEXT: &str = "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F]*$";
/// The same, with at least one character that is not white space: what a required text needs.
const REQUIRED_TEXT: &str = "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F][^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F]*$";
/// A path segment that is a resource id: AIP-122 ids, which every service accepts.
const ID_SEGMENT: &str = "^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$";

/// The media types of the RPCs that answer a `google.api.HttpBody`, by full method name.
const HTTP_BODY_MEDIA_TYPES: &[(&str, &[&str])] = &[
    (
        "sse.indicators.v1.IndicatorService.ExportObservations",
        &[
            "application/vnd.sdmx.data+csv;version=2.0.0",
            "application/vnd.sdmx.data+json;version=2.0.0",
        ],
    ),
    (
        "sse.indicators.v1.IndicatorService.GetDataStructure",
        &["application/vnd.sdmx.structure+xml;version=2.1"],
    ),
];

pub fn document(routes: &[Route]) -> Value {
    let mut schemas = Schemas::default();
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut operation_ids: Vec<String> = Vec::new();
    for route in routes {
        let mut operation = operation(route, &mut schemas);
        // An RPC with additional bindings has several operations: the later ones get a number,
        // as grpc-gateway's generator numbers them.
        let base = format!("{}_{}", route.method.parent_service().name(), route.method.name());
        let mut operation_id = base.clone();
        let mut counter = 1;
        while operation_ids.contains(&operation_id) {
            counter += 1;
            operation_id = format!("{base}{counter}");
        }
        operation["operationId"] = json!(operation_id);
        operation_ids.push(operation_id);
        paths
            .entry(route.template.openapi_path().0)
            .or_default()
            .insert(route.http_method.as_str().to_lowercase(), operation);
    }
    let mut components = schemas.done();
    components.insert(
        "Status".to_owned(),
        json!({
            "type": "object",
            "description": "A google.rpc.Status: the gRPC code, a message, and details such as ErrorInfo and BadRequest.",
            "properties": {
                "code": {"type": "integer", "format": "int32"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object", "properties": {"@type": {"type": "string"}}, "additionalProperties": true}},
            },
        }),
    );
    let mut responses = Map::new();
    for (status, name, description) in ERROR_RESPONSES {
        responses.insert(
            (*name).to_owned(),
            json!({"description": format!("{status}: {description}"), "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}}),
        );
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "SSE Observatory",
            "version": "v1",
            "description": "REST/JSON mapping of the observatory's gRPC services (initiatives, indicators, law guide, access), generated from their google.api.http annotations. Bodies follow the proto3 JSON mapping. Required fields, read-only fields and bounds come from the contracts' google.api.field_behavior and sse.type.v1.field_limits annotations, which the services' validation follows. Reads are public; writes need an API key.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": responses,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API key (`sse_…`), sent as `Authorization: Bearer <key>`."},
            },
        },
    })
}

/// The error answers every operation may give, as grpc-gateway maps gRPC codes to HTTP.
const ERROR_RESPONSES: &[(u16, &str, &str)] = &[
    (
        400,
        "BadRequest",
        "INVALID_ARGUMENT or FAILED_PRECONDITION; a BadRequest detail names every field violation",
    ),
    (
        401,
        "Unauthenticated",
        "UNAUTHENTICATED: no API key, or one that is unknown, expired or revoked",
    ),
    (
        403,
        "PermissionDenied",
        "PERMISSION_DENIED: the key lacks the scope this method needs",
    ),
    (404, "NotFound", "NOT_FOUND"),
    (409, "Conflict", "ALREADY_EXISTS, or ABORTED for a stale etag"),
    (
        429,
        "TooManyRequests",
        "RESOURCE_EXHAUSTED: over the rate limit; Retry-After says when to retry",
    ),
    (
        503,
        "Unavailable",
        "UNAVAILABLE: a service is draining or unreachable; retry",
    ),
];

/// Whether the RPC writes, and so needs an API key (the access rules of `sse_platform::access`).
fn needs_key(route: &Route) -> bool {
    let path = route.grpc_path();
    METHODS
        .iter()
        .find(|(method, _)| *method == path)
        .is_none_or(|(_, rule)| rule.effect == Effect::Writes || rule.scope == Scope::Admin)
}

fn operation(route: &Route, schemas: &mut Schemas) -> Value {
    let input = route.method.input();
    let described = contract::message(input.full_name());
    let mut parameters = Vec::new();
    let (_, path_parameters) = route.template.openapi_path();
    for (name, field) in &path_parameters {
        let pattern = route
            .template
            .variables
            .iter()
            .position(|variable| variable == field)
            .map(|index| route.template.variable_pattern(index))
            .unwrap_or_default();
        let schema = match segment_pattern(&input, field, &pattern, name, &path_parameters) {
            Some(segment) => json!({"type": "string", "pattern": segment}),
            None => json!({"type": "string"}),
        };
        parameters.push(json!({
            "name": name,
            "in": "path",
            "required": true,
            "description": format!("Part of the request field `{field}`, which is `{pattern}`."),
            "schema": schema,
        }));
    }
    if route.body != "*" {
        let bound: Vec<&str> = route.template.variables.iter().map(String::as_str).collect();
        for field in input.fields() {
            if field.name() == route.body
                || bound
                    .iter()
                    .any(|variable| variable.split('.').next() == Some(field.name()))
            {
                continue;
            }
            let Some(mut schema) = query_schema(&field) else {
                continue;
            };
            schemas.note_code_list(&field);
            if field.name() == "update_mask"
                && let Some(pattern) = update_mask_pattern(&input, &route.body)
            {
                schema["pattern"] = json!(pattern);
            }
            if field.name() == "read_mask"
                && let Some(pattern) = read_mask_pattern(&route.method.output())
            {
                schema["pattern"] = json!(pattern);
            }
            let required = described
                .and_then(|message| message.field(field.name()))
                .is_some_and(|field| field.is(FieldBehavior::Required));
            parameters.push(json!({"name": field.json_name(), "in": "query", "required": required, "schema": schema}));
        }
    }
    let mut operation = Map::new();
    let service = route.method.parent_service().name().to_owned();
    operation.insert(
        "operationId".to_owned(),
        json!(format!("{service}_{}", route.method.name())),
    );
    operation.insert("summary".to_owned(), json!(route.method.name()));
    operation.insert("tags".to_owned(), json!([service]));
    if !parameters.is_empty() {
        operation.insert("parameters".to_owned(), Value::Array(parameters));
    }
    // A PATCH body is a partial resource: its required fields are required of the resource,
    // not of the patch, which names only what it changes.
    let partial = route.http_method == http::Method::PATCH;
    let body_schema = match route.body.as_str() {
        "" => None,
        "*" => Some(schemas.request_body(&input, &bound_fields(route))),
        field => input.get_field_by_name(field).map(|field| match field.kind() {
            Kind::Message(message) if partial && !field.is_list() => schemas.partial(&message),
            _ => schemas.field(&field),
        }),
    };
    if let Some(schema) = body_schema {
        // A PATCH without a body changes nothing, which the server answers with the resource.
        operation.insert(
            "requestBody".to_owned(),
            json!({"required": !partial, "content": {"application/json": {"schema": schema}}}),
        );
    }
    let output = route.method.output();
    let mut responses = Map::new();
    if output.full_name() == "google.api.HttpBody" {
        let media_types = HTTP_BODY_MEDIA_TYPES
            .iter()
            .find(|(method, _)| *method == route.method.full_name())
            .map_or(&["application/octet-stream"][..], |(_, types)| *types);
        let content: Map<String, Value> = media_types
            .iter()
            .map(|media_type| ((*media_type).to_owned(), json!({"schema": {}})))
            .collect();
        responses.insert(
            "200".to_owned(),
            json!({"description": "The document, as its media type says.", "content": content}),
        );
    } else {
        let mut response_schema = match output.get_field_by_name(&route.response_body) {
            Some(field) if !route.response_body.is_empty() => schemas.field(&field),
            _ => schemas.reference(&output),
        };
        if input.get_field_by_name("validate_only").is_some() {
            // AIP-163: a request that only validates is answered with an empty message.
            response_schema = json!({"anyOf": [response_schema, {"type": "object", "maxProperties": 0,
                "description": "The answer to a request with validateOnly: nothing was written."}]});
        }
        if route.method.is_server_streaming() {
            response_schema = json!({
                "description": "Newline-delimited JSON: one object per streamed message.",
                "type": "object",
                "properties": {"result": response_schema, "error": {"$ref": "#/components/schemas/Status"}},
            });
        }
        responses.insert(
            "200".to_owned(),
            json!({"description": "OK", "content": {"application/json": {"schema": response_schema}}}),
        );
    }
    for (status, name, _) in ERROR_RESPONSES {
        responses.insert(
            status.to_string(),
            json!({"$ref": format!("#/components/responses/{name}")}),
        );
    }
    // The HTTP server itself refuses a request line or headers too long to read (about 100 KB),
    // before the gateway sees the request, with an empty body.
    responses.insert(
        "414".to_owned(),
        json!({"description": "The request line is too long."}),
    );
    responses.insert("431".to_owned(), json!({"description": "The headers are too large."}));
    responses.insert(
        "default".to_owned(),
        json!({"description": "Another error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}}),
    );
    operation.insert("responses".to_owned(), Value::Object(responses));
    let security = if needs_key(route) {
        json!([{"bearer": []}])
    } else {
        // Public: a key may be sent (it is checked if sent), none is needed.
        json!([{}, {"bearer": []}])
    };
    operation.insert("security".to_owned(), security);
    Value::Object(operation)
}

/// The paths an update mask of the resource in the body field `body` may hold, comma-separated,
/// as the JSON mapping writes them (lowerCamelCase): its writable fields, the fields it ignores
/// (AIP-161), or `*`.
fn update_mask_pattern(input: &MessageDescriptor, body: &str) -> Option<String> {
    let Kind::Message(resource) = input.get_field_by_name(body)?.kind() else {
        return None;
    };
    let described = contract::message(resource.full_name())?;
    let names: Vec<String> = described
        .writable()
        .iter()
        .chain(described.ignored_in_mask())
        .filter_map(|name| resource.get_field_by_name(name))
        .map(|field| field.json_name().to_owned())
        .collect();
    Some(mask_pattern(&names))
}

/// The paths a read mask (AIP-157) may hold, comma-separated, as the JSON mapping writes them
/// (lowerCamelCase): the fields of the resource the response carries (its first field whose
/// message the contract describes), or `*`.
fn read_mask_pattern(output: &MessageDescriptor) -> Option<String> {
    let resource = output.fields().find_map(|field| match field.kind() {
        Kind::Message(message) if contract::message(message.full_name()).is_some() => Some(message),
        _ => None,
    })?;
    let names: Vec<String> = resource.fields().map(|field| field.json_name().to_owned()).collect();
    Some(mask_pattern(&names))
}

/// A field mask's pattern: `names` comma-separated, or `*`, or nothing.
fn mask_pattern(names: &[String]) -> String {
    let one = format!("({})", names.join("|"));
    format!("^(\\*|{one}(,{one})*)?$")
}

/// The request fields a route's path sets, which a `*` body therefore does not carry.
fn bound_fields(route: &Route) -> Vec<String> {
    route
        .template
        .variables
        .iter()
        .map(|variable| variable.split('.').next().unwrap_or_default().to_owned())
        .collect()
}

/// The pattern of one path parameter: the part of the field's own pattern (a full resource name
/// such as `^indicators/ID/observations/ID$`) that falls on this segment, or an AIP-122 id.
fn segment_pattern(
    input: &MessageDescriptor,
    field_path: &str,
    template: &str,
    parameter: &str,
    parameters: &[(String, String)],
) -> Option<String> {
    let field_name = field_path.split('.').next_back()?;
    let message = field_path
        .split('.')
        .rev()
        .skip(1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .try_fold(input.clone(), |message, name| {
            match message.get_field_by_name(name)?.kind() {
                Kind::Message(inner) => Some(inner),
                _ => None,
            }
        })?;
    let pattern = contract::message(message.full_name())
        .and_then(|described| described.field(field_name))
        .and_then(|field| field.limits.as_ref())
        .map(|limits| limits.pattern.clone())
        .filter(|pattern| !pattern.is_empty());
    // Which `*` of the template this parameter is.
    let position = parameters
        .iter()
        .filter(|(_, field)| field == field_path)
        .position(|(name, _)| name == parameter)?;
    let Some(pattern) = pattern else {
        return Some(ID_SEGMENT.to_owned());
    };
    let inner = pattern.strip_prefix('^')?.strip_suffix('$')?;
    let parts: Vec<&str> = inner.split('/').collect();
    let segments: Vec<&str> = template.split('/').collect();
    if parts.len() != segments.len() {
        return Some(ID_SEGMENT.to_owned());
    }
    let part = segments
        .iter()
        .zip(&parts)
        .filter(|(segment, _)| **segment == "*")
        .nth(position)
        .map(|(_, part)| *part)?;
    Some(format!("^{part}$"))
}

/// Query parameters carry scalars, enums, repeated scalars and the well-known types written as
/// strings; other messages are set through the body.
fn query_schema(field: &FieldDescriptor) -> Option<Value> {
    let limits = field_limits(field);
    let mut scalar = match field.kind() {
        Kind::Message(message) => well_known(&message)?,
        // A query parameter may give an enum by number, as grpc-gateway and Envoy accept.
        Kind::Enum(descriptor) => {
            let mut values = enum_names(field, &descriptor);
            let numbers: Vec<Value> = descriptor
                .values()
                .filter(|value| values.contains(&json!(value.name())))
                .map(|value| json!(value.number().to_string()))
                .collect();
            values.extend(numbers);
            json!({"type": "string", "enum": values})
        }
        kind => scalar_schema(&kind),
    };
    constrain_single(&mut scalar, field, limits.as_ref());
    Some(if field.is_list() {
        let mut list = json!({"type": "array", "items": scalar});
        constrain_list(&mut list, limits.as_ref());
        list
    } else {
        scalar
    })
}

/// The contract's limits of a field, if it states any.
fn field_limits(field: &FieldDescriptor) -> Option<FieldLimits> {
    contract::message(field.parent_message().full_name())
        .and_then(|message| message.field(field.name()))
        .and_then(|field| field.limits.clone())
}

fn behaviors(field: &FieldDescriptor) -> Vec<FieldBehavior> {
    contract::message(field.parent_message().full_name())
        .and_then(|message| message.field(field.name()))
        .map(|field| field.behaviors.clone())
        .unwrap_or_default()
}

/// The names of an enum a field takes: all of them, except the `_UNSPECIFIED` value where the
/// server refuses it (a required field, or an element of a list, where it would mean nothing).
fn enum_names(field: &FieldDescriptor, descriptor: &prost_reflect::EnumDescriptor) -> Vec<Value> {
    let refuses_unspecified = field.is_list() || behaviors(field).contains(&FieldBehavior::Required);
    descriptor
        .values()
        .filter(|value| !(refuses_unspecified && value.number() == 0))
        .map(|value| json!(value.name()))
        .collect()
}

/// The bounds of one value (a string, a number, or an element of a list).
fn constrain_single(schema: &mut Value, field: &FieldDescriptor, limits: Option<&FieldLimits>) {
    let Some(object) = schema.as_object_mut() else { return };
    let required = behaviors(field).contains(&FieldBehavior::Required);
    let is_text = matches!(field.kind(), Kind::String);
    if let Some(limits) = limits {
        if limits.max_length > 0 {
            object.insert("maxLength".to_owned(), json!(limits.max_length));
        }
        if let Some(minimum) = limits.minimum {
            object.insert("minimum".to_owned(), number(minimum));
        }
        if let Some(maximum) = limits.maximum {
            object.insert("maximum".to_owned(), number(maximum));
        }
        if !limits.format.is_empty() {
            object.insert("format".to_owned(), json!(limits.format));
        }
        if let Some(list) = code_list_schema(limits.code_list()) {
            object.clear();
            if code_list_values(limits.code_list()).0.len() > LONG_CODE_LIST {
                let name = code_list_name(limits.code_list());
                object.insert("type".to_owned(), json!("string"));
                object.insert("format".to_owned(), json!(name));
                object.insert(
                    "description".to_owned(),
                    json!(format!("One of the values of the schema {name}.")),
                );
            } else {
                object.insert("$ref".to_owned(), list);
            }
            if !required && !field.is_list() {
                // An empty string is the unset value of proto3, which every optional field takes.
                *schema = json!({"anyOf": [schema.clone(), {"const": ""}]});
            }
            return;
        }
        if !limits.pattern.is_empty() {
            let pattern = if required || field.is_list() {
                limits.pattern.clone()
            } else {
                // An empty string is the unset value of proto3, which every optional field takes.
                format!("^$|{}", limits.pattern)
            };
            object.insert("pattern".to_owned(), json!(pattern));
            return;
        }
    }
    // An etag is compared, never stored: any text is one (a stale one gets 409).
    if is_text && !object.contains_key("format") && field.name() != "etag" {
        let pattern = if required { REQUIRED_TEXT } else { PLAIN_TEXT };
        object.insert("pattern".to_owned(), json!(pattern));
    }
}

/// The bounds of a list: how many values, each once or not.
fn constrain_list(schema: &mut Value, limits: Option<&FieldLimits>) {
    let (Some(object), Some(limits)) = (schema.as_object_mut(), limits) else {
        return;
    };
    if limits.max_items > 0 {
        object.insert("maxItems".to_owned(), json!(limits.max_items));
    }
    if limits.min_items > 0 {
        object.insert("minItems".to_owned(), json!(limits.min_items));
    }
    if limits.unique_items {
        object.insert("uniqueItems".to_owned(), json!(true));
    }
}

fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

/// A reference to the schema of a code list.
fn code_list_schema(list: CodeList) -> Option<Value> {
    (list != CodeList::Unspecified).then(|| json!(format!("#/components/schemas/{}", code_list_name(list))))
}

/// Code lists this long are named by `format` where a field uses them, the component still
/// listing every value: tools that enumerate an `enum` (test generators, form builders) would
/// otherwise go through thousands of subdivision codes for each field.
const LONG_CODE_LIST: usize = 1000;

fn code_list_name(list: CodeList) -> String {
    let name = list.as_str_name().trim_start_matches("CODE_LIST_").to_lowercase();
    let camel: String = name
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    format!("sse.codes.{camel}")
}

/// The values of a code list, from the reference data the services check against.
fn code_list_values(list: CodeList) -> (Vec<String>, &'static str) {
    let owned = |codes: Vec<&str>| codes.into_iter().map(str::to_owned).collect::<Vec<_>>();
    let sdg = sse_reference::sdg();
    match list {
        CodeList::Unspecified => (Vec::new(), ""),
        CodeList::Country => (
            owned(sse_reference::country_codes()),
            "An ISO 3166-1 alpha-2 country code.",
        ),
        CodeList::Subdivision => (
            owned(sse_reference::subdivision_codes()),
            "An ISO 3166-2 subdivision code.",
        ),
        CodeList::SdgTarget => (
            sdg.targets.iter().map(|target| target.code.clone()).collect(),
            "An SDG target code.",
        ),
        CodeList::SdgIndicator => (
            sdg.indicators.iter().map(|indicator| indicator.code.clone()).collect(),
            "An SDG indicator code.",
        ),
        CodeList::SdgLanguage => (
            sse_reference::Language::ALL
                .iter()
                .map(|language| language.code().to_owned())
                .collect(),
            "A language of the SDG lists.",
        ),
        CodeList::SdgGoalOrTarget => (
            sdg.goals
                .iter()
                .map(|goal| goal.number.to_string())
                .chain(sdg.targets.iter().map(|target| target.code.clone()))
                .collect(),
            "An SDG (8) or SDG target (8.5) code.",
        ),
        CodeList::Language => (owned(sse_reference::ISO_639_1.to_vec()), "An ISO 639-1 language code."),
        CodeList::Jurisdiction => (
            sse_reference::ORGANISATIONS
                .iter()
                .map(|(code, _, _)| (*code).to_owned())
                .chain(owned(sse_reference::country_codes()))
                .chain(owned(sse_reference::subdivision_codes()))
                .collect(),
            "A jurisdiction: an ISO 3166-1 alpha-2 or ISO 3166-2 code, or an organisation's code.",
        ),
        CodeList::RefArea => (
            ["WORLD", "EU"]
                .into_iter()
                .map(str::to_owned)
                .chain(owned(sse_reference::country_codes()))
                .chain(owned(sse_reference::subdivision_codes()))
                .collect(),
            "An area: WORLD, EU, or an ISO 3166-1 alpha-2 or ISO 3166-2 code.",
        ),
    }
}

fn scalar_schema(kind: &Kind) -> Value {
    match kind {
        Kind::Double | Kind::Float => {
            json!({"type": "number", "format": if matches!(kind, Kind::Double) { "double" } else { "float" }})
        }
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => json!({"type": "integer", "format": "int32"}),
        Kind::Uint32 | Kind::Fixed32 => json!({"type": "integer", "format": "int64", "minimum": 0}),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => json!({"type": "string", "format": "int64"}),
        Kind::Uint64 | Kind::Fixed64 => json!({"type": "string", "format": "uint64"}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::String => json!({"type": "string"}),
        Kind::Bytes => json!({"type": "string", "format": "byte"}),
        Kind::Enum(descriptor) => {
            let values: Vec<String> = descriptor.values().map(|value| value.name().to_owned()).collect();
            json!({"type": "string", "enum": values})
        }
        Kind::Message(message) => json!({"$ref": format!("#/components/schemas/{}", message.full_name())}),
    }
}

/// The JSON form of the well-known types the contracts use.
fn well_known(message: &MessageDescriptor) -> Option<Value> {
    Some(match message.full_name() {
        "google.protobuf.Timestamp" => json!({"type": "string", "format": "date-time"}),
        "google.protobuf.Duration" => json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"}),
        "google.protobuf.FieldMask" => {
            json!({"type": "string", "description": "Comma-separated field paths in lowerCamelCase."})
        }
        "google.protobuf.Empty" => json!({"type": "object"}),
        "google.protobuf.Struct" => json!({"type": "object", "additionalProperties": true}),
        "google.protobuf.Value" => json!({}),
        "google.protobuf.StringValue" => json!({"type": "string"}),
        "google.protobuf.BoolValue" => json!({"type": "boolean"}),
        _ => return None,
    })
}

/// The message schemas referenced so far, each described once under its full name.
#[derive(Default)]
struct Schemas {
    done: BTreeMap<String, Value>,
    code_lists: Vec<CodeList>,
}

impl Schemas {
    fn reference(&mut self, message: &MessageDescriptor) -> Value {
        if let Some(schema) = well_known(message) {
            return schema;
        }
        let name = message.full_name().to_owned();
        if !self.done.contains_key(&name) {
            self.done.insert(name.clone(), Value::Null);
            let schema = self.object(message, true, &[]);
            self.done.insert(name.clone(), schema);
        }
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    /// A resource as a PATCH body carries it: any subset of its fields.
    fn partial(&mut self, message: &MessageDescriptor) -> Value {
        let name = format!("{}.Patch", message.full_name());
        if !self.done.contains_key(&name) {
            self.done.insert(name.clone(), Value::Null);
            let mut schema = self.object(message, false, &[]);
            schema["description"] = json!(format!(
                "The fields of a {} to change; with no update mask, the fields given are those changed.",
                message.name()
            ));
            self.done.insert(name.clone(), schema);
        }
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    /// A whole request as the body, without the fields its path sets.
    fn request_body(&mut self, message: &MessageDescriptor, bound: &[String]) -> Value {
        if bound.is_empty() {
            return self.reference(message);
        }
        self.object(message, true, bound)
    }

    fn object(&mut self, message: &MessageDescriptor, with_required: bool, leave_out: &[String]) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for field in message.fields() {
            if leave_out.iter().any(|name| name == field.name()) {
                continue;
            }
            let mut schema = self.field(&field);
            let field_behaviors = behaviors(&field);
            if field_behaviors.contains(&FieldBehavior::Required) {
                // A patch may leave a required field out, but not give it empty: without an
                // update mask, the fields given are those written.
                if with_required {
                    required.push(json!(field.json_name()));
                }
            } else {
                // The proto3 JSON mapping reads `null` as the field's default: unset.
                schema = json!({"anyOf": [schema, {"type": "null"}]});
            }
            if field_behaviors.contains(&FieldBehavior::OutputOnly)
                || field_behaviors.contains(&FieldBehavior::Identifier)
            {
                // On the property itself, where generators look for it.
                match schema.get("anyOf") {
                    Some(_) => schema["readOnly"] = json!(true),
                    None => schema = json!({"allOf": [schema], "readOnly": true}),
                }
            }
            properties.insert(field.json_name().to_owned(), schema);
        }
        // The proto3 JSON parser refuses a field the message does not have.
        let mut schema = json!({"type": "object", "properties": properties, "additionalProperties": false});
        if !required.is_empty() {
            schema["required"] = Value::Array(required);
        }
        schema
    }

    fn field(&mut self, field: &FieldDescriptor) -> Value {
        if field.is_map() {
            if let Kind::Message(entry) = field.kind()
                && let Some(value) = entry.get_field_by_name("value")
            {
                let values = self.single(&value);
                return json!({"type": "object", "additionalProperties": values});
            }
            return json!({"type": "object"});
        }
        self.note_code_list(field);
        let limits = field_limits(field);
        let mut single = self.single(field);
        constrain_single(&mut single, field, limits.as_ref());
        if field.is_list() {
            let mut list = json!({"type": "array", "items": single});
            constrain_list(&mut list, limits.as_ref());
            list
        } else {
            single
        }
    }

    /// Remembers the code list a field's values come from, so that its schema is written.
    fn note_code_list(&mut self, field: &FieldDescriptor) {
        if let Some(limits) = field_limits(field)
            && limits.code_list() != CodeList::Unspecified
            && !self.code_lists.contains(&limits.code_list())
        {
            self.code_lists.push(limits.code_list());
        }
    }

    fn single(&mut self, field: &FieldDescriptor) -> Value {
        match field.kind() {
            Kind::Message(message) => self.reference(&message),
            Kind::Enum(descriptor) => {
                // The proto3 JSON mapping reads an enum by name or by number.
                let names = enum_names(field, &descriptor);
                let numbers: Vec<Value> = descriptor
                    .values()
                    .filter(|value| names.contains(&json!(value.name())))
                    .map(|value| json!(value.number()))
                    .collect();
                json!({"anyOf": [{"type": "string", "enum": names}, {"type": "integer", "enum": numbers}]})
            }
            kind => scalar_schema(&kind),
        }
    }

    fn done(mut self) -> Map<String, Value> {
        for list in std::mem::take(&mut self.code_lists) {
            let (values, description) = code_list_values(list);
            self.done.insert(
                code_list_name(list),
                json!({"type": "string", "description": description, "enum": values}),
            );
        }
        self.done.into_iter().collect()
    }
}
