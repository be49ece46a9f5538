//! Metrics, through the OpenTelemetry SDK, named after its semantic conventions: per RPC served
//! `rpc.server.duration` and the request and response sizes (by `rpc.service`, `rpc.method`,
//! `rpc.grpc.status_code`), per call to another service `rpc.client.duration`, per HTTP route of
//! the gateway `http.server.request.duration` (by `http.route`, `http.request.method`,
//! `http.response.status_code`), and the database pool (`db.client.connection.count` by
//! state, `db.client.connection.max`). Scraped as Prometheus text at `GET /metrics` on the
//! `metrics_addr` listener, and exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use std::{
    sync::{
        Arc, LazyLock,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Instant,
};

use axum::{extract::MatchedPath, response::IntoResponse};
use http_body_util::BodyExt;
use opentelemetry::{
    KeyValue, global,
    metrics::{Histogram, Meter},
};
use opentelemetry_sdk::{Resource, metrics::SdkMeterProvider};
use sea_orm::{DatabaseBackend, DatabaseConnection};
use tokio::net::TcpListener;
use tonic::body::Body;

use crate::{access, shutdown::Shutdown};

/// The meter every instrument of the observatory comes from.
fn meter() -> Meter {
    global::meter("sse-observatory")
}

/// The process's meter provider and the registry `/metrics` reads; flushes OTLP when dropped.
pub struct MetricsGuard {
    provider: SdkMeterProvider,
    registry: prometheus::Registry,
}

impl MetricsGuard {
    pub fn registry(&self) -> prometheus::Registry {
        self.registry.clone()
    }
}

impl Drop for MetricsGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("metrics export did not shut down cleanly: {error}");
        }
    }
}

/// Installs the global meter provider: a Prometheus registry always, OTLP export when `otlp`.
pub fn init(resource: Resource, otlp: bool) -> anyhow::Result<MetricsGuard> {
    let registry = prometheus::Registry::new();
    let prometheus = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .build()?;
    let mut builder = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(prometheus);
    if otlp {
        let exporter = opentelemetry_otlp::MetricExporter::builder().with_tonic().build()?;
        builder = builder.with_periodic_exporter(exporter);
    }
    let provider = builder.build();
    global::set_meter_provider(provider.clone());
    Ok(MetricsGuard { provider, registry })
}

/// Serves `GET /metrics` (Prometheus text) on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, registry: prometheus::Registry, shutdown: Shutdown) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(%address, "serving metrics at /metrics");
    let router = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let registry = registry.clone();
            async move { render(&registry) }
        }),
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.triggered())
        .await?;
    Ok(())
}

