//! Calls from one service to another: each carries a deadline, the current trace context (W3C
//! `traceparent`) and the credentials of the caller being served, so that the callee sees who
//! is really asking and the trace spans both services.

use std::time::Duration;

use opentelemetry::global;
use tonic::{
    Code, Request, Status,
    metadata::AsciiMetadataValue,
    transport::{Channel, Endpoint},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{error::ServiceError, telemetry::MetadataInjector};

/// The largest message any observatory service sends or accepts: a full batch (1000
/// initiatives with long descriptions, 10000 observations) and its response fit. Servers and
/// clients both set it, so an answer the server sends is one the client can read.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// How long a call to another service may take unless said otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);

/// How one service reaches another: over the network ([`remote`]), or, when both run in one
/// process, straight to the served gRPC services behind the same layers as a network call
/// (`GrpcServer::in_process`), without a socket or HTTP/2 framing on the way. A transport
/// failure is the `Status` tonic would make of it (UNAVAILABLE when the service is down).
pub type ServiceChannel =
    tower::util::BoxCloneSyncService<http::Request<tonic::body::Body>, http::Response<tonic::body::Body>, Status>;

/// The service at `url` (`http://host:port`), over a [`lazy_channel`].
pub fn remote(url: &str) -> anyhow::Result<ServiceChannel> {
    let channel = lazy_channel(url)?;
    Ok(ServiceChannel::new(tower::ServiceExt::map_err(
        channel,
        |error: tonic::transport::Error| Status::from_error(Box::new(error)),
    )))
}

/// A channel to the service at `url` (`http://host:port`), connected on first use so that the
/// services of one deployment may start in any order. TCP_NODELAY is set explicitly: a call
/// must never wait on Nagle's algorithm (40 ms per call over loopback).
pub fn lazy_channel(url: &str) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(DEFAULT_DEADLINE)
        .tcp_nodelay(true)
        .connect_lazy())
}

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

    /// The context of an HTTP request (the gateway's callers).
    pub fn from_headers(headers: &http::HeaderMap) -> CallContext {
        let authorization = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| AsciiMetadataValue::try_from(value).ok());
        CallContext { authorization }
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

/// A `grpc-timeout` value (`10S`, `500m`, `2M`…), as gRPC clients and grpc-gateway's
/// HTTP callers send their deadline.
pub fn parse_grpc_timeout(text: &str) -> Option<Duration> {
    let unit_at = text.len().checked_sub(1)?;
    let amount: u64 = text[..unit_at].parse().ok().filter(|_| unit_at <= 8)?;
    Some(match &text[unit_at..] {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// The resource a NOT_FOUND answer names (its `ErrorInfo` metadata `resource`), e.g. the first
/// missing name of a batch get.
pub fn missing_resource(status: &Status) -> Option<String> {
    use tonic_types::StatusExt;
    if status.code() != Code::NotFound {
        return None;
    }
    status
        .get_error_details()
        .error_info()?
        .metadata
        .get("resource")
        .cloned()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_read_every_unit() {
        assert_eq!(parse_grpc_timeout("10S"), Some(Duration::from_secs(10)));
        assert_eq!(parse_grpc_timeout("500m"), Some(Duration::from_millis(500)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("S"), None);
        assert_eq!(parse_grpc_timeout("10x"), None);
        assert_eq!(parse_grpc_timeout("123456789S"), None);
    }
}
