//! The HTTP side of the transport: the client (TLS roots, timeouts, redirects, the
//! User-Agent) and the small runtime its requests run on.
//!
//! The runtime is this module's own (one worker thread, started on the first request):
//! the transport is called synchronously by libgit2 on any thread, and a caller's
//! runtime is no help there (the daemon's is single-threaded and busy with everything
//! else; `Handle::block_on` would panic on a runtime thread; the CLI and tests may have
//! none). A request's answer comes back through a bounded channel, chunk by chunk, so a
//! large clone streams into libgit2 instead of being held in memory; the waiting side
//! uses `futures`' executor, which blocks any thread without needing a runtime.
//!
//! TLS: reqwest's rustls verifies with the platform's roots (rustls-platform-verifier;
//! on Linux the system store, or `SSL_CERT_FILE`/`SSL_CERT_DIR` when set); an
//! `forge.ca_file` adds its certificates to those.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::sync::mpsc;

/// Connecting (TCP and TLS) takes at most this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest silence while waiting for the answer or the next part of it (a large
/// push can keep the server busy before it reports).
const READ_TIMEOUT: Duration = Duration::from_secs(300);
/// Redirects followed at most (never from `https` down to `http`).
const MAX_REDIRECTS: usize = 5;
/// Chunks of an answer buffered ahead of libgit2's reads.
const AHEAD: usize = 16;

/// The client an [`super::Access`] uses.
pub(super) fn client(ca_file: Option<&Path>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("karajan/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let from_https = attempt
                .previous()
                .first()
                .is_some_and(|u| u.scheme() == "https");
            if attempt.previous().len() > MAX_REDIRECTS
                || (from_https && attempt.url().scheme() != "https")
            {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }));
    if let Some(path) = ca_file {
        builder = builder.tls_certs_merge(crate::tracker::http::trusted_roots(path)?);
    }
    builder.build().map_err(|e| chain(&e))
}

/// What the request task reports, in order: the head, then chunks, then the end (or a
/// failure at any point).
pub(super) enum Event {
    Head {
        status: u16,
        content_type: String,
        url: reqwest::Url,
    },
    Chunk(Vec<u8>),
    End,
    Failed(reqwest::Error),
    /// The task was lost (the runtime could not start, or it stopped).
    Lost(String),
}

/// A request in flight.
pub(super) struct Exchange {
    rx: Option<mpsc::Receiver<Event>>,
}

impl Exchange {
    /// Start `request` on the transport's runtime.
    pub(super) fn start(request: reqwest::RequestBuilder) -> Exchange {
        let rt = match runtime() {
            Ok(rt) => rt,
            Err(_) => return Exchange { rx: None },
        };
        let (tx, rx) = mpsc::channel(AHEAD);
        rt.spawn(async move {
            let mut response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Event::Failed(e)).await;
                    return;
                }
            };
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let head = Event::Head {
                status: response.status().as_u16(),
                content_type,
                url: response.url().clone(),
            };
            if tx.send(head).await.is_err() {
                return; // nobody reads: dropping the response closes it
            }
            loop {
                let event = match response.chunk().await {
                    Ok(Some(chunk)) => Event::Chunk(chunk.into()),
                    Ok(None) => Event::End,
                    Err(e) => Event::Failed(e),
                };
                let last = !matches!(event, Event::Chunk(_));
                if tx.send(event).await.is_err() || last {
                    return;
                }
            }
        });
        Exchange { rx: Some(rx) }
    }

    /// The next event, waiting for it on this thread.
    pub(super) fn next(&mut self) -> Event {
        let Some(rx) = self.rx.as_mut() else {
            return Event::Lost(runtime().err().unwrap_or_default());
        };
        futures::executor::block_on(rx.recv())
            .unwrap_or_else(|| Event::Lost("the HTTP task stopped".into()))
    }
}

fn runtime() -> Result<&'static Runtime, String> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("karajan-git-http")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the git HTTP runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// An error and its causes on one line.
pub(super) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// Whether `e` failed in TLS (an untrusted certificate, a handshake), not the network.
/// rustls's error sits inside I/O errors (nested ones, too), whose `source()` skips the
/// error they wrap, so those are opened with `get_ref()`.
pub(super) fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    if e.is::<rustls::Error>() {
        return true;
    }
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
        && is_tls(inner)
    {
        return true;
    }
    e.source().is_some_and(is_tls)
}
