//! Serving gRPC the same way in every binary: the services given, plus `grpc.health.v1` health
//! and server reflection (`v1` and `v1alpha`), behind the access guard (keys, scopes, rate
//! limits, audit), tracing, and the answers to malformed messages ([`crate::malformed`]);
//! SERVING once started, NOT_SERVING and a bounded drain on shutdown.

use std::{convert::Infallible, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tonic::{
    body::Body,
    server::NamedService,
    service::RoutesBuilder,
    transport::{Server, server::TcpIncoming},
};
use tonic_health::{ServingStatus, server::HealthReporter};
use tower_http::{
    classify::{GrpcCode, GrpcErrorsAsFailures, SharedClassifier},
    trace::{DefaultOnBodyChunk, DefaultOnFailure, DefaultOnRequest, TraceLayer},
};

use crate::{
    access::guard::{Access, GuardLayer},
    calls::ServiceChannel,
    malformed::MalformedRequestLayer,
    metrics::RpcServerMetricsLayer,
    shutdown::Shutdown,
    telemetry,
    tls::ServerTls,
};

/// The gRPC services of one process, collected before serving.
pub struct GrpcServer {
    routes: RoutesBuilder,
    service_names: Vec<&'static str>,
    access: Arc<Access>,
    shutdown_grace: Duration,
    tls: Option<ServerTls>,
}

impl GrpcServer {
    /// Services checked by `access`'s guard.
    pub fn new(access: Arc<Access>, shutdown_grace: Duration) -> Self {
        GrpcServer {
            routes: RoutesBuilder::default(),
            service_names: Vec::new(),
            access,
            shutdown_grace,
            tls: None,
        }
    }

    /// The guard's state, for services that change what it knows (keys).
    pub fn access(&self) -> &Arc<Access> {
        &self.access
    }

    /// Serves over TLS (mutual TLS when `tls` asks for client certificates) rather than plain
    /// TCP; `None` leaves it plain. In-process calls are not affected.
    pub fn with_tls(mut self, tls: Option<ServerTls>) -> Self {
        self.tls = tls;
        self
    }

    /// Adds a service; health reports it by its full name (e.g. `sse.initiatives.v1.InitiativeService`).
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: tower::Service<http::Request<Body>, Error = Infallible, Response = http::Response<Body>>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.service_names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// The services added so far, for callers in this process: the same guard and tracing as
    /// a call from the network, and no socket, no HTTP/2 framing. Health and
    /// reflection are for the network only.
    pub fn in_process(&self) -> ServiceChannel {
        let routes = self.routes.clone().routes();
        let service = tower::ServiceBuilder::new()
            .layer(trace_layer())
            .layer(RpcServerMetricsLayer)
            .layer(GuardLayer::new(self.access.clone()))
            .layer(MalformedRequestLayer)
            .service(routes);
        let service = tower::ServiceExt::map_err(
            tower::ServiceExt::map_response(service, |response: http::Response<_>| response.map(Body::new)),
            |never: Infallible| -> tonic::Status { match never {} },
        );
        ServiceChannel::new(service)
    }

    /// Serves until `shutdown`, then drains in-flight calls for at most the grace period.
    pub async fn serve(mut self, listener: TcpListener, shutdown: Shutdown) -> anyhow::Result<()> {
        let (health, health_service) = tonic_health::server::health_reporter();
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(sse_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;
        self.routes
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha);

        set_status(&health, &self.service_names, ServingStatus::Serving).await;
        let address = listener.local_addr()?;
        tracing::info!(%address, services = ?self.service_names, "serving gRPC");

        let drain_started = shutdown.clone();
        let draining = {
            let health = health.clone();
            let names = self.service_names.clone();
            async move {
                shutdown.triggered().await;
                set_status(&health, &names, ServingStatus::NotServing).await;
            }
        };
        let mut transport = Server::builder();
        if let Some(tls) = &self.tls {
            transport = transport.tls_config(tls.grpc_config())?;
            tracing::info!(
                client_certificates = tls.requires_client_certificates(),
                "gRPC over TLS"
            );
        }
        let server = transport
            .layer(trace_layer())
            .layer(RpcServerMetricsLayer)
            .layer(GuardLayer::new(self.access))
            .layer(MalformedRequestLayer)
            .add_routes(self.routes.routes())
            // Without TCP_NODELAY a response written in several pieces waits for the client's delayed
            // ACK (Nagle): 40 ms on every call.
            .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), draining);

        let grace = self.shutdown_grace;
        tokio::select! {
            served = server => served?,
            () = async { drain_started.triggered().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_seconds = grace.as_secs(), "calls still in flight after the grace period; stopping anyway");
            }
        }
        tracing::info!(%address, "gRPC server stopped");
        Ok(())
    }
}

/// The span and failure log of every call, from the network or in process.
type CallTrace = TraceLayer<
    SharedClassifier<GrpcErrorsAsFailures>,
    fn(&http::Request<Body>) -> tracing::Span,
    DefaultOnRequest,
    fn(&http::Response<Body>, Duration, &tracing::Span),
    DefaultOnBodyChunk,
    fn(Option<&http::HeaderMap>, Duration, &tracing::Span),
    DefaultOnFailure,
>;

fn trace_layer() -> CallTrace {
    TraceLayer::new(SharedClassifier::new(caller_errors_are_not_failures()))
        .make_span_with(telemetry::grpc_request_span as fn(&http::Request<Body>) -> tracing::Span)
        // The status is in the headers of a refusal or a failed unary call, in the trailers
        // otherwise; the span gets it from whichever comes.
        .on_response(
            (|response: &http::Response<Body>, _: Duration, span: &tracing::Span| {
                telemetry::record_grpc_status(response.headers(), span)
            }) as fn(&http::Response<Body>, Duration, &tracing::Span),
        )
        .on_eos(
            (|trailers: Option<&http::HeaderMap>, _: Duration, span: &tracing::Span| {
                if let Some(trailers) = trailers {
                    telemetry::record_grpc_status(trailers, span);
                }
            }) as fn(Option<&http::HeaderMap>, Duration, &tracing::Span),
        )
        .on_failure(DefaultOnFailure::new().level(tracing::Level::WARN))
}

/// The caller's own mistakes (bad input, unknown names, stale etags…) are answers, not server
/// failures: only the rest is logged as a failure.
fn caller_errors_are_not_failures() -> GrpcErrorsAsFailures {
    [
        GrpcCode::Cancelled,
        GrpcCode::InvalidArgument,
        GrpcCode::NotFound,
        GrpcCode::AlreadyExists,
        GrpcCode::PermissionDenied,
        GrpcCode::FailedPrecondition,
        GrpcCode::Aborted,
        GrpcCode::OutOfRange,
        GrpcCode::Unauthenticated,
        GrpcCode::ResourceExhausted,
    ]
    .into_iter()
    .fold(GrpcErrorsAsFailures::new(), GrpcErrorsAsFailures::with_success)
}

async fn set_status(health: &HealthReporter, service_names: &[&'static str], status: ServingStatus) {
    health.set_service_status("", status).await;
    for name in service_names {
        health.set_service_status(*name, status).await;
    }
}
