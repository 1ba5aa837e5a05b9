//! Binding and serving, kept apart from `router` so tests can drive the router in
//! process. The default bind is 127.0.0.1; any other host needs an explicit
//! `server.host` and a configured token, else karajan refuses to start.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::is_loopback_host;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "server.host `{0}` is not a loopback address: exposing the dashboard needs `server.token` too"
    )]
    ExposedWithoutToken(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// Bind `host` (default 127.0.0.1) and `port` (0 = ephemeral). Returns the listener,
/// the bound address, and whether the bind is loopback-only.
pub async fn bind(
    host: Option<&str>,
    port: u16,
    token_configured: bool,
) -> Result<(TcpListener, SocketAddr, bool), ServeError> {
    let host = host.unwrap_or("127.0.0.1");
    let loopback = is_loopback_host(host);
    if !loopback && !token_configured {
        return Err(ServeError::ExposedWithoutToken(host.to_string()));
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let listener = TcpListener::bind((bare, port))
        .await
        .map_err(|source| ServeError::Bind {
            addr: format!("{host}:{port}"),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: format!("{host}:{port}"),
        source,
    })?;
    // `localhost` may resolve to a non-loopback address on a misconfigured host.
    let loopback = loopback && addr.ip().is_loopback();
    if !loopback && !token_configured {
        return Err(ServeError::ExposedWithoutToken(addr.ip().to_string()));
    }
    Ok((listener, addr, loopback))
}

/// Serve until `shutdown` is cancelled, then finish the requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        info!(url = %format!("http://{addr}/"), "dashboard and API listening");
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
