//! Bounded connections: a client that never finishes its request head is cut off after
//! the header-read timeout, at most `max_connections` are served at once, and neither
//! holds a graceful shutdown, while a request in flight still gets its answer.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use karajan::web::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

struct Server {
    addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(limits: Limits) -> Server {
    let router = Router::new().route("/", get(|| async { "ok" })).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(600)).await;
            "slow but done"
        }),
    );
    let (listener, addr, _) = karajan::web::bind(None, 0, false).await.unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(karajan::web::serve_with(
        listener,
        router,
        shutdown.clone(),
        limits,
    ));
    Server {
        addr,
        shutdown,
        task,
    }
}

/// A connection that sent half a request line and nothing more.
async fn half_open(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HT").await.unwrap();
    s
}

/// Read until the server closes the connection (or `limit` passes); what was read.
async fn until_closed(s: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut all = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()
    .map(|()| String::from_utf8_lossy(&all).into_owned())
}

async fn request(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    until_closed(&mut s, Duration::from_secs(10))
        .await
        .expect("an answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_connection_is_closed_after_the_header_read_timeout() {
    let timeout = Duration::from_millis(400);
    let server = start(Limits {
        header_read_timeout: timeout,
        ..Limits::default()
    })
    .await;
    let started = Instant::now();
    let mut s = half_open(server.addr).await;
    let closed = until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(
        closed.is_some(),
        "a connection without a full request head is still open after 5s"
    );
    assert!(
        started.elapsed() >= timeout - Duration::from_millis(50),
        "closed before the timeout: {:?}",
        started.elapsed()
    );
    // A client that does send its request is served.
    assert!(request(server.addr, "/").await.ends_with("ok"));
    server.shutdown.cancel();
    server.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let timeout = Duration::from_millis(1500);
    let server = start(Limits {
        header_read_timeout: timeout,
        max_connections: 2,
        ..Limits::default()
    })
    .await;
    let _a = half_open(server.addr).await;
    let _b = half_open(server.addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let answer = request(server.addr, "/").await;
    assert!(answer.ends_with("ok"), "{answer}");
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "the third connection was served while two held every slot: {:?}",
        started.elapsed()
    );
    server.shutdown.cancel();
    server.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_not_held_by_half_open_connections_but_finishes_requests_in_flight() {
    let server = start(Limits {
        header_read_timeout: Duration::from_secs(60),
        ..Limits::default()
    })
    .await;
    let _stuck = half_open(server.addr).await;
    let addr = server.addr;
    let slow = tokio::spawn(async move { request(addr, "/slow").await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = Instant::now();
    server.shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(3), server.task).await;
    assert!(
        matches!(stopped, Ok(Ok(Ok(())))),
        "shutdown held open: {stopped:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let answer = slow.await.unwrap();
    assert!(answer.ends_with("slow but done"), "{answer}");
}
