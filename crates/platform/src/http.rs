//! Serving HTTP (the gateway) beside gRPC, with the same shutdown: on SIGTERM the listener
//! closes, in-flight requests finish within the grace period, then the server stops. With TLS,
//! the same over rustls (see `tls::TlsListener`).

use std::{net::SocketAddr, time::Duration};

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

async fn serve_on<L>(listener: L, router: axum::Router, shutdown: Shutdown, grace: Duration) -> anyhow::Result<()>
where
    L: Listener<Addr = SocketAddr>,
    SocketAddr: for<'a> Connected<IncomingStream<'a, L>>,
{
    let drain_started = shutdown.clone();
    // Each request knows its peer (`ConnectInfo<SocketAddr>`): the client's address, for the
    // services' per-address rate limits.
    let server = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown.triggered());
    tokio::select! {
        served = server => served?,
        () = async { drain_started.triggered().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_seconds = grace.as_secs(), "HTTP requests still in flight after the grace period; stopping anyway");
        }
    }
    Ok(())
}
