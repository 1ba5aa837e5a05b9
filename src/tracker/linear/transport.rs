//! One GraphQL call to Linear over the shared tracker HTTP layer (`tracker::http`):
//! authentication, and what Linear's answers mean. Retries, backoff, timeouts, rate
//! limits and the rule for writes whose answer was lost are the layer's, the same as
//! for every tracker:
//!
//! A query is retried; a mutation only when the request provably never reached Linear.
//! A mutation whose answer is lost after it was sent (timeout, cut-off or unreadable
//! body, 5xx, Linear's internal error) fails as `TrackerError::Unconfirmed`, and the
//! engine reads the tracker back (the column, the comment's hidden marker) before
//! performing it once more. A rate-limit rejection (429, `RATELIMITED`) was not carried
//! out; it pauses calls and the outbox retries. The API key is set on each request as a
//! *sensitive* header and is never formatted anywhere: not in logs, errors or `Debug`.

use graphql_client::GraphQLQuery;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::Value;

use super::config::LinearConfig;
use crate::config::Secret;
use crate::tracker::http::backoff::Backoff;
use crate::tracker::http::rate::Dialect;
use crate::tracker::http::{DEFAULT_IN_FLIGHT, HttpLayer, Judgement, Policy, Replay, Reply};
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

pub(crate) struct Transport {
    http: HttpLayer,
    endpoint: String,
    api_key: Secret,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub fn new(config: &LinearConfig) -> Result<Transport, TrackerError> {
        let policy = Policy {
            backoff: Backoff {
                max_attempts: config.retry.max_attempts,
                base: config.retry.base_delay,
                max: config.retry.max_delay,
            },
            fallback_pause: config.default_rate_limit_pause,
            // Linear's limits reset on the hour-scale window: never wait inline.
            max_inline_wait: std::time::Duration::ZERO,
            in_flight: DEFAULT_IN_FLIGHT,
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
        };
        Ok(Transport {
            http: HttpLayer::new("Linear", Dialect::Linear, policy)?,
            endpoint: config.endpoint.clone(),
            api_key: config.api_key.clone(),
        })
    }

    pub fn budget(&self) -> Option<RateBudget> {
        self.http.budget()
    }

    /// Runs operation `Q` and returns its `data`.
    pub async fn call<Q: GraphQLQuery>(&self, variables: Q::Variables) -> Result<Value, CallError> {
        self.run::<Q>(variables, false).await
    }

    /// Runs a document of several mutations and returns the whole answer (`data`, which
    /// may be null, and `errors`, each with its `path`), for the caller to read per
    /// part. Rate limits, auth failures and lost answers still fail the whole call.
    pub async fn call_parts<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
    ) -> Result<Value, CallError> {
        self.run::<Q>(variables, true).await
    }

    async fn run<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
        parts: bool,
    ) -> Result<Value, CallError> {
        let body = Q::build_query(variables);
        let operation = body.operation_name;
        let mutation = body.query.contains(&format!("mutation {operation}"));
        let payload = serde_json::to_vec(&body).map_err(|e| {
            TrackerError::Fatal(format!("cannot encode Linear {operation} request: {e}"))
        })?;
        let mut auth = HeaderValue::from_str(self.api_key.expose()).map_err(|_| {
            TrackerError::Fatal(
                "the Linear API key contains characters not allowed in a header".to_string(),
            )
        })?;
        auth.set_sensitive(true);
        let replay = if mutation {
            Replay::Unsafe
        } else {
            Replay::Safe
        };
        let build = |client: &reqwest::Client| {
            client
                .post(&self.endpoint)
                .header(AUTHORIZATION, auth.clone())
                .header(CONTENT_TYPE, "application/json")
                .body(payload.clone())
        };
        self.http
            .execute(operation, replay, build, |reply| {
                judge(operation, mutation, parts, reply)
            })
            .await?
    }
}

/// What a Linear answer (not a 429 or 5xx: the layer took those) means.
/// With `parts`, GraphQL errors of single fields are left in the answer returned.
fn judge(
    operation: &str,
    mutation: bool,
    parts: bool,
    reply: &Reply,
) -> Judgement<Result<Value, CallError>> {
    let status = reply.status;
    let fail = |e: TrackerError| Judgement::Accept(Err(CallError::Tracker(e)));
    if status == StatusCode::UNAUTHORIZED {
        return fail(auth_error());
    }
    let envelope: Value = match serde_json::from_slice(&reply.body) {
        Ok(v) => v,
        // A write answered with garbage: it may have been carried out.
        Err(e) if mutation => {
            return Judgement::Retry(format!("HTTP {status} with a body that is not JSON: {e}"));
        }
        Err(e) => {
            return fail(TrackerError::Malformed {
                source_name: format!("Linear {operation} (HTTP {status})"),
                message: format!("response body is not JSON: {e}"),
            });
        }
    };
    let errors = envelope
        .get("errors")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty());
    if let Some(errors) = errors {
        let codes = error_codes(errors);
        if codes.iter().any(|c| c == RATELIMITED) {
            return Judgement::RateLimited;
        }
        if codes.iter().any(|c| AUTH_CODES.contains(&c.as_str())) {
            return fail(auth_error());
        }
        if codes.iter().any(|c| c == "INTERNAL_SERVER_ERROR") {
            return Judgement::Retry("Linear reported an internal error".to_string());
        }
        let message = error_message(errors);
        let per_field = errors
            .iter()
            .all(|e| e.get("path").and_then(Value::as_array).is_some());
        if parts && per_field {
            return Judgement::Accept(Ok(envelope));
        }
        return Judgement::Accept(Err(CallError::Graphql { codes, message }));
    }
    if !status.is_success() {
        return fail(TrackerError::Fatal(format!(
            "Linear {operation} answered HTTP {status}"
        )));
    }
    if parts {
        return Judgement::Accept(Ok(envelope));
    }
    match envelope {
        Value::Object(mut map) => match map.remove("data") {
            Some(data) if data.is_object() => Judgement::Accept(Ok(data)),
            _ => fail(TrackerError::Malformed {
                source_name: format!("Linear {operation}"),
                message: "response has neither `data` nor `errors`".to_string(),
            }),
        },
        _ => fail(TrackerError::Malformed {
            source_name: format!("Linear {operation}"),
            message: "response has neither `data` nor `errors`".to_string(),
        }),
    }
}

/// The `extensions.code` of each GraphQL error that has one.
pub(super) fn error_codes<'a>(errors: impl IntoIterator<Item = &'a Value>) -> Vec<String> {
    errors
        .into_iter()
        .filter_map(|e| e.pointer("/extensions/code").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// The GraphQL errors' messages, joined.
pub(super) fn error_message<'a>(errors: impl IntoIterator<Item = &'a Value>) -> String {
    errors
        .into_iter()
        .map(|e| {
            e.get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn auth_error() -> TrackerError {
    TrackerError::Fatal("Linear rejected the API key (authentication failed)".to_string())
}
