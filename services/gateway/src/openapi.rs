//! The OpenAPI 3.1 document of the REST API, generated from the same route table that serves it
//! and from the message descriptors: every route, its path and query parameters, its body and
//! response schemas, and the error shape.

use std::collections::BTreeMap;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use crate::rest::routes::Route;

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
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "SSE Observatory",
            "version": "v1",
            "description": "REST/JSON mapping of the observatory's gRPC services (initiatives, indicators, law guide), generated from their google.api.http annotations. Bodies follow the proto3 JSON mapping.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "paths": paths,
        "components": {"schemas": components},
    })
}

fn operation(route: &Route, schemas: &mut Schemas) -> Value {
    let input = route.method.input();
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
        parameters.push(json!({
            "name": name,
            "in": "path",
            "required": true,
            "description": format!("Part of the request field `{field}`, which is `{pattern}`."),
            "schema": {"type": "string"},
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
            let Some(schema) = query_schema(&field) else { continue };
            parameters.push(json!({"name": field.json_name(), "in": "query", "required": false, "schema": schema}));
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
    let body_schema = match route.body.as_str() {
        "" => None,
        "*" => Some(schemas.reference(&input)),
        field => input.get_field_by_name(field).map(|field| schemas.field(&field)),
    };
    if let Some(schema) = body_schema {
        operation.insert(
            "requestBody".to_owned(),
            json!({"required": true, "content": {"application/json": {"schema": schema}}}),
        );
    }
    let output = route.method.output();
    let mut response_schema = match output.get_field_by_name(&route.response_body) {
        Some(field) if !route.response_body.is_empty() => schemas.field(&field),
        _ => schemas.reference(&output),
    };
    if route.method.is_server_streaming() {
        response_schema = json!({
            "description": "Newline-delimited JSON: one object per streamed message.",
            "type": "object",
            "properties": {"result": response_schema, "error": {"$ref": "#/components/schemas/Status"}},
        });
    }
    operation.insert(
        "responses".to_owned(),
        json!({
            "200": {"description": "OK", "content": {"application/json": {"schema": response_schema}}},
            "default": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}},
        }),
    );
    Value::Object(operation)
}

/// Query parameters carry scalars, enums, repeated scalars and the well-known types written as
/// strings; other messages are set through the body.
fn query_schema(field: &FieldDescriptor) -> Option<Value> {
    let scalar = match field.kind() {
        Kind::Message(message) => well_known(&message)?,
        kind => scalar_schema(&kind),
    };
    Some(if field.is_list() {
        json!({"type": "array", "items": scalar})
    } else {
        scalar
    })
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
}

impl Schemas {
    fn reference(&mut self, message: &MessageDescriptor) -> Value {
        if let Some(schema) = well_known(message) {
            return schema;
        }
        let name = message.full_name().to_owned();
        if !self.done.contains_key(&name) {
            self.done.insert(name.clone(), Value::Null);
            let mut properties = Map::new();
            for field in message.fields() {
                properties.insert(field.json_name().to_owned(), self.field(&field));
            }
            self.done
                .insert(name.clone(), json!({"type": "object", "properties": properties}));
        }
        json!({"$ref": format!("#/components/schemas/{name}")})
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
        let single = self.single(field);
        if field.is_list() {
            json!({"type": "array", "items": single})
        } else {
            single
        }
    }

    fn single(&mut self, field: &FieldDescriptor) -> Value {
        match field.kind() {
            Kind::Message(message) => self.reference(&message),
            kind => scalar_schema(&kind),
        }
    }

    fn done(self) -> Map<String, Value> {
        self.done.into_iter().collect()
    }
}
