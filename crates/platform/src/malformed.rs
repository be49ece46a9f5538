//! Requests that never reach a service because they are not a message at all: bytes that are not
//! valid protobuf, or a message over [`MAX_MESSAGE_BYTES`]. tonic answers the first INTERNAL
//! and the second OUT_OF_RANGE; both are the caller's doing, so a tower layer in front of every
//! service (network and in process) answers INVALID_ARGUMENT and RESOURCE_EXHAUSTED instead, as
//! the gRPC status codes document asks, with an `ErrorInfo` like every other error.

use std::{
    collections::HashMap,
    task::{Context, Poll},
};

use tonic::{Code, Status, body::Body};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{
    calls::MAX_MESSAGE_BYTES,
    error::{ERROR_DOMAIN, grpc_status},
};

/// RESOURCE_EXHAUSTED with reason `MESSAGE_TOO_LARGE`, the answer to any request message over
/// the limit, whether tonic's decoder or the access guard (which reads write bodies whole)
/// finds it. No `RetryInfo`: the same message will never fit.
pub fn message_too_large() -> Status {
    Status::with_error_details(
        Code::ResourceExhausted,
        format!("the request message is larger than the limit of {MAX_MESSAGE_BYTES} bytes"),
        ErrorDetails::with_error_info("MESSAGE_TOO_LARGE", ERROR_DOMAIN, HashMap::new()),
    )
}

/// INVALID_ARGUMENT with reason `INVALID_MESSAGE`: the body is not the method's protobuf
/// message. `cause` is the decoder's own description (which field, what was wrong).
fn invalid_message(cause: &str) -> Status {
    let cause = cause
        .strip_prefix("failed to decode Protobuf message: ")
        .unwrap_or(cause);
    Status::with_error_details(
        Code::InvalidArgument,
        format!("the request is not a valid protobuf message of this method: {cause}"),
        ErrorDetails::with_error_info("INVALID_MESSAGE", ERROR_DOMAIN, HashMap::new()),
    )
}

/// What tonic's answer to an undecodable request says, in what the caller should see instead;
/// `None` for every other answer. tonic gives no type to tell them apart, only the code and the
/// message it writes (`tonic::codec::decode`, `tonic_prost::codec`).
fn replacement(status: &Status) -> Option<Status> {
    let message = status.message();
    match status.code() {
        // A body cut short (a truncated frame, or none) is as much the caller's as a bad field.
        // A compressed-flag without an encoding stays INTERNAL, as the gRPC compression spec
        // demands.
        Code::Internal
            if message.starts_with("failed to decode Protobuf message")
                || message == "Missing request message."
                || message == "Unexpected EOF decoding stream." =>
        {
            Some(invalid_message(message))
        }
        Code::OutOfRange if message.starts_with("Error, decoded message length too large") => Some(message_too_large()),
        _ => None,
    }
}

/// Rewrites a response whose status is one of tonic's decoding failures. Those come before any
/// message is sent, so the status is in the response's headers (a trailers-only response).
fn rewrite(response: http::Response<Body>) -> http::Response<Body> {
    // Only those two codes can be a decoding failure: the rest pass without reading the message.
    if !matches!(grpc_status(response.headers()), Some(Code::Internal | Code::OutOfRange)) {
        return response;
    }
    let replaced = Status::from_header_map(response.headers())
        .as_ref()
        .and_then(replacement);
    match replaced {
        Some(status) => status.into_http(),
        None => response,
    }
}

/// The layer, innermost in front of the services, so that the guard (and its audit events) and
/// the trace see the answer the caller gets.
#[derive(Clone, Copy, Default)]
pub struct MalformedRequestLayer;

impl<S> tower::Layer<S> for MalformedRequestLayer {
    type Service = MalformedRequests<S>;

    fn layer(&self, inner: S) -> MalformedRequests<S> {
        MalformedRequests { inner }
    }
}

#[derive(Clone)]
pub struct MalformedRequests<S> {
    inner: S,
}

impl<S> tower::Service<http::Request<Body>> for MalformedRequests<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<http::Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let answer = self.inner.call(request);
        Box::pin(async move { answer.await.map(rewrite) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_failures_become_the_callers_errors() {
        let undecodable = Status::internal(
            "failed to decode Protobuf message: Initiative.display_name: invalid string value: data is not UTF-8 encoded",
        );
        let replaced = replacement(&undecodable).expect("replaced");
        assert_eq!(replaced.code(), Code::InvalidArgument);
        assert!(replaced.message().contains("Initiative.display_name"));
        let too_large = Status::out_of_range(
            "Error, decoded message length too large: found 67108870 bytes, the limit is: 67108864 bytes",
        );
        assert_eq!(
            replacement(&too_large).map(|status| status.code()),
            Some(Code::ResourceExhausted)
        );
        assert!(replacement(&Status::internal("internal error")).is_none());
        assert!(replacement(&Status::out_of_range("page 7 is past the end")).is_none());
    }
}
