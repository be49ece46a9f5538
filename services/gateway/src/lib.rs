//! The gateway for web clients, on one HTTP port: REST/JSON transcoded from the
//! `google.api.http` annotations of the contracts (`rest`), gRPC-Web for browser apps
//! (`grpc_web`), the OpenAPI document (`openapi`), the SDMX REST web service (`sdmx`) and the web
//! pages (`pages`). It holds no data: every answer comes from the services over gRPC.
#![forbid(unsafe_code)]

pub mod backends;
pub mod client;
pub mod grpc_web;
pub mod openapi;
pub mod pages;
pub mod rest;
pub mod sdmx;

use std::sync::Arc;

use axum::{
    Router,
    extract::{Request, State},
    response::{IntoResponse, Response},
    routing::get,
};
use http::{HeaderName, HeaderValue, Method, header};
use sse_platform::module::{ModuleContext, ServiceModule};
use tower::ServiceExt;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    trace::TraceLayer,
};

use backends::Backends;
use rest::Rest;

/// The gateway's routes, calling the services where `settings` says they are.
pub fn router(context: &ModuleContext) -> anyhow::Result<Router> {
    let settings = &context.settings;
    let backends = Backends::from_context(context)?;
    let routes = rest::routes::routes(&rest::routes::pool()?)?;
    // The OpenAPI document is built on its first request and kept as bytes: built at start, its
    // JSON values (a few MiB with the code lists) would stay in every idle server's memory.
    let openapi_routes = Arc::new(routes.clone());
    let openapi = Arc::new(std::sync::OnceLock::<bytes::Bytes>::new());
    let rest = Arc::new(Rest::new(routes, backends.clone(), settings.rest_max_body_bytes));
    let grpc_web = grpc_web::service(backends.clone());

    let api = Router::new()
        .route(
            "/openapi.json",
            get(move || async move {
                let document = openapi.get_or_init(|| {
                    // A `Value` always serialises.
                    serde_json::to_vec(&openapi::document(&openapi_routes))
                        .unwrap_or_default()
                        .into()
                });
                ([(header::CONTENT_TYPE, "application/json")], document.clone())
            }),
        )
        .route("/sdmx/data/{flow}", get(sdmx::data_all))
        .route("/sdmx/data/{flow}/{key}", get(sdmx::data))
        .route("/sdmx/data/{flow}/{key}/{provider}", get(sdmx::data_from))
        .route("/sdmx/data/{context}/{agency}/{id}/{version}", get(sdmx::data_v3))
        .route(
            "/sdmx/data/{context}/{agency}/{id}/{version}/{key}",
            get(sdmx::data_v3_key),
        )
        .route("/sdmx/{*path}", get(sdmx::structure))
        .with_state(backends.clone());
    let fallback = move |State(rest): State<Arc<Rest>>, request: Request| {
        let grpc_web = grpc_web.clone();
        async move {
            if grpc_web::is_grpc_web(request.headers()) {
                // A plain stream of the body: tonic-web would otherwise pass on the size of a
                // base64 (`-text`) body as the size of the decoded message.
                let request = request.map(|body| axum::body::Body::from_stream(body.into_data_stream()));
                return match grpc_web.oneshot(request).await {
                    Ok(response) => response.map(axum::body::Body::new),
                    Err(never) => match never {},
                };
            }
            if request.uri().path().starts_with("/v1/") {
                return rest::handle(State(rest), request).await;
            }
            not_found()
        }
    };
    let dispatch = Router::new().fallback(fallback).with_state(rest);
    Ok(Router::new()
        .merge(api)
        .merge(pages::router(backends))
        .fallback_service(dispatch)
        .layer(axum::middleware::from_fn(client::note_address))
        .layer(axum::middleware::from_fn(sse_platform::metrics::http_server_metrics))
        .layer(cors(&settings.cors_allowed_origins)?)
        .layer(TraceLayer::new_for_http().make_span_with(sse_platform::telemetry::http_request_span)))
}

fn not_found() -> Response {
    (
        http::StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found\n",
    )
        .into_response()
}

/// Cross-origin access for the origins configured, and none by default.
fn cors(origins: &[String]) -> anyhow::Result<CorsLayer> {
    let origins = origins
        .iter()
        .map(|origin| HeaderValue::from_str(origin).map_err(|_| anyhow::anyhow!("invalid CORS origin `{origin}`")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let header = |name: &'static str| HeaderName::from_static(name);
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header("x-grpc-web"),
            header("x-user-agent"),
            header("grpc-timeout"),
        ])
        .expose_headers([
            header::ETAG,
            header("grpc-status"),
            header("grpc-message"),
            header("grpc-status-details-bin"),
        ]))
}

/// The gateway as a part of a process: no database and no gRPC service of its own, only HTTP
/// routes.
pub struct Module;

impl ServiceModule for Module {
    fn name(&self) -> &'static str {
        "gateway"
    }

    fn uses_database(&self) -> bool {
        false
    }

    fn http_routes(&self, context: &ModuleContext) -> anyhow::Result<Option<Router>> {
        router(context).map(Some)
    }
}
