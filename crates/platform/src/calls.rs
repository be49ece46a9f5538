//! Calls from one service to another: each carries a deadline, the current trace context (W3C
//! `traceparent`) and the credentials of the caller being served, so that the callee sees who
//! is really asking and the trace spans both services.

use std::time::Duration;

use opentelemetry::global;
use tonic::{Code, Request, Status, metadata::AsciiMetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{error::ServiceError, telemetry::MetadataInjector};

/// How long a call to another service may take unless said otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);

/// What an incoming request passes on to the calls made while serving it.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    authorization: Option<AsciiMetadataValue>,
}

impl CallContext {
    pub fn from_request<T>(request: &Request<T>) -> CallContext {
        CallContext {
            authorization: request.metadata().get("authorization").cloned(),
        }
    }

    /// A request to another service on behalf of this caller.
    pub fn outgoing<T>(&self, message: T, deadline: Duration) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(deadline);
        if let Some(authorization) = &self.authorization {
            request.metadata_mut().insert("authorization", authorization.clone());
        }
        let context = tracing::Span::current().context();
        global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut MetadataInjector(request.metadata_mut()));
        });
        request
    }
}

/// What a failed call to `service` means for our own caller: a dependency that is down or too
/// slow is UNAVAILABLE (retry later); anything else is our own internal error.
pub fn dependency_error(service: &str, status: Status) -> ServiceError {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::ResourceExhausted => {
            ServiceError::Unavailable {
                message: format!("the {service} service is unavailable: {}", status.message()),
            }
        }
        _ => ServiceError::Internal(anyhow::anyhow!(
            "the {service} service failed: {:?} {}",
            status.code(),
            status.message()
        )),
    }
}
