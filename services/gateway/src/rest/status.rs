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
    if let Some(retry) = details.retry_info() {
        let delay = retry.retry_delay.unwrap_or_default();
        rendered.push(json!({
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": format!("{}.{:03}s", delay.as_secs(), delay.subsec_millis()),
        }));
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
    // The message may quote the request (a parser's error): keep the answer small.
    let message = sse_platform::error::bounded(&message.into(), sse_platform::error::MAX_ERROR_MESSAGE_BYTES);
    Status::with_error_details(code, message, details)
}

/// The headers HTTP clients expect with some errors: `WWW-Authenticate` with a 401 (RFC 9110),
/// `Retry-After` (whole seconds, rounded up) with a 429 or 503 that says when to retry.
pub fn error_headers(status: &Status) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    if status.code() == Code::Unauthenticated {
        headers.insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer realm=\"observatory\""),
        );
    }
    if let Some(delay) = status
        .get_error_details()
        .retry_info()
        .and_then(|retry| retry.retry_delay)
    {
        let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
        headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds.max(1)));
    }
    headers
}
