//! gRPC-Web for browser apps: a gRPC-Web request (`application/grpc-web+proto` or
//! `application/grpc-web-text`) is turned into gRPC by tonic-web, passed to the service the
//! method belongs to, and its answer turned back into gRPC-Web.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use tonic::{Status, body::Body};
use tower::{Layer, Service};

use crate::backends::Backends;

/// Forwards a gRPC request to the service named in its path.
#[derive(Clone)]
pub struct Proxy {
    backends: Backends,
}

impl Service<http::Request<Body>> for Proxy {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _context: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let service = request
            .uri()
            .path()
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let channel = self.backends.for_service(&service).cloned();
        Box::pin(async move {
            let Some(mut channel) = channel else {
                return Ok(Status::unimplemented(format!("no service {service} behind this gateway")).into_http());
            };
            // A channel must be ready before each call, or its buffer refuses the request.
            let ready = match tower::ServiceExt::ready(&mut channel).await {
                Ok(ready) => ready,
                Err(error) => {
                    return Ok(Status::unavailable(format!("the service is unavailable: {error}")).into_http());
                }
            };
            match ready.call(request).await {
                Ok(response) => Ok(response),
                Err(error) => Ok(Status::unavailable(format!("the service is unavailable: {error}")).into_http()),
            }
        })
    }
}

/// The gRPC-Web endpoint for every service.
pub fn service(backends: Backends) -> tonic_web::GrpcWebService<Proxy> {
    tonic_web::GrpcWebLayer::new().layer(Proxy { backends })
}

/// Whether a request is gRPC-Web, by its content type.
pub fn is_grpc_web(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|content_type| content_type.starts_with("application/grpc-web"))
}
