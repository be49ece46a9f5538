//! gRPC errors as HTTP answers: the status code grpc-gateway gives each gRPC code, and the
//! `google.rpc.Status` as JSON, with its details.

use serde_json::{Value, json};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The JSON body of an error: `{"code", "message", "details"}`, as grpc-gateway writes it.
pub fn status_json(status: &Status) -> Value {
    let details = status.get_error_details();
    let mut rendered = Vec::new();
    if let Some(info) = details.error_info() {
        rendered.push(json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": info.reason,
            "domain": info.domain,
            "metadata": info.metadata,
        }));
    }
    if let Some(bad_request) = details.bad_request() {
        let violations: Vec<Value> = bad_request
            .field_violations
            .iter()
            .map(|violation| json!({"field": violation.field, "description": violation.description}))
            .collect();
        rendered.push(json!({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": violations}));
    }
    if let Some(failure) = details.precondition_failure() {
        let violations: Vec<Value> = failure
            .violations
            .iter()
            .map(|violation| {
                json!({"type": violation.r#type, "subject": violation.subject, "description": violation.description})
            })
            .collect();
        rendered.push(json!({"@type": "type.googleapis.com/google.rpc.PreconditionFailure", "violations": violations}));
    }
    if let Some(resource) = details.resource_info() {
        rendered.push(json!({
            "@type": "type.googleapis.com/google.rpc.ResourceInfo",
            "resourceType": resource.resource_type,
            "resourceName": resource.resource_name,
            "owner": resource.owner,
            "description": resource.description,
        }));
    }
    json!({"code": status.code() as i32, "message": status.message(), "details": rendered})
}

/// The status for a request the gateway itself refuses before any service sees it.
pub fn invalid_argument(message: impl Into<String>) -> Status {
    gateway_error(Code::InvalidArgument, "INVALID_REQUEST", message)
}

/// An error the gateway answers itself, with the `ErrorInfo` every observatory error carries.
pub fn gateway_error(code: Code, reason: &str, message: impl Into<String>) -> Status {
    let details = tonic_types::ErrorDetails::with_error_info(
        reason,
        sse_platform::error::ERROR_DOMAIN,
        std::collections::HashMap::new(),
    );
    Status::with_error_details(code, message.into(), details)
}
