//! One GraphQL call over HTTP: authentication, timeouts, retries with backoff for 5xx
//! and timeouts, rate-limit bookkeeping, and the mapping of every failure onto a typed
//! `TrackerError`.
//!
//! Only what is safe is retried: a query always; a mutation only when the request
//! provably never reached Linear (the connection could not be made). A mutation whose
//! answer is lost after it was sent (timeout, cut-off or unreadable body, 5xx, Linear's
//! internal error) may have been carried out, so it is *not* sent again here: it fails
//! as `TrackerError::Unconfirmed`, and the engine reads the tracker back (the column,
//! the comment's hidden marker) before performing it once more. A rate-limit rejection
//! (429, `RATELIMITED`) was not carried out; it pauses calls and the outbox retries. The API key is set on each request as a *sensitive* header and is
//! never formatted anywhere: not in logs, errors or `Debug`.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use graphql_client::GraphQLQuery;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::Value;

use super::config::{LinearConfig, RetryPolicy};
use super::rate::RateState;
use crate::config::Secret;
use crate::tracker::{RateBudget, TrackerError};

/// Linear's error code for an exhausted rate limit.
const RATELIMITED: &str = "RATELIMITED";
/// Codes that mean the key itself is refused.
const AUTH_CODES: &[&str] = &["AUTHENTICATION_ERROR", "FORBIDDEN"];

/// A failed call, before the caller decides what it means for its ticket.
#[derive(Debug)]
pub(crate) enum CallError {
    /// Already classified (rate limit, transient, malformed, auth).
    Tracker(TrackerError),
    /// Linear answered with GraphQL errors that are not about rate or auth.
    Graphql { codes: Vec<String>, message: String },
}

impl CallError {
    /// Whether Linear said the entity does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            CallError::Graphql { codes, message } => {
                codes.iter().any(|c| c == "ENTITY_NOT_FOUND")
                    || message.to_lowercase().contains("not found")
            }
            CallError::Tracker(_) => false,
        }
    }

    pub fn into_tracker(self, operation: &str) -> TrackerError {
        match self {
            CallError::Tracker(e) => e,
            CallError::Graphql { codes, message } => TrackerError::Fatal(format!(
                "Linear {operation} failed: {message}{}",
                if codes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", codes.join(", "))
                }
            )),
        }
    }
}

impl From<TrackerError> for CallError {
    fn from(e: TrackerError) -> Self {
        CallError::Tracker(e)
    }
}

/// What one attempt produced: an answer, or a reason to try again.
enum Attempt {
    Done(Result<Value, CallError>),
    /// A failure worth another try; `sent` when the request may have reached Linear.
    Retry {
        reason: String,
        sent: bool,
    },
}

