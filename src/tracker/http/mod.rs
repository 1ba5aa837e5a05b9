//! The HTTP layer every tracker client shares, so Linear and GitHub follow the same
//! rules for retries, rate limits, timeouts and writes whose answer was lost.
//!
//! - **Timeouts**: each client has a connect and a whole-request timeout.
//! - **Reads** (and writes that set a value, so repeating them is harmless) are retried
//!   after a transport failure, a 5xx or an answer that says nothing, with exponential
//!   backoff and jitter ([`backoff::Backoff`]), a bounded number of attempts.
//! - **Writes** that are not idempotent (a comment) are retried only when the request
//!   provably never left (the connection could not be made). Once it may have arrived
//!   (timeout after send, cut-off body, 5xx, an empty answer) it is never sent again
//!   here: it fails as `TrackerError::Unconfirmed`, and the engine reads the tracker
//!   back before performing it once more (see `orchestrator::intents`).
//! - **Rate limits**: every response's headers feed one [`rate::RateState`] per client.
//!   A rate-limit answer (HTTP 429, or what the adapter recognises as one: Linear's
//!   `RATELIMITED`, GitHub's 403 primary and secondary limits) starts a pause until
//!   `Retry-After` (seconds or HTTP date), else the reset of the exhausted budget, else
//!   a fallback. During a pause every call of the client waits, when the rest of the
//!   pause is at most `Policy::max_inline_wait`, or fails at once as
//!   `TrackerError::RateLimited` without a request. A rejected call was not carried
//!   out, so retrying it after a short wait is safe even for writes.
//! - **In flight**: at most `Policy::in_flight` requests of one client at a time (a
//!   semaphore), so parallel callers stay within what the tracker tolerates.
//!
//! What an answer *means* (GraphQL errors, a body that is not JSON) is the adapter's
//! call, made in a `judge` closure that returns a [`Judgement`].

pub mod backoff;
pub mod rate;

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use self::backoff::Backoff;
use self::rate::{Dialect, RateState};
use crate::tracker::{RateBudget, TrackerError};

/// Requests one tracker client may have in flight at once, unless told otherwise.
pub const DEFAULT_IN_FLIGHT: usize = 4;

/// Whether a request may be sent again after it may have arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// A read, or a write that sets a value: repeating it changes nothing.
    Safe,
    /// A write that would happen twice (a comment).
    Unsafe,
}

