//! Serving HTTP (the gateway) beside gRPC, with the same shutdown: on SIGTERM requests in flight
//! finish within the grace period, then the server stops. Keep-alive connections are closed
//! cleanly rather than cut: from the signal on, every response says `Connection: close`, so a
//! client sends nothing more on its connection after that answer; connections stay open while
//! requests keep coming (up to [`MAX_DRAIN`]), and only once the traffic has been quiet for
//! [`QUIET`] are the idle ones closed. With TLS, the same over rustls (see `tls::TlsListener`).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    extract::connect_info::Connected,
    serve::{IncomingStream, Listener, ListenerExt},
};
use tokio::net::TcpListener;

use crate::{shutdown::Shutdown, tls::ServerTls};

pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: Shutdown,
    grace: Duration,
    tls: Option<&ServerTls>,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    match tls {
        Some(tls) => {
            tracing::info!(%address, client_certificates = tls.requires_client_certificates(), "serving HTTPS");
            // The TLS listener sets TCP_NODELAY itself, before the handshake. The empty tap is
            // what gives its connections axum's `ConnectInfo<SocketAddr>`: axum provides it for
            // any listener wrapped so, and the orphan rule keeps us from providing it for ours.
            let listener = tls.http_listener(listener).tap_io(|_tls_stream| {});
            serve_on(listener, router, shutdown, grace).await?;
        }
        None => {
            tracing::info!(%address, "serving HTTP");
            // TCP_NODELAY on every accepted connection, as for gRPC (see `server`).
            let listener = listener.tap_io(|stream| {
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::warn!(%error, "cannot set TCP_NODELAY");
                }
            });
            serve_on(listener, router, shutdown, grace).await?;
        }
    }
    tracing::info!(%address, "HTTP server stopped");
    Ok(())
}

/// The longest the server keeps answering on open connections after the signal before closing
/// the idle ones (within the grace period).
pub const MAX_DRAIN: Duration = Duration::from_secs(2);
/// How long no request may have started before idle connections are closed.
pub const QUIET: Duration = Duration::from_millis(100);

/// Whether shutdown has begun, and when the last request started (ms since `started`).
struct Drain {
    draining: AtomicBool,
    started: Instant,
    last_request_ms: AtomicU64,
}

impl Drain {
    fn note_request(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_request_ms.store(now, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let now = self.started.elapsed();
        now.saturating_sub(Duration::from_millis(self.last_request_ms.load(Ordering::Relaxed)))
    }

    /// Waits until the traffic has been quiet for [`QUIET`], or [`MAX_DRAIN`] has passed.
    async fn until_quiet(&self) {
        let deadline = Instant::now() + MAX_DRAIN;
        while Instant::now() < deadline && self.quiet_for() < QUIET {
            tokio::time::sleep(QUIET / 4).await;
        }
    }
}

async fn serve_on<L>(listener: L, router: axum::Router, shutdown: Shutdown, grace: Duration) -> anyhow::Result<()>
where
    L: Listener<Addr = SocketAddr>,
    SocketAddr: for<'a> Connected<IncomingStream<'a, L>>,
{
    let drain = Arc::new(Drain {
        draining: AtomicBool::new(false),
        started: Instant::now(),
        last_request_ms: AtomicU64::new(0),
    });
    let noted = drain.clone();
    let router = router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let drain = noted.clone();
            async move {
                drain.note_request();
                let mut response = next.run(request).await;
                if drain.draining.load(Ordering::Relaxed) {
                    response
                        .headers_mut()
                        .insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
                }
                response
            }
        },
    ));
    let close_idle = {
        let drain = drain.clone();
        let shutdown = shutdown.clone();
        async move {
            shutdown.triggered().await;
            drain.draining.store(true, Ordering::Relaxed);
            drain.until_quiet().await;
        }
    };
    let drain_started = shutdown.clone();
    // Each request knows its peer (`ConnectInfo<SocketAddr>`): the client's address, for the
    // services' per-address rate limits.
    let server = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(close_idle);
    tokio::select! {
        served = server => served?,
        () = async { drain_started.triggered().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_seconds = grace.as_secs(), "HTTP requests still in flight after the grace period; stopping anyway");
        }
    }
    Ok(())
}
