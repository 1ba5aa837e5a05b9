//! Binding and serving, kept apart from `router` so tests can drive the router in
//! process. The default bind is 127.0.0.1; any other host needs an explicit
//! `server.host` and a configured token, else karajan refuses to start.
//!
//! Serving is a small accept loop over hyper rather than `axum::serve`, for bounds
//! that `axum::serve` does not offer: a header-read timeout (a client that never
//! finishes its request head is cut off), a cap on concurrent connections, and a
//! shutdown that waits only for requests actually in flight, never for idle or
//! half-open connections.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::Request;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{debug, info, warn};

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

/// Bounds on what clients can hold open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A connection must deliver a whole request head within this, else it is closed
    /// (a half-open or trickling client; also an idle keep-alive connection).
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait in the kernel's listen backlog until a
    /// slot frees.
    pub max_connections: usize,
    /// On shutdown, how long requests in flight may take to finish their answers.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 256,
            shutdown_grace: Duration::from_secs(3),
        }
    }
}

/// After the last answer on a connection that is closing, how long hyper may take to
/// flush it.
const FLUSH: Duration = Duration::from_millis(200);

/// Serve with the default [`Limits`] until `shutdown` is cancelled, then finish the
/// requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, Limits::default()).await
}

/// Serve until `shutdown` is cancelled. Accepting stops at once; each connection with
/// a request in flight finishes it (within `shutdown_grace`); a connection with none
/// (idle, or stuck in a request head) is closed at once.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    limits: Limits,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        info!(url = %format!("http://{addr}/"), "dashboard and API listening");
    }
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let http = Arc::new(http);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, a connection reset before accept, ...:
                    // wait a little rather than spin.
                    debug!(error = %e, "accepting a dashboard connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            http: http.clone(),
            router: router.clone(),
            shutdown: shutdown.clone(),
            grace: limits.shutdown_grace,
        };
        connections.spawn(conn.run(stream, permit));
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_grace + FLUSH, drained)
        .await
        .is_err()
    {
        warn!("dashboard connections still open after the shutdown grace; closing them");
        connections.abort_all();
    }
    Ok(())
}

struct Connection {
    http: Arc<http1::Builder>,
    router: Router,
    shutdown: CancellationToken,
    grace: Duration,
}

impl Connection {
    async fn run(self, stream: TcpStream, _slot: OwnedSemaphorePermit) {
        // How many requests of this connection are being answered (until their body is
        // fully sent): on shutdown, a connection owing nothing is closed at once.
        let (inflight, mut idle) = watch::channel(0usize);
        let inflight = Arc::new(inflight);
        let router = self.router;
        let service = service_fn(move |req: Request<Incoming>| {
            let guard = InFlight::enter(inflight.clone());
            let router = router.clone();
            async move {
                let res = router.oneshot(req).await.unwrap_or_else(|e| match e {});
                Ok::<_, Infallible>(res.map(|body| {
                    Body::new(Tracked {
                        inner: body,
                        _guard: guard,
                    })
                }))
            }
        });
        let conn = self.http.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    debug!(error = %e, "dashboard connection ended");
                }
                return;
            }
            () = self.shutdown.cancelled() => {}
        }
        conn.as_mut().graceful_shutdown();
        let closing = async {
            let owes_nothing = tokio::select! {
                _ = conn.as_mut() => false,
                r = idle.wait_for(|n| *n == 0) => r.is_ok(),
            };
            if owes_nothing {
                let _ = tokio::time::timeout(FLUSH, conn.as_mut()).await;
            }
        };
        let _ = tokio::time::timeout(self.grace, closing).await;
    }
}

/// Counts a request as in flight until dropped (with its response body).
struct InFlight(Arc<watch::Sender<usize>>);

impl InFlight {
    fn enter(counter: Arc<watch::Sender<usize>>) -> InFlight {
        counter.send_modify(|n| *n += 1);
        InFlight(counter)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A response body that holds its request's [`InFlight`] until it is sent or dropped.
struct Tracked {
    inner: Body,
    _guard: InFlight,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
