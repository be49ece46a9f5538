//! Logs, traces and metrics: human-readable or JSON logs on stderr, filtered by `log_filter`
//! (which filters the logs only); spans exported over OTLP/gRPC when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, sampled as `OTEL_TRACES_SAMPLER` says; metrics (see
//! `metrics`); W3C trace context read from and written to gRPC metadata so a trace follows a
//! call across services.

use opentelemetry::{
    global,
    propagation::{Extractor, Injector},
    trace::TracerProvider as _,
};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::{config::LogFormat, env, metrics::MetricsGuard};

/// Flushes and stops trace and metric export when dropped; keep it alive for the life of the
/// process.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    pub metrics: MetricsGuard,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("trace export did not shut down cleanly: {error}");
        }
    }
}

/// Installs the global subscriber. Call once, at the start of `main`.
pub fn init(service_name: &'static str, format: LogFormat, filter: &str) -> anyhow::Result<TelemetryGuard> {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let filter =
        EnvFilter::try_new(filter).map_err(|error| anyhow::anyhow!("invalid log_filter `{filter}`: {error}"))?;

    // The resource names the service and, from OTEL_RESOURCE_ATTRIBUTES (set from the downward
    // API in deploy/), the pod and namespace.
    let resource = Resource::builder().with_service_name(service_name).build();
    let otlp = std::env::var(env::OTLP_ENDPOINT).is_ok_and(|endpoint| !endpoint.is_empty());
    let provider = if otlp {
        // The sampler is the SDK's default, which honours OTEL_TRACES_SAMPLER and
        // OTEL_TRACES_SAMPLER_ARG.
        let exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic().build()?;
        Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource.clone())
                .build(),
        )
    } else {
        None
    };
    let metrics = crate::metrics::init(resource, otlp)?;
    // Spans go to OpenTelemetry whatever the log level: `log_filter = "warn"` quiets the logs,
    // not the traces. Only the observatory's own spans (info and above) and no dependency's.
    let otel_layer = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer(service_name))
            .with_filter(EnvFilter::new("info,h2=off,hyper=off,tower=off,sqlx=off,sea_orm=off"))
    });

    let registry = tracing_subscriber::registry().with(otel_layer);
    let installed = match format {
        // Colours only on a terminal, unless NO_COLOR says none (`with_ansi` would override
        // it): a file, a pipe or a container's log gets plain lines
        // (no escape sequences to read around), and the fields of each call's span are not
        // wrapped in them either (`nu_ansi_term` was 0.4% of the server's samples while
        // GetInitiative ran).
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(
                        std::io::IsTerminal::is_terminal(&std::io::stderr())
                            && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty()),
                    )
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(std::io::stderr)
                    .with_filter(filter),
            )
            .try_init(),
    };
    installed.map_err(|error| anyhow::anyhow!("cannot install the log subscriber: {error}"))?;
    Ok(TelemetryGuard { provider, metrics })
}

/// Reads trace context from HTTP/2 headers (gRPC metadata).
pub struct HeaderExtractor<'a>(pub &'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Writes trace context into outgoing gRPC metadata, for calls to other services.
pub struct MetadataInjector<'a>(pub &'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// The span of one incoming gRPC call, named and described as the semantic conventions say
/// (`sse.initiatives.v1.InitiativeService/GetInitiative`, `rpc.system`, `rpc.service`,
/// `rpc.method`; `rpc.grpc.status_code` once answered), a child of the caller's trace when it
/// sent one.
pub fn grpc_request_span<B>(request: &http::Request<B>) -> tracing::Span {
    let path = request.uri().path().trim_start_matches('/');
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    let span = tracing::info_span!(
        "grpc",
        otel.name = %path,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = tracing::field::Empty,
    );
    with_remote_parent(span, request.headers())
}

/// Records the `grpc-status` among `headers` on a call's span; a status that means the server
/// failed (not the caller) marks the span as an error.
pub fn record_grpc_status(headers: &http::HeaderMap, span: &tracing::Span) {
    let Some(code) = crate::error::grpc_status(headers) else {
        return;
    };
    span.record("rpc.grpc.status_code", code as i32);
    use tonic::Code;
    if matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    ) {
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of one incoming HTTP request (the gateway's), a child of the caller's trace when it
/// sent one. It is named `GET /v1/initiatives/{initiative}` once the route is known (see
/// [`name_http_span`]).
pub fn http_request_span<B>(request: &http::Request<B>) -> tracing::Span {
    let span = tracing::info_span!(
        "http",
        otel.name = %request.method(),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %request.method(),
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        url.path = %request.uri().path(),
    );
    with_remote_parent(span, request.headers())
}

/// Names the current HTTP request's span after its route and records its answer; a 5xx marks
/// it as an error.
pub fn name_http_span(method: &str, route: Option<&str>, status: http::StatusCode) {
    let span = tracing::Span::current();
    if let Some(route) = route {
        let name = format!("{method} {route}");
        span.record("otel.name", name.as_str());
        // Once the span has been given to a call onwards (its trace context sent), recording
        // `otel.name` no longer renames it: rename the OpenTelemetry span itself.
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        span.context().span().update_name(name);
        span.record("http.route", route);
    }
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}

fn with_remote_parent(span: tracing::Span, headers: &http::HeaderMap) -> tracing::Span {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let parent = global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)));
    // Without an installed OpenTelemetry layer there is nothing to attach the parent to.
    let _ = span.set_parent(parent);
    span
}