fn render(registry: &prometheus::Registry) -> axum::response::Response {
    use prometheus::Encoder;
    let encoder = prometheus::TextEncoder::new();
    let mut text = Vec::new();
    match encoder.encode(&registry.gather(), &mut text) {
        Ok(()) => ([(http::header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response(),
        Err(error) => (http::StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

struct RpcInstruments {
    server_duration: Histogram<f64>,
    server_request_size: Histogram<u64>,
    server_response_size: Histogram<u64>,
    client_duration: Histogram<f64>,
    http_duration: Histogram<f64>,
}

/// Bucket bounds in milliseconds: from a fraction of a millisecond (a cached read) to a minute
/// (a large aggregation or export).
const DURATION_BOUNDS_MS: [f64; 16] = [
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 60000.0,
];

static INSTRUMENTS: LazyLock<RpcInstruments> = LazyLock::new(|| {
    let meter = meter();
    let sizes = vec![
        100.0,
        1_000.0,
        10_000.0,
        100_000.0,
        1_000_000.0,
        10_000_000.0,
        100_000_000.0,
    ];
    RpcInstruments {
        server_duration: meter
            .f64_histogram("rpc.server.duration")
            .with_unit("ms")
            .with_description("How long each RPC served took, until its last message was sent")
            .with_boundaries(DURATION_BOUNDS_MS.to_vec())
            .build(),
        server_request_size: meter
            .u64_histogram("rpc.server.request.size")
            .with_unit("By")
            .with_description("Bytes of each RPC's request messages, as framed")
            .with_boundaries(sizes.clone())
            .build(),
        server_response_size: meter
            .u64_histogram("rpc.server.response.size")
            .with_unit("By")
            .with_description("Bytes of each RPC's response messages, as framed")
            .with_boundaries(sizes)
            .build(),
        client_duration: meter
            .f64_histogram("rpc.client.duration")
            .with_unit("ms")
            .with_description("How long each call to another service took, until its answer began")
            .with_boundaries(DURATION_BOUNDS_MS.to_vec())
            .build(),
        http_duration: meter
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .with_description("How long each HTTP request to the gateway took, until its answer began")
            .with_boundaries(DURATION_BOUNDS_MS.iter().map(|ms| ms / 1000.0).collect())
            .build(),
    }
});

/// The open methods every server has besides the contracts' (health, reflection).
const OPEN_METHODS: [&str; 4] = [
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// `rpc.service` and `rpc.method` of a gRPC path, as static strings (no allocation per call).
/// A path no contract declares is counted as `_OTHER`, so that made-up paths cannot grow the
/// series without bound.
fn rpc_names(path: &str) -> (&'static str, &'static str) {
    access::declared(path)
        .map(|(declared, _)| declared)
        .or_else(|| OPEN_METHODS.into_iter().find(|open| *open == path))
        .and_then(|known| known.trim_start_matches('/').split_once('/'))
        .unwrap_or(("_OTHER", "_OTHER"))
}

/// The `grpc-status` in headers or trailers, as a number.
fn grpc_status(headers: &http::HeaderMap) -> Option<i64> {
    crate::error::grpc_status(headers).map(|code| code as i64)
}

/// Records one served RPC when dropped: when its response body is done with (sent or abandoned).
struct ServedCall {
    started: Instant,
    service: &'static str,
    method: &'static str,
    status: Option<i64>,
    request_bytes: Arc<AtomicU64>,
    response_bytes: u64,
}

impl Drop for ServedCall {
    fn drop(&mut self) {
        // A response that ended without a status was cut short: the client gave up, or the
        // server is stopping.
        let status = self.status.unwrap_or(tonic::Code::Cancelled as i64);
        let attributes = [
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.service", self.service),
            KeyValue::new("rpc.method", self.method),
            KeyValue::new("rpc.grpc.status_code", status),
        ];
        let instruments = &*INSTRUMENTS;
        instruments
            .server_duration
            .record(self.started.elapsed().as_secs_f64() * 1000.0, &attributes);
        instruments
            .server_request_size
            .record(self.request_bytes.load(Ordering::Relaxed), &attributes);
        instruments
            .server_response_size
            .record(self.response_bytes, &attributes);
    }
}

/// The layer that measures every RPC served, from the network or in process.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcServerMetricsLayer;

impl<S> tower::Layer<S> for RpcServerMetricsLayer {
    type Service = RpcServerMetrics<S>;

    fn layer(&self, inner: S) -> RpcServerMetrics<S> {
        RpcServerMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RpcServerMetrics<S> {
    inner: S,
}

impl<S> tower::Service<http::Request<Body>> for RpcServerMetrics<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<http::Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let started = Instant::now();
        let (service, method) = rpc_names(request.uri().path());
        let request_bytes = Arc::new(AtomicU64::new(0));
        let counted = request_bytes.clone();
        let request = request.map(|body| {
            Body::new(body.map_frame(move |frame| {
                if let Some(data) = frame.data_ref() {
                    counted.fetch_add(data.len() as u64, Ordering::Relaxed);
                }
                frame
            }))
        });
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            let mut call = ServedCall {
                started,
                service,
                method,
                status: grpc_status(response.headers()),
                request_bytes,
                response_bytes: 0,
            };
            Ok(response.map(|body| {
                // The closure owns the whole record (not just the fields it updates), so that
                // the record is made when the body is dropped.
                Body::new(body.map_frame(move |frame| {
                    let call = &mut call;
                    if let Some(data) = frame.data_ref() {
                        call.response_bytes += data.len() as u64;
                    } else if let Some(trailers) = frame.trailers_ref() {
                        call.status = grpc_status(trailers).or(call.status);
                    }
                    frame
                }))
            }))
        })
    }
}

/// Records a call to another service: how long until its answer began, and its status.
pub fn record_client_call(path: &str, started: Instant, status: i64) {
    let (service, method) = rpc_names(path);
    INSTRUMENTS.client_duration.record(
        started.elapsed().as_secs_f64() * 1000.0,
        &[
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.service", service),
            KeyValue::new("rpc.method", method),
            KeyValue::new("rpc.grpc.status_code", status),
        ],
    );
}

/// The route template a response was served by, set by handlers that route by themselves (the
/// REST transcoder), for `http.route`.
#[derive(Debug, Clone)]
pub struct HttpRoute(pub String);

/// Axum middleware measuring each HTTP request by its route template, and naming its span after
/// the route (it runs inside the tracing layer, which made the span).
pub async fn http_server_metrics(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let response = next.run(request).await;
    let known = response
        .extensions()
        .get::<HttpRoute>()
        .map(|route| route.0.clone())
        .or(matched);
    crate::telemetry::name_http_span(&method, known.as_deref(), response.status());
    let route = known.unwrap_or_else(|| "_OTHER".to_owned());
    INSTRUMENTS.http_duration.record(
        started.elapsed().as_secs_f64(),
        &[
            KeyValue::new("http.request.method", method),
            KeyValue::new("http.route", route),
            KeyValue::new("http.response.status_code", i64::from(response.status().as_u16())),
        ],
    );
    response
}

/// Gauges of `db`'s connection pool, read at each collection.
pub fn observe_pool(db: &DatabaseConnection, pool_name: &'static str) {
    let reading: Arc<dyn Fn() -> (u32, usize, u32) + Send + Sync> = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool().clone();
            Arc::new(move || (pool.size(), pool.num_idle(), pool.options().get_max_connections()))
        }
        DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool().clone();
            Arc::new(move || (pool.size(), pool.num_idle(), pool.options().get_max_connections()))
        }
        _ => return,
    };
    let meter = meter();
    let counts = reading.clone();
    meter
        .i64_observable_gauge("db.client.connection.count")
        .with_unit("{connection}")
        .with_description("Connections of the pool, by state")
        .with_callback(move |observer| {
            let (size, idle, _) = counts();
            let idle = i64::try_from(idle).unwrap_or(i64::MAX);
            let used = i64::from(size) - idle;
            for (state, value) in [("used", used.max(0)), ("idle", idle)] {
                observer.observe(
                    value,
                    &[
                        KeyValue::new("db.client.connection.pool.name", pool_name),
                        KeyValue::new("db.client.connection.state", state),
                    ],
                );
            }
        })
        .build();
    meter
        .i64_observable_gauge("db.client.connection.max")
        .with_unit("{connection}")
        .with_description("The most connections the pool opens")
        .with_callback(move |observer| {
            let (_, _, max) = reading();
            observer.observe(
                i64::from(max),
                &[KeyValue::new("db.client.connection.pool.name", pool_name)],
            );
        })
        .build();
}

#[cfg(test)]
mod tests {
    use super::rpc_names;

    #[test]
    fn metric_labels_name_declared_and_open_methods_and_lump_the_rest() {
        assert_eq!(
            rpc_names("/sse.initiatives.v1.InitiativeService/GetInitiative"),
            ("sse.initiatives.v1.InitiativeService", "GetInitiative")
        );
        assert_eq!(
            rpc_names("/grpc.health.v1.Health/Check"),
            ("grpc.health.v1.Health", "Check")
        );
        assert_eq!(
            rpc_names("/sse.initiatives.v1.InitiativeService/Made-up"),
            ("_OTHER", "_OTHER")
        );
        assert_eq!(rpc_names("/not a path"), ("_OTHER", "_OTHER"));
    }
}
