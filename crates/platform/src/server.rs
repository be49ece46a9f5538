//! Serving gRPC the same way in every binary: the services given, plus `grpc.health.v1` health
//! and server reflection (`v1` and `v1alpha`), behind the access guard (keys, scopes, rate
//! limits, audit), tracing, and the answers to malformed messages ([`crate::malformed`]);
//! SERVING once started, NOT_SERVING and a bounded drain on shutdown. While started, a
//! background check pings each service's database every second: a service whose database
//! cannot be reached is NOT_SERVING (and so is the server as a whole, the readiness probe's
//! answer) until it can again.

use std::{convert::Infallible, sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;
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

/// The health entry for liveness probes: SERVING for as long as the process serves, whatever its
/// database does. A liveness probe on `""` would restart every pod during a database outage, and
/// a restarted pod cannot start until the database is back.
pub const LIVENESS: &str = "liveness";

/// How often health checks that each service's database can be reached.
const DATABASE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How long one check of a database may take before it counts as unreachable: above the
/// default pool acquire timeout (2 s), so that a pool busy with calls is not taken for a lost
/// database, and short enough for a readiness probe to learn of an outage within seconds.
const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The gRPC services of one process, collected before serving.
pub struct GrpcServer {
    routes: RoutesBuilder,
    service_names: Vec<&'static str>,
    access: Arc<Access>,
    shutdown_grace: Duration,
    tls: Option<ServerTls>,
    /// Each database the services use, with the services that use it.
    databases: Vec<(DatabaseConnection, Vec<&'static str>)>,
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
            databases: Vec::new(),
        }
    }

    /// The services added after this call keep their data in `db`: health reports them
    /// NOT_SERVING while it cannot be reached.
    pub fn with_database(mut self, db: DatabaseConnection) -> Self {
        self.databases.push((db, Vec::new()));
        self
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
        if let Some((_, names)) = self.databases.last_mut() {
            names.push(S::NAME);
        }
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
        health.set_service_status(LIVENESS, ServingStatus::Serving).await;
        let address = listener.local_addr()?;
        tracing::info!(%address, services = ?self.service_names, "serving gRPC");

        // The check and the drain both change health; the lock keeps a check that was under
        // way when the drain started from turning a service back to SERVING.
        let stopping = Arc::new(tokio::sync::Mutex::new(false));
        let databases = std::mem::take(&mut self.databases);
        if !databases.is_empty() {
            tokio::spawn(watch_databases(
                health.clone(),
                databases,
                self.service_names.clone(),
                stopping.clone(),
                shutdown.clone(),
            ));
        }
        let drain_started = shutdown.clone();
        let draining = {
            let health = health.clone();
            let names = self.service_names.clone();
            async move {
                shutdown.triggered().await;
                let mut stopping = stopping.lock().await;
                *stopping = true;
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

/// Pings each database every [`DATABASE_CHECK_INTERVAL`] until shutdown, and reports the
/// services of a database that cannot be reached NOT_SERVING, the server as a whole too, until
/// every database can be reached again.
async fn watch_databases(
    health: HealthReporter,
    databases: Vec<(DatabaseConnection, Vec<&'static str>)>,
    all_names: Vec<&'static str>,
    stopping: Arc<tokio::sync::Mutex<bool>>,
    shutdown: Shutdown,
) {
    let mut reachable = vec![true; databases.len()];
    loop {
        tokio::select! {
            () = shutdown.clone().triggered() => return,
            () = tokio::time::sleep(DATABASE_CHECK_INTERVAL) => {}
        }
        let mut checks = tokio::task::JoinSet::new();
        for (index, (db, _)) in databases.iter().enumerate() {
            let db = db.clone();
            checks.spawn(async move {
                let outcome = match tokio::time::timeout(DATABASE_CHECK_TIMEOUT, db.ping()).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(error)) => Err(error.to_string()),
                    Err(_) => Err(format!("no answer within {DATABASE_CHECK_TIMEOUT:?}")),
                };
                (index, outcome)
            });
        }
        let mut outcomes: Vec<Result<(), String>> = vec![Ok(()); databases.len()];
        while let Some(joined) = checks.join_next().await {
            if let Ok((index, outcome)) = joined
                && let Some(slot) = outcomes.get_mut(index)
            {
                *slot = outcome;
            }
        }
        let stopping = stopping.lock().await;
        if *stopping {
            return;
        }
        let mut changed = false;
        for ((outcome, (_, names)), was_reachable) in outcomes.iter().zip(&databases).zip(reachable.iter_mut()) {
            let now_reachable = outcome.is_ok();
            if now_reachable == *was_reachable {
                continue;
            }
            changed = true;
            *was_reachable = now_reachable;
            match outcome {
                Ok(()) => tracing::info!(services = ?names, "the database is reachable again; serving"),
                Err(error) => tracing::warn!(%error, services = ?names, "the database is unreachable; not serving"),
            }
        }
        if !changed {
            continue;
        }
        let all_reachable = reachable.iter().all(|reachable| *reachable);
        for name in &all_names {
            // A service whose database is down is NOT_SERVING; so is one that is listed under
            // several databases when any of them is down.
            let up = databases
                .iter()
                .zip(&reachable)
                .all(|((_, names), reachable)| *reachable || !names.contains(name));
            health.set_service_status(*name, serving(up)).await;
        }
        health.set_service_status("", serving(all_reachable)).await;
    }
}

fn serving(up: bool) -> ServingStatus {
    if up {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

async fn set_status(health: &HealthReporter, service_names: &[&'static str], status: ServingStatus) {
    health.set_service_status("", status).await;
    for name in service_names {
        health.set_service_status(*name, status).await;
    }
}