pub(crate) struct Transport {
    client: reqwest::Client,
    endpoint: String,
    api_key: Secret,
    retry: RetryPolicy,
    fallback_pause: Duration,
    rate: Mutex<RateState>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub fn new(config: &LinearConfig) -> Result<Transport, TrackerError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("karajan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TrackerError::Fatal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Transport {
            client,
            endpoint: config.endpoint.clone(),
            api_key: config.api_key.clone(),
            retry: config.retry.clone(),
            fallback_pause: config.default_rate_limit_pause,
            rate: Mutex::new(RateState::default()),
        })
    }

    fn rate(&self) -> std::sync::MutexGuard<'_, RateState> {
        self.rate.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn budget(&self) -> Option<RateBudget> {
        self.rate().budget(Utc::now())
    }

    /// Runs operation `Q` and returns its `data`, retrying 5xx and timeouts.
    pub async fn call<Q: GraphQLQuery>(&self, variables: Q::Variables) -> Result<Value, CallError> {
        let body = Q::build_query(variables);
        let operation = body.operation_name;
        let mutation = body.query.contains(&format!("mutation {operation}"));
        let payload = serde_json::to_vec(&body).map_err(|e| {
            TrackerError::Fatal(format!("cannot encode Linear {operation} request: {e}"))
        })?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(until) = self.rate().paused(Utc::now()) {
                tracing::debug!(operation, %until, "Linear call skipped: rate limit pause");
                return Err(TrackerError::RateLimited { until }.into());
            }
            match self.attempt(operation, &payload, mutation).await {
                Attempt::Done(result) => return result,
                Attempt::Retry { reason, sent: true } if mutation => {
                    tracing::warn!(operation, reason = %reason, "Linear write sent but its answer was lost; not repeating it blindly");
                    return Err(
                        TrackerError::Unconfirmed(format!("Linear {operation}: {reason}")).into(),
                    );
                }
                Attempt::Retry { reason, .. } if attempt < self.retry.max_attempts => {
                    let delay = self.backoff(attempt);
                    tracing::warn!(operation, attempt, ?delay, reason = %reason, "Linear call failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                Attempt::Retry { reason, .. } => {
                    tracing::warn!(operation, attempt, reason = %reason, "Linear call failed; giving up for now");
                    return Err(TrackerError::Transient(format!(
                        "Linear {operation} failed after {attempt} attempts: {reason}"
                    ))
                    .into());
                }
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let capped = exp.min(self.retry.max_delay);
        let jitter = capped.mul_f64(rand::random::<f64>() * 0.25);
        capped + jitter
    }

    async fn attempt(&self, operation: &str, payload: &[u8], mutation: bool) -> Attempt {
        let mut auth = match HeaderValue::from_str(self.api_key.expose()) {
            Ok(v) => v,
            Err(_) => {
                return Attempt::Done(Err(TrackerError::Fatal(
                    "the Linear API key contains characters not allowed in a header".to_string(),
                )
                .into()));
            }
        };
        auth.set_sensitive(true);
        let sent = self
            .client
            .post(&self.endpoint)
            .header(AUTHORIZATION, auth)
            .header(CONTENT_TYPE, "application/json")
            .body(payload.to_vec())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    reason: describe(&e),
                    sent: !e.is_connect(),
                };
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let now = Utc::now();
        {
            let mut rate = self.rate();
            rate.observe(&headers);
            if rate.is_low() {
                tracing::warn!(operation, budget = %rate.summary(), "Linear rate budget is low");
            } else {
                tracing::debug!(operation, %status, budget = %rate.summary(), "Linear answered");
            }
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Attempt::Done(Err(self.pause(&headers, now, operation).into()));
        }
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                return Attempt::Retry {
                    reason: describe(&e),
                    sent: true,
                };
            }
        };
        if status.is_server_error() {
            return Attempt::Retry {
                reason: format!("HTTP {status}"),
                sent: true,
            };
        }
        if status == StatusCode::UNAUTHORIZED {
            return Attempt::Done(Err(auth_error().into()));
        }
        let envelope: Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            // A write answered with garbage: it may have been carried out.
            Err(e) if mutation => {
                return Attempt::Retry {
                    reason: format!("HTTP {status} with a body that is not JSON: {e}"),
                    sent: true,
                };
            }
            Err(e) => {
                return Attempt::Done(Err(TrackerError::Malformed {
                    source_name: format!("Linear {operation} (HTTP {status})"),
                    message: format!("response body is not JSON: {e}"),
                }
                .into()));
            }
        };
        let errors = envelope
            .get("errors")
            .and_then(Value::as_array)
            .filter(|e| !e.is_empty());
        if let Some(errors) = errors {
            let codes: Vec<String> = errors
                .iter()
                .filter_map(|e| e.pointer("/extensions/code").and_then(Value::as_str))
                .map(str::to_string)
                .collect();
            if codes.iter().any(|c| c == RATELIMITED) {
                return Attempt::Done(Err(self.pause(&headers, now, operation).into()));
            }
            if codes.iter().any(|c| AUTH_CODES.contains(&c.as_str())) {
                return Attempt::Done(Err(auth_error().into()));
            }
            if codes.iter().any(|c| c == "INTERNAL_SERVER_ERROR") {
                return Attempt::Retry {
                    reason: "Linear reported an internal error".to_string(),
                    sent: true,
                };
            }
            let message = errors
                .iter()
                .map(|e| {
                    e.get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown error")
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Attempt::Done(Err(CallError::Graphql { codes, message }));
        }
        if !status.is_success() {
            return Attempt::Done(Err(TrackerError::Fatal(format!(
                "Linear {operation} answered HTTP {status}"
            ))
            .into()));
        }
        match envelope.get("data") {
            Some(data) if data.is_object() => Attempt::Done(Ok(data.clone())),
            _ => Attempt::Done(Err(TrackerError::Malformed {
                source_name: format!("Linear {operation}"),
                message: "response has neither `data` nor `errors`".to_string(),
            }
            .into())),
        }
    }

    fn pause(
        &self,
        headers: &reqwest::header::HeaderMap,
        now: DateTime<Utc>,
        operation: &str,
    ) -> TrackerError {
        let until = self.rate().pause(headers, now, self.fallback_pause);
        tracing::warn!(operation, %until, "Linear rate limit reached; pausing tracker calls");
        TrackerError::RateLimited { until }
    }
}

fn auth_error() -> TrackerError {
    TrackerError::Fatal("Linear rejected the API key (authentication failed)".to_string())
}

/// A transport failure, described without the URL's query or any header.
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
    match std::error::Error::source(e) {
        Some(source) => format!("{kind}: {source}"),
        None => kind.to_string(),
    }
}