/// The rules of one client.
#[derive(Debug, Clone)]
pub struct Policy {
    pub backoff: Backoff,
    /// The pause after a rate-limit answer that says neither `Retry-After` nor a reset.
    pub fallback_pause: Duration,
    /// A pause at most this long is waited out inside the call; a longer one fails the
    /// call as `RateLimited` at once.
    pub max_inline_wait: Duration,
    /// Requests in flight at most.
    pub in_flight: usize,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

/// A complete answer: status, headers and the whole body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// What became of one attempt at the transport level.
#[derive(Debug)]
pub enum Sent {
    Answer(Reply),
    /// The request never left (no connection): safe to send again, whatever it is.
    NotSent(String),
    /// The request left but no complete answer came back (timeout, cut-off body).
    Lost(String),
}

/// The adapter's reading of an answer.
#[derive(Debug)]
pub enum Judgement<T> {
    /// Final: hand this to the caller (a success or a typed failure).
    Accept(T),
    /// The answer says nothing usable; the request may have been carried out.
    Retry(String),
    /// A rate-limit rejection: the request was not carried out.
    RateLimited,
}

/// The CA certificates of a PEM file, to trust beside the system's roots; an error
/// names the file and what is wrong with it.
pub fn trusted_roots(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// One tracker client's HTTP: a `reqwest` client, its policy and its rate-limit state.
pub struct HttpLayer {
    tracker: &'static str,
    client: reqwest::Client,
    policy: Policy,
    rate: Mutex<RateState>,
    permits: Semaphore,
    sent: AtomicU64,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

impl std::fmt::Debug for HttpLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpLayer")
            .field("tracker", &self.tracker)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl HttpLayer {
    /// `tracker` names it in messages (`Linear`, `GitHub`).
    pub fn new(
        tracker: &'static str,
        dialect: Dialect,
        policy: Policy,
    ) -> Result<HttpLayer, TrackerError> {
        Self::trusting(tracker, dialect, policy, None)
    }

    /// [`HttpLayer::new`], also trusting the CA certificates of `ca_file` (PEM) beside
    /// the system's roots: a GitHub Enterprise server behind a private CA
    /// (`forge.ca_file`).
    pub fn trusting(
        tracker: &'static str,
        dialect: Dialect,
        policy: Policy,
        ca_file: Option<&std::path::Path>,
    ) -> Result<HttpLayer, TrackerError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.request_timeout)
            .user_agent(concat!("karajan/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_file {
            builder = builder.tls_certs_merge(trusted_roots(path).map_err(TrackerError::Fatal)?);
        }
        let client = builder
            .build()
            .map_err(|e| TrackerError::Fatal(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpLayer {
            tracker,
            client,
            permits: Semaphore::new(policy.in_flight.max(1)),
            policy,
            rate: Mutex::new(RateState::new(dialect)),
            sent: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Runs `f` on the rate-limit state (e.g. to record a budget read from a body).
    pub fn with_rate<R>(&self, f: impl FnOnce(&mut RateState) -> R) -> R {
        // A poisoned lock only means another call panicked mid-update.
        f(&mut self.rate.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn budget(&self) -> Option<RateBudget> {
        self.with_rate(|r| r.budget(Instant::now()))
    }

    /// HTTP requests actually sent since start (retries included).
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// The most requests this client ever had in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::Relaxed)
    }

    /// Sends the request `build` makes, as often as the rules allow, and returns what
    /// `judge` accepts. `what` names the operation in logs and errors (never a secret).
    pub async fn execute<T>(
        &self,
        what: &str,
        replay: Replay,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        judge: impl FnMut(&Reply) -> Judgement<T>,
    ) -> Result<T, TrackerError> {
        self.run(what, replay, || transmit(build(&self.client)), judge)
            .await
    }

    /// The retry loop, over any transport (tests drive it with scripted answers).
    async fn run<T, F, Fut>(
        &self,
        what: &str,
        replay: Replay,
        mut send: F,
        mut judge: impl FnMut(&Reply) -> Judgement<T>,
    ) -> Result<T, TrackerError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Sent>,
    {
        let tracker = self.tracker;
        let max_attempts = self.policy.backoff.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = {
                let _permit = self.permit(what).await?;
                self.sent.fetch_add(1, Ordering::Relaxed);
                let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                self.max_in_flight.fetch_max(now, Ordering::Relaxed);
                let sent = send().await;
                self.in_flight.fetch_sub(1, Ordering::Relaxed);
                sent
            };
            let reason = match sent {
                Sent::NotSent(reason) => {
                    if attempt >= max_attempts {
                        return Err(TrackerError::Transient(format!(
                            "{tracker} {what} failed after {attempt} attempts: {reason}"
                        )));
                    }
                    tracing::warn!(tracker, request = what, attempt, %reason, "request never left; retrying");
                    tokio::time::sleep(self.policy.backoff.delay(attempt)).await;
                    continue;
                }
                Sent::Lost(reason) => reason,
                Sent::Answer(reply) => {
                    self.observe(what, &reply);
                    let judged = if reply.status == StatusCode::TOO_MANY_REQUESTS {
                        Judgement::RateLimited
                    } else if reply.status.is_server_error() {
                        Judgement::Retry(format!("HTTP {}", reply.status))
                    } else {
                        judge(&reply)
                    };
                    match judged {
                        Judgement::Accept(value) => return Ok(value),
                        Judgement::Retry(reason) => reason,
                        Judgement::RateLimited => {
                            let pause = self.with_rate(|r| {
                                r.pause(
                                    &reply.headers,
                                    Utc::now(),
                                    Instant::now(),
                                    self.policy.fallback_pause,
                                )
                            });
                            tracing::warn!(tracker, request = what, until = %pause.until, "rate limit reached; pausing tracker calls");
                            // Decided now, not after the pause: a long one fails this
                            // call at once, however busy the machine is.
                            let left = pause.deadline.saturating_duration_since(Instant::now());
                            if attempt >= max_attempts || left > self.policy.max_inline_wait {
                                return Err(TrackerError::RateLimited { until: pause.until });
                            }
                            continue;
                        }
                    }
                }
            };
            if replay == Replay::Unsafe {
                tracing::warn!(tracker, request = what, %reason, "write sent but its answer was lost; not repeating it blindly");
                return Err(TrackerError::Unconfirmed(format!(
                    "{tracker} {what}: {reason}"
                )));
            }
            if attempt >= max_attempts {
                tracing::warn!(tracker, request = what, attempt, %reason, "request failed; giving up for now");
                return Err(TrackerError::Transient(format!(
                    "{tracker} {what} failed after {attempt} attempts: {reason}"
                )));
            }
            let delay = self.policy.backoff.delay(attempt);
            tracing::warn!(tracker, request = what, attempt, ?delay, %reason, "request failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// Waits for a free slot outside any pause: a short pause is waited out, a long one
    /// fails the call without a request.
    async fn permit(&self, what: &str) -> Result<tokio::sync::SemaphorePermit<'_>, TrackerError> {
        loop {
            self.wait_out_pause(what).await?;
            let permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| TrackerError::Fatal("tracker client closed".to_string()))?;
            // A pause may have started while this call waited for its slot.
            if self.with_rate(|r| r.paused(Instant::now())).is_none() {
                return Ok(permit);
            }
        }
    }

    async fn wait_out_pause(&self, what: &str) -> Result<(), TrackerError> {
        loop {
            let now = Instant::now();
            let Some(pause) = self.with_rate(|r| r.paused(now)) else {
                return Ok(());
            };
            if pause.deadline - now > self.policy.max_inline_wait {
                tracing::debug!(tracker = self.tracker, request = what, until = %pause.until, "call refused: rate limit pause");
                return Err(TrackerError::RateLimited { until: pause.until });
            }
            tokio::time::sleep_until(pause.deadline).await;
        }
    }

    fn observe(&self, what: &str, reply: &Reply) {
        self.with_rate(|rate| {
            rate.observe(&reply.headers);
            if rate.is_low() {
                tracing::warn!(tracker = self.tracker, request = what, budget = %rate.summary(), "rate budget is low");
            } else {
                tracing::debug!(tracker = self.tracker, request = what, status = %reply.status, budget = %rate.summary(), "answered");
            }
        });
    }
}

/// Sends one request and reads the whole answer.
async fn transmit(request: reqwest::RequestBuilder) -> Sent {
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => return Sent::NotSent(describe(&e)),
        Err(e) => return Sent::Lost(describe(&e)),
    };
    let status = response.status();
    let headers = response.headers().clone();
    match response.bytes().await {
        Ok(body) => Sent::Answer(Reply {
            status,
            headers,
            body: Vec::from(body),
        }),
        Err(e) => Sent::Lost(describe(&e)),
    }
}

/// A transport failure, described without the URL or any header.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "broken response body"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    // Skip reqwest's own wrapper, which may quote the URL.
    while let Some(s) = source {
        if s.downcast_ref::<reqwest::Error>().is_none() {
            return format!("{kind}: {s}");
        }
        source = s.source();
    }
    kind.to_string()
}

#[cfg(test)]
mod tests;
