//! Serving HTTP (the gateway) beside gRPC, with the same shutdown: on SIGTERM the listener
//! closes, in-flight requests finish within the grace period, then the server stops.

use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::shutdown::Shutdown;

pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: Shutdown,
    grace: Duration,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    tracing::info!(%address, "serving HTTP");
    let drain_started = shutdown.clone();
    // TCP_NODELAY on every accepted connection, as for gRPC (see `server`).
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "cannot set TCP_NODELAY");
        }
    });
    // Each request knows its peer (`ConnectInfo<SocketAddr>`): the client's address, for the
    // services' per-address rate limits.
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.triggered());
    tokio::select! {
        served = server => served?,
        () = async { drain_started.triggered().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_seconds = grace.as_secs(), "HTTP requests still in flight after the grace period; stopping anyway");
        }
    }
    tracing::info!(%address, "HTTP server stopped");
    Ok(())
}
