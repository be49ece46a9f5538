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

use crate::{error::ServiceError, telemetry::MetadataInjector, tls::ClientTls};

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

/// The service at `url` (`http://host:port` or `https://host:port`), over a [`lazy_channel`].
pub fn remote(url: &str, tls: &ClientTls) -> anyhow::Result<ServiceChannel> {
    let channel = lazy_channel(url, tls)?;
    // Each call measured as `rpc.client.duration` (see `metrics`).
    let measured = tower::service_fn(move |request: http::Request<tonic::body::Body>| {
        let mut channel = channel.clone();
        async move {
            let path = request.uri().path().to_owned();
            let started = std::time::Instant::now();
            // A channel's buffer takes a call only once it said it was ready for one.
            let answer = match tower::ServiceExt::ready(&mut channel).await {
                Ok(ready) => tower::Service::call(ready, request).await.map_err(transport_failure),
                Err(error) => Err(transport_failure(error)),
            };
            let status = match &answer {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.parse().ok())
                    .unwrap_or(0),
                Err(status) => status.code() as i64,
            };
            crate::metrics::record_client_call(&path, started, status);
            answer
        }
    });
    Ok(ServiceChannel::new(measured))
}

/// The status of a call that failed below gRPC. tonic gives UNAVAILABLE for a connection that
/// cannot be made, but UNKNOWN for one the other side closes with a reason, such as the TLS
/// alert of a service that refused our client certificate. Either way the service gave no
/// answer, so the call is UNAVAILABLE; the reason, which the caller is not told, is logged
/// for the operators.
fn transport_failure(error: tonic::transport::Error) -> Status {
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    let status = Status::from_error(Box::new(error));
    if status.code() != Code::Unknown {
        return status;
    }
    tracing::warn!(%reason, "a call to another service failed below gRPC");
    Status::unavailable(status.message())
}

/// A channel to the service at `url`, connected on first use so that the services of one
/// deployment may start in any order. An `https://` URL is reached over TLS as `tls` says (the
/// CA to trust, the client certificate to present). TCP_NODELAY is set explicitly: a call must
/// never wait on Nagle's algorithm (40 ms per call over loopback).
pub fn lazy_channel(url: &str, tls: &ClientTls) -> anyhow::Result<Channel> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())?
        .connect_timeout(DEFAULT_DEADLINE)
        .tcp_nodelay(true);
    if endpoint.uri().scheme() == Some(&http::uri::Scheme::HTTPS) {
        endpoint = endpoint.tls_config(tls.config())?;
    }
    Ok(endpoint.connect_lazy())
}

/// What an incoming request passes on to the calls made while serving it: the caller's
/// credentials, and the addresses it came through (`x-forwarded-for`, with the peer this
/// process saw appended), so that the callee limits the caller's rate, not ours.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    authorization: Option<AsciiMetadataValue>,
    forwarded_for: Option<AsciiMetadataValue>,
}

/// The most addresses passed on in `x-forwarded-for`: the nearest hops are the ones read.
const MAX_FORWARDED_HOPS: usize = 8;

impl CallContext {
    pub fn from_request<T>(request: &Request<T>) -> CallContext {
        let forwarded_for = request
            .metadata()
            .get(FORWARDED_FOR)
            .and_then(|value| value.to_str().ok());
        CallContext {
            authorization: request.metadata().get("authorization").cloned(),
            forwarded_for: forwarded_through(forwarded_for, request.remote_addr().map(|address| address.ip())),
        }
    }

    /// The context of an HTTP request (the gateway's callers) whose `x-forwarded-for` already
    /// names its peer (see [`forwarded_through`]).
    pub fn from_headers(headers: &http::HeaderMap) -> CallContext {
        let ascii = |name| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| AsciiMetadataValue::try_from(value).ok())
        };
        CallContext {
            authorization: ascii(http::header::AUTHORIZATION.as_str()),
            forwarded_for: ascii(FORWARDED_FOR),
        }
    }

    /// Calls on behalf of a client known only by where it came from (the web pages, which
    /// read on their own account).
    pub fn for_addresses(forwarded_for: Option<&str>) -> CallContext {
        CallContext {
            authorization: None,
            forwarded_for: forwarded_for.and_then(|value| AsciiMetadataValue::try_from(value).ok()),
        }
    }

    /// A request to another service on behalf of this caller.
    pub fn outgoing<T>(&self, message: T, deadline: Duration) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(deadline);
        if let Some(authorization) = &self.authorization {
            request.metadata_mut().insert("authorization", authorization.clone());
        }
        if let Some(forwarded_for) = &self.forwarded_for {
            request.metadata_mut().insert(FORWARDED_FOR, forwarded_for.clone());
        }
        let context = tracing::Span::current().context();
        global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut MetadataInjector(request.metadata_mut()));
        });
        request
    }
}

const FORWARDED_FOR: &str = "x-forwarded-for";

/// `x-forwarded-for` for a call onwards: the addresses a request came through, then `peer`,
/// the one this process saw (none for a call made in process); at most [`MAX_FORWARDED_HOPS`],
/// the nearest.
pub fn forwarded_through(forwarded_for: Option<&str>, peer: Option<std::net::IpAddr>) -> Option<AsciiMetadataValue> {
    let mut hops: Vec<String> = forwarded_for
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|hop| !hop.is_empty())
        .map(str::to_owned)
        .collect();
    hops.extend(peer.map(|peer| peer.to_string()));
    let nearest = &hops[hops.len().saturating_sub(MAX_FORWARDED_HOPS)..];
    if nearest.is_empty() {
        return None;
    }
    AsciiMetadataValue::try_from(nearest.join(", ")).ok()
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
