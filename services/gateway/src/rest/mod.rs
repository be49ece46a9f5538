//! REST/JSON for every RPC that carries a `google.api.http` annotation, served exactly as the
//! annotations say, the way grpc-gateway and Envoy's transcoder serve them: a client written for
//! either works against this gateway unchanged.

pub mod call;
pub mod routes;
pub mod status;
pub mod template;
pub mod transcode;

use std::{str::FromStr, sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header, uri::PathAndQuery};
use prost::Message;
use prost_reflect::DynamicMessage;
use sse_platform::{
    calls::{self, CallContext},
    error::http_status,
    metrics::HttpRoute,
};
use sse_proto::google::api::HttpBody;
use tokio_stream::StreamExt;
use tonic::{Code, Status};

use crate::backends::Backends;
use call::BytesCodec;
use routes::Route;

/// How long a call to a service may take when the client says nothing.
const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

pub struct Rest {
    routes: Vec<Route>,
    backends: Backends,
    /// The largest request body read (the `rest_max_body_bytes` setting).
    max_body_bytes: usize,
}

impl Rest {
    pub fn new(routes: Vec<Route>, backends: Backends, max_body_bytes: usize) -> Rest {
        Rest {
            routes,
            backends,
            max_body_bytes,
        }
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

/// Serves one REST request: finds its route, transcodes, calls the service, transcodes back.
pub async fn handle(State(rest): State<Arc<Rest>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // The body is read before any answer, even a refusal: a client still sending it would
    // otherwise find its connection closed under the next request.
    let body = match axum::body::to_bytes(body, rest.max_body_bytes).await {
        Ok(body) => body,
        Err(_) => {
            let status =
                status::gateway_error(Code::InvalidArgument, "BODY_TOO_LARGE", "the request body is too large");
            return error_response(StatusCode::PAYLOAD_TOO_LARGE, &status);
        }
    };
    let path = parts.uri.path();
    let matched = rest.routes.iter().find_map(|route| {
        (route.http_method == parts.method).then(|| route.template.matches(path).map(|values| (route, values)))?
    });
    let Some((route, values)) = matched else {
        let allowed: Vec<&str> = rest
            .routes
            .iter()
            .filter(|route| route.template.matches(path).is_some())
            .map(|route| route.http_method.as_str())
            .collect();
        if allowed.is_empty() {
            let status = status::gateway_error(
                Code::NotFound,
                "NO_ROUTE",
                format!("no route for {}", sse_platform::validate::quoted(path)),
            );
            return error_response(StatusCode::NOT_FOUND, &status);
        }
        let status = status::gateway_error(Code::Unimplemented, "METHOD_NOT_ALLOWED", "method not allowed");
        let mut response = error_response(StatusCode::METHOD_NOT_ALLOWED, &status);
        if let Ok(allow) = HeaderValue::from_str(&allowed.join(", ")) {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        return response;
    };
    // The route template names the request in metrics and traces (`http.route`).
    let template = route.template.openapi_path().0;
    let mut response = async {
        let mut message = match transcode::request_message(route, &values, parts.uri.query().unwrap_or_default(), &body)
        {
            Ok(message) => message,
            Err(transcode::BadRequest(reason)) => return status_response(&status::invalid_argument(reason)),
        };
        // `If-Match: *` asks only that the resource exist, which the service checks anyway; one or
        // more tags are the versions the change may apply to (the services compare one).
        // A stale If-Match is the service's ABORTED, answered 409 as grpc-gateway answers it.
        if let Some(Condition::Tags(tags)) = condition(&parts.headers, header::IF_MATCH) {
            let [etag] = tags.as_slice() else {
                return status_response(&status::invalid_argument("If-Match takes one entity tag, or *"));
            };
            if !transcode::set_if_match(&mut message, route, etag) {
                return status_response(&status::invalid_argument(
                    "this route takes no If-Match: it changes no existing version",
                ));
            }
        }
        let Some(channel) = rest.backends.for_service(&route.service_name()) else {
            return status_response(&status::gateway_error(
                Code::Unimplemented,
                "NO_BACKEND",
                "no backend for this service",
            ));
        };
        let mut grpc = tonic::client::Grpc::new(channel.clone())
            .max_decoding_message_size(calls::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(calls::MAX_MESSAGE_BYTES);
        if let Err(error) = grpc.ready().await {
            // The transport's own words name internal hosts: they go to the log, not the caller.
            tracing::warn!(%error, service = %route.service_name(), "backend unavailable");
            return status_response(&status::gateway_error(
                Code::Unavailable,
                "UNAVAILABLE",
                "the service is unavailable",
            ));
        }
        // The body and the decoded message are let go as soon as the next form exists: a large
        // request is held about twice, not four times.
        drop(body);
        let grpc_request = outgoing(&parts.headers, Bytes::from(message.encode_to_vec()));
        drop(message);
        let Ok(grpc_path) = PathAndQuery::from_str(&route.grpc_path()) else {
            return status_response(&Status::new(Code::Internal, "bad method path"));
        };

        let http_body = route.method.output().full_name() == HTTP_BODY;
        if route.method.is_server_streaming() {
            return match grpc.server_streaming(grpc_request, grpc_path, BytesCodec).await {
                Ok(response) if http_body => http_body_stream(response.into_inner()).await,
                Ok(response) => stream_response(route.clone(), response.into_inner()),
                Err(status) => status_response(&status),
            };
        }
        let reply = match grpc.unary(grpc_request, grpc_path, BytesCodec).await {
            Ok(reply) => reply.into_inner(),
            Err(status) => return status_response(&status),
        };
        if http_body {
            return match HttpBody::decode(reply) {
                Ok(body) => raw_response(&body.content_type, Body::from(body.data)),
                Err(error) => status_response(&Status::new(Code::Internal, format!("unreadable response: {error}"))),
            };
        }
        let (json, etag) = match DynamicMessage::decode(route.method.output(), reply)
            .map_err(|error| error.to_string())
            .and_then(|message| transcode::response_body(route, &message).map_err(|error| error.to_string()))
        {
            Ok(written) => written,
            Err(error) => {
                return status_response(&Status::new(Code::Internal, format!("unreadable response: {error}")));
            }
        };
        if let Some(etag) = &etag
            && parts.method == http::Method::GET
            && condition(&parts.headers, header::IF_NONE_MATCH).is_some_and(|condition| condition.matches(etag))
        {
            return (StatusCode::NOT_MODIFIED, etag_header(etag)).into_response();
        }
        let mut response = Response::new(Body::from(json));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(etag) = &etag {
            response.headers_mut().extend(etag_header(etag));
        }
        response
    }
    .await;
    response.extensions_mut().insert(HttpRoute(template));
    response
}

/// The gRPC request on behalf of the HTTP caller: its credentials, the trace context of this
/// request's span, and the caller's deadline (`grpc-timeout`, as grpc-gateway reads it) or ours.
fn outgoing(headers: &HeaderMap, message: Bytes) -> tonic::Request<Bytes> {
    let deadline = headers
        .get("grpc-timeout")
        .and_then(|value| value.to_str().ok())
        .and_then(calls::parse_grpc_timeout)
        .unwrap_or(DEFAULT_DEADLINE);
    CallContext::from_headers(headers).outgoing(message, deadline)
}

/// The message that stands for a raw HTTP body (AIP-136 downloads).
const HTTP_BODY: &str = "google.api.HttpBody";

/// A body of the media type `content_type` (or plain bytes when the service names none).
fn raw_response(content_type: &str, body: Body) -> Response {
    let mut response = Response::new(body);
    let media_type = HeaderValue::from_str(content_type)
        .ok()
        .filter(|_| !content_type.is_empty())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    response.headers_mut().insert(header::CONTENT_TYPE, media_type);
    response
}

/// A stream of `google.api.HttpBody` as one raw HTTP body, as grpc-gateway serves it: the first
/// message gives the media type, and an error before it is an ordinary error answer. An error
/// later can only cut the body short, which the client sees as a truncated transfer.
async fn http_body_stream(mut messages: tonic::Streaming<Bytes>) -> Response {
    let first = match messages.next().await {
        Some(Ok(bytes)) => match HttpBody::decode(bytes) {
            Ok(first) => first,
            Err(error) => {
                return status_response(&Status::new(Code::Internal, format!("unreadable response: {error}")));
            }
        },
        Some(Err(status)) => return status_response(&status),
        None => HttpBody::default(),
    };
    let content_type = first.content_type.clone();
    let rest = messages.map(|item| match item {
        Ok(bytes) => HttpBody::decode(bytes)
            .map(|body| Bytes::from(body.data))
            .map_err(|error| std::io::Error::other(error.to_string())),
        Err(status) => Err(std::io::Error::other(status.message().to_owned())),
    });
    let chunks = tokio_stream::once(Ok(Bytes::from(first.data))).chain(rest);
    raw_response(&content_type, Body::from_stream(chunks))
}

/// A server-streaming RPC as newline-delimited JSON, `{"result": …}` per message and
/// `{"error": …}` if the stream fails, as grpc-gateway streams it.
fn stream_response(route: Route, messages: tonic::Streaming<Bytes>) -> Response {
    let lines = messages.map(move |item| {
        let line = match item {
            Ok(bytes) => match DynamicMessage::decode(route.method.output(), bytes) {
                Ok(message) => match transcode::response_json(&route, &message) {
                    Ok(json) => serde_json::json!({ "result": json }),
                    Err(error) => serde_json::json!({ "error": { "code": 13, "message": error.to_string() } }),
                },
                Err(error) => serde_json::json!({ "error": { "code": 13, "message": error.to_string() } }),
            },
            Err(status) => serde_json::json!({ "error": status::status_json(&status) }),
        };
        let mut text = line.to_string();
        text.push('\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(text))
    });
    let mut response = Response::new(Body::from_stream(lines));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A gRPC error as grpc-gateway answers it, with the headers HTTP clients look for.
pub fn status_response(status: &Status) -> Response {
    let mut response = error_response(http_status(status.code()), status);
    response.headers_mut().extend(status::error_headers(status));
    response
}

fn error_response(code: StatusCode, status: &Status) -> Response {
    (code, axum::Json(status::status_json(status))).into_response()
}

/// A conditional header (RFC 9110): `*`, or a list of entity tags.
#[derive(Debug, PartialEq, Eq)]
enum Condition {
    Any,
    Tags(Vec<String>),
}

impl Condition {
    fn matches(&self, etag: &str) -> bool {
        match self {
            Condition::Any => true,
            Condition::Tags(tags) => tags.iter().any(|tag| tag == etag),
        }
    }
}

/// The header's condition, tags without quotes or weak markers (compared weakly, as GET and
/// our etags allow).
fn condition(headers: &HeaderMap, name: header::HeaderName) -> Option<Condition> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    if value == "*" {
        return Some(Condition::Any);
    }
    let tags: Vec<String> = value
        .split(',')
        .map(|tag| {
            let tag = tag.trim();
            tag.strip_prefix("W/").unwrap_or(tag).trim_matches('"').to_owned()
        })
        .filter(|tag| !tag.is_empty())
        .collect();
    (!tags.is_empty()).then_some(Condition::Tags(tags))
}

fn etag_header(etag: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        headers.insert(header::ETAG, value);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: &str) -> Option<Condition> {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).expect("header"));
        condition(&headers, header::IF_NONE_MATCH)
    }

    #[test]
    fn conditional_headers_are_lists_or_a_star() {
        assert_eq!(parsed("*"), Some(Condition::Any));
        assert_eq!(
            parsed("\"a\", W/\"b\""),
            Some(Condition::Tags(vec!["a".to_owned(), "b".to_owned()]))
        );
        assert!(parsed("\"a\", \"b\"").is_some_and(|condition| condition.matches("b")));
        assert_eq!(parsed(" "), None);
    }
}
