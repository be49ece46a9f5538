//! Where the gateway's caller is: its address is appended to `x-forwarded-for` on every request
//! before any route sees it, so that the services, which limit each client's rate, count the
//! browser or partner rather than the gateway. The pages, which call the services on their own
//! account rather than with the caller's credentials, find the addresses in [`forwarded_for`].

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Request},
    middleware::Next,
    response::Response,
};
use http::HeaderValue;
use sse_platform::calls;

tokio::task_local! {
    static FORWARDED_FOR: Option<String>;
}

/// Appends the peer's address to the request's `x-forwarded-for` and serves it.
pub async fn note_address(mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    let received = request
        .headers()
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok());
    let forwarded = calls::forwarded_through(received, peer);
    let text = forwarded
        .as_ref()
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    match text.as_deref().and_then(|text| HeaderValue::from_str(text).ok()) {
        Some(value) => {
            request.headers_mut().insert("x-forwarded-for", value);
        }
        None => {
            request.headers_mut().remove("x-forwarded-for");
        }
    }
    FORWARDED_FOR.scope(text, next.run(request)).await
}

/// The `x-forwarded-for` of the request being served, for calls made on its behalf.
pub fn forwarded_for() -> Option<String> {
    FORWARDED_FOR.try_with(Clone::clone).ok().flatten()
}
