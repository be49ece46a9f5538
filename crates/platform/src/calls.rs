//! Calls from one service to another: each carries a deadline, the current trace context (W3C
//! `traceparent`) and the credentials of the caller being served, so that the callee sees who
//! is really asking and the trace spans both services.

use std::{net::SocketAddr, time::Duration};

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
                Ok(response) => crate::error::grpc_status(response.headers()).unwrap_or(Code::Ok),
                Err(status) => status.code(),
            };
            crate::metrics::record_client_call(&path, started, status as i64);
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
///
/// A URL naming a host (not an address) is balanced per call over every address the name
/// resolves to, re-resolved every [`RESOLVE_INTERVAL`] (see [`resolve_forever`]): behind a
/// headless Service, each replica gets its share of the calls, and a new one its share within
/// seconds, where one long-lived connection would pin every call to the first replica reached.
pub fn lazy_channel(url: &str, tls: &ClientTls) -> anyhow::Result<Channel> {
    let endpoint = configured_endpoint(url, tls, None)?;
    let uri = endpoint.uri().clone();
    let Some(host) = uri.host().map(|host| host.trim_matches(['[', ']']).to_owned()) else {
        return Ok(endpoint.connect_lazy());
    };
    if host.parse::<std::net::IpAddr>().is_ok() || tokio::runtime::Handle::try_current().is_err() {
        return Ok(endpoint.connect_lazy());
    }
    let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let (channel, changes) = Channel::balance_channel::<SocketAddr>(64);
    let tls = tls.clone();
    let make = move |address: SocketAddr| {
        let scheme = if https { "https" } else { "http" };
        configured_endpoint(&format!("{scheme}://{address}"), &tls, Some(&uri))
    };
    tokio::spawn(resolve_forever(host, port, make, changes));
    Ok(channel)
}

/// How often a balanced channel resolves its service's name again and checks its addresses.
pub const RESOLVE_INTERVAL: Duration = Duration::from_secs(2);

/// An endpoint with the observatory's client settings; `named` is the URL the caller gave,
/// when `url` is one of the addresses its name resolved to (requests then carry the name, and
/// TLS checks the certificate against it).
fn configured_endpoint(url: &str, tls: &ClientTls, named: Option<&http::Uri>) -> anyhow::Result<Endpoint> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())?
        .connect_timeout(DEFAULT_DEADLINE)
        .tcp_nodelay(true);
    if let Some(named) = named {
        endpoint = endpoint.origin(named.clone());
    }
    let https = endpoint.uri().scheme() == Some(&http::uri::Scheme::HTTPS);
    if https {
        let mut config = tls.config();
        if let Some(host) = named.and_then(|named| named.host()) {
            config = config.domain_name(host.trim_matches(['[', ']']));
        }
        endpoint = endpoint.tls_config(config)?;
    }
    Ok(endpoint)
}

/// Keeps a balanced channel's endpoints those of `host`'s addresses that accept a connection:
/// added as they appear or come back, removed as they go or stop answering. When none answers,
/// every resolved address stays, so that calls fail at once (UNAVAILABLE) rather than wait for
/// an endpoint. Ends when the channel is dropped.
async fn resolve_forever(
    host: String,
    port: u16,
    make: impl Fn(SocketAddr) -> anyhow::Result<Endpoint>,
    changes: tokio::sync::mpsc::Sender<tonic::transport::channel::Change<SocketAddr, Endpoint>>,
) {
    use tonic::transport::channel::Change;
    let mut current: std::collections::BTreeSet<SocketAddr> = std::collections::BTreeSet::new();
    loop {
        match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(resolved) => {
                let resolved: Vec<SocketAddr> = resolved.collect();
                let answering = accepting_connections(&resolved).await;
                let wanted: std::collections::BTreeSet<SocketAddr> = if answering.is_empty() {
                    resolved.into_iter().collect()
                } else {
                    answering.into_iter().collect()
                };
                for gone in current.difference(&wanted) {
                    if changes.send(Change::Remove(*gone)).await.is_err() {
                        return;
                    }
                }
                for new in wanted.difference(&current) {
                    match make(*new) {
                        Ok(endpoint) => {
                            if changes.send(Change::Insert(*new, endpoint)).await.is_err() {
                                return;
                            }
                        }
                        Err(error) => tracing::warn!(%error, address = %new, "cannot make an endpoint"),
                    }
                }
                current = wanted;
            }
            Err(error) => tracing::warn!(%error, %host, "cannot resolve a service's name; keeping its addresses"),
        }
        if changes.is_closed() {
            return;
        }
        tokio::time::sleep(RESOLVE_INTERVAL).await;
    }
}

/// Those of `addresses` that accept a TCP connection within a second.
async fn accepting_connections(addresses: &[SocketAddr]) -> Vec<SocketAddr> {
    let mut checks = tokio::task::JoinSet::new();
    for address in addresses.iter().copied() {
        checks.spawn(async move {
            let connected = tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(address)).await;
            matches!(connected, Ok(Ok(_))).then_some(address)
        });
    }
    let mut answering = Vec::new();
    while let Some(checked) = checks.join_next().await {
        answering.extend(checked.ok().flatten());
    }
    answering
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
            ServiceError::unavailable(format!("the {service} service is unavailable: {}", status.message()))
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
