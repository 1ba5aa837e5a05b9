//! The one place that talks HTTP to GitHub, so rate limits and retries are honoured by
//! every call alike:
//!
//! - Primary limit exhausted (403/429 with `x-ratelimit-remaining: 0`, or a GraphQL
//!   `RATE_LIMITED` error): the tracker pauses until `x-ratelimit-reset`; every call
//!   during the pause returns `RateLimited` without a request.
//! - Secondary limit (403/429 with a message, maybe `retry-after`): a short wait (up to
//!   `HttpPolicy::max_inline_wait`) is slept and the request retried; a longer one pauses
//!   the tracker. Without `retry-after` GitHub asks for at least a minute.
//! - 5xx and transport errors: retried with doubling backoff, `max_retries` times, for
//!   idempotent requests only (a repeated `addComment` would post twice). A request that
//!   could not even connect is retried whatever it is: it never reached GitHub.
//! - A GraphQL answer that says nothing (HTTP 200 with an empty or unreadable body, or
//!   `data: null` with GitHub's generic "Something went wrong"): a transient failure,
//!   retried like a 5xx for idempotent operations (a Status move sets a value).
//! - A non-idempotent write whose answer is lost after it was sent (timeout, 5xx, an
//!   empty answer) fails as `TrackerError::Unconfirmed`: it may have happened, so the
//!   engine reads the tracker back before performing it once more.
//! - HTTP 200 with other `errors`: surfaced as `GqlError`s for the caller to map.
//!
//! The token goes only into the `Authorization` header; no message built here contains it.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use graphql_client::GraphQLQuery;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::config::{ApiEndpoints, HttpPolicy};
use crate::config::Secret;
use crate::tracker::{RateBudget, TrackerError};

/// One error of a GraphQL response (GitHub adds a `type` such as `NOT_FOUND`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct GqlError {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub message: String,
    #[serde(default)]
    pub extensions: Option<Value>,
}

impl GqlError {
    pub fn is_not_found(&self) -> bool {
        self.kind.as_deref() == Some("NOT_FOUND")
    }

    /// The server does not know a field of the operation (older schema).
    pub fn is_undefined_field(&self) -> bool {
        let code = self
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str);
        code == Some("undefinedField") || self.message.contains("doesn't exist on type")
    }
}

/// A GraphQL answer: data (possibly partial) and the errors beside it.
pub(crate) struct GqlReply<T> {
    pub data: Option<T>,
    pub errors: Vec<GqlError>,
}

impl<T> GqlReply<T> {
    /// The data when there is no error at all; otherwise the errors as a typed error.
    pub fn into_data(self, what: &str) -> Result<T, TrackerError> {
        match (self.data, self.errors.is_empty()) {
            (Some(d), true) => Ok(d),
            (_, _) => Err(errors_to_tracker(what, &self.errors)),
        }
    }
}

pub(crate) fn errors_to_tracker(what: &str, errors: &[GqlError]) -> TrackerError {
    let joined = errors
        .iter()
        .map(|e| match &e.kind {
            Some(k) => format!("{k}: {}", e.message),
            None => e.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ");
    if errors.is_empty() {
        return TrackerError::Malformed {
            source_name: what.to_string(),
            message: "response has neither data nor errors".to_string(),
        };
    }
    if errors.iter().all(GqlError::is_not_found) {
        return TrackerError::NotFound(format!("{what}: {joined}"));
    }
    TrackerError::Fatal(format!("GitHub rejected {what}: {joined}"))
}

/// A REST answer: status, JSON body (Null when empty) and the `Link: rel="next"` URL.
pub(crate) struct RestReply {
    pub status: StatusCode,
    pub body: Value,
    pub next: Option<String>,
}

#[derive(Debug, Default, Clone)]
struct RateState {
    remaining: Option<u64>,
    limit: Option<u64>,
    resets_at: Option<DateTime<Utc>>,
    paused_until: Option<DateTime<Utc>>,
    graphql_points: u64,
    requests: u64,
}

pub(crate) struct GithubHttp {
    client: reqwest::Client,
    token: Secret,
    api: ApiEndpoints,
    policy: HttpPolicy,
    rate: Mutex<RateState>,
}

impl std::fmt::Debug for GithubHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubHttp")
            .field("api", &self.api)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct RawGqlResponse {
    data: Option<Value>,
    #[serde(default)]
    errors: Vec<GqlError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimitField {
    cost: Option<u64>,
    remaining: Option<u64>,
    limit: Option<u64>,
    reset_at: Option<DateTime<Utc>>,
}

impl GithubHttp {
    pub fn new(token: Secret, api: ApiEndpoints, policy: HttpPolicy) -> Result<Self, TrackerError> {
        let client = reqwest::Client::builder()
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.request_timeout)
            .user_agent(concat!("karajan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TrackerError::Fatal(format!("cannot build the HTTP client: {e}")))?;
        Ok(GithubHttp {
            client,
            token,
            api,
            policy,
            rate: Mutex::new(RateState::default()),
        })
    }

    pub fn rest_url(&self, path: &str) -> String {
        format!("{}{}", self.api.rest, path)
    }

    pub fn token(&self) -> &Secret {
        &self.token
    }

    pub fn budget(&self) -> Option<RateBudget> {
        let s = self.lock().clone();
        if s.remaining.is_none() && s.paused_until.is_none() {
            return None;
        }
        Some(RateBudget {
            remaining: s.remaining,
            limit: s.limit,
            resets_at: s.resets_at,
            paused_until: s.paused_until.filter(|p| *p > Utc::now()),
        })
    }

    /// Sum of the `rateLimit.cost` GitHub reported for our queries since start.
    pub fn graphql_points(&self) -> u64 {
        self.lock().graphql_points
    }

    /// HTTP requests actually sent since start (retries included).
    pub fn requests_sent(&self) -> u64 {
        self.lock().requests
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RateState> {
        // A poisoned lock only means another call panicked mid-update of counters.
        self.rate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a GraphQL operation generated by `graphql_client`.
    pub async fn graphql<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
        idempotent: bool,
    ) -> Result<GqlReply<Q::ResponseData>, TrackerError>
    where
        Q::ResponseData: DeserializeOwned,
    {
        let body = Q::build_query(variables);
        let op = body.operation_name;
        let json = serde_json::to_value(&body)
            .map_err(|e| TrackerError::Fatal(format!("cannot encode {op}: {e}")))?;
        let url = self.api.graphql.clone();
        let mut attempt: u32 = 0;
        let raw = loop {
            let reply = self
                .send(Method::POST, &url, Some(&json), idempotent, op)
                .await?;
            if !reply.status.is_success() {
                return Err(status_error(op, reply.status, &reply.body));
            }
            let Some(reason) = says_nothing(&reply.body) else {
                break serde_json::from_value::<RawGqlResponse>(reply.body).map_err(|e| {
                    TrackerError::Malformed {
                        source_name: op.to_string(),
                        message: e.to_string(),
                    }
                })?;
            };
            if !idempotent {
                tracing::warn!(request = op, %reason, "GitHub write answered with nothing; not repeating it blindly");
                return Err(TrackerError::Unconfirmed(format!("{op}: {reason}")));
            }
            if attempt >= self.policy.max_retries {
                return Err(TrackerError::Transient(format!("{op}: {reason}")));
            }
            tracing::warn!(request = op, attempt, %reason, "GitHub answered with nothing, retrying");
            tokio::time::sleep(self.backoff(attempt)).await;
            attempt += 1;
        };
        if let Some(rl) = raw
            .data
            .as_ref()
            .and_then(|d| d.get("rateLimit"))
            .and_then(|v| serde_json::from_value::<RateLimitField>(v.clone()).ok())
        {
            let mut s = self.lock();
            s.graphql_points += rl.cost.unwrap_or(0);
            if rl.remaining.is_some() {
                s.remaining = rl.remaining;
            }
            s.limit = rl.limit.or(s.limit);
            s.resets_at = rl.reset_at.or(s.resets_at);
        }
        if raw
            .errors
            .iter()
            .any(|e| e.kind.as_deref() == Some("RATE_LIMITED"))
        {
            let until = self.pause_until_reset();
            return Err(TrackerError::RateLimited { until });
        }
        let data = match raw.data {
            None | Some(Value::Null) => None,
            Some(v) => Some(serde_json::from_value::<Q::ResponseData>(v).map_err(|e| {
                TrackerError::Malformed {
                    source_name: op.to_string(),
                    message: e.to_string(),
                }
            })?),
        };
        Ok(GqlReply {
            data,
            errors: raw.errors,
        })
    }

    /// A REST call. 2xx and the 4xx the caller must judge (404, 410, 422) come back as
    /// `RestReply`; 401, 403 and other statuses become typed errors.
    pub async fn rest(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<RestReply, TrackerError> {
        let idempotent = method != Method::POST;
        let what = format!("{method} {}", strip_query(url));
        let reply = self.send(method, url, body, idempotent, &what).await?;
        match reply.status.as_u16() {
            200..=299 | 404 | 410 | 422 => Ok(reply),
            _ => Err(status_error(&what, reply.status, &reply.body)),
        }
    }

    /// Sends with pause check, header bookkeeping, rate-limit handling and 5xx retries.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        idempotent: bool,
        what: &str,
    ) -> Result<RestReply, TrackerError> {
        let mut attempt: u32 = 0;
        loop {
            if let Some(until) = self.lock().paused_until
                && until > Utc::now()
            {
                return Err(TrackerError::RateLimited { until });
            }
            let mut req = self
                .client
                .request(method.clone(), url)
                .header("authorization", format!("Bearer {}", self.token.expose()))
                .header("accept", "application/vnd.github+json")
                .header("x-github-api-version", "2022-11-28");
            if let Some(b) = body {
                req = req.json(b);
            }
            self.lock().requests += 1;
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    let never_sent = e.is_connect();
                    let msg = format!("{what}: {}", e.without_url());
                    if (idempotent || never_sent) && attempt < self.policy.max_retries {
                        tracing::warn!(
                            request = what,
                            attempt,
                            "GitHub request failed, retrying: {msg}"
                        );
                        tokio::time::sleep(self.backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    if !idempotent && !never_sent {
                        return Err(TrackerError::Unconfirmed(msg));
                    }
                    return Err(TrackerError::Transient(msg));
                }
            };
            let status = resp.status();
            let headers = resp.headers().clone();
            self.note_headers(&headers);
            let next = next_link(&headers);
            let text = resp.text().await.unwrap_or_default();
            let json: Value = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            };
            if status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS {
                let remaining = header_u64(&headers, "x-ratelimit-remaining");
                if remaining == Some(0) {
                    let until = self.pause_until_reset();
                    tracing::warn!(request = what, %until, "GitHub primary rate limit exhausted; pausing tracker calls");
                    return Err(TrackerError::RateLimited { until });
                }
                let retry_after = header_u64(&headers, "retry-after");
                let message = body_message(&json);
                if retry_after.is_some() || message.to_lowercase().contains("rate limit") {
                    let wait = Duration::from_secs(retry_after.unwrap_or(60));
                    if wait <= self.policy.max_inline_wait && attempt < self.policy.max_retries {
                        tracing::warn!(
                            request = what,
                            wait_secs = wait.as_secs(),
                            "GitHub secondary rate limit; waiting as told"
                        );
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    let until = Utc::now()
                        + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(60));
                    self.lock().paused_until = Some(until);
                    tracing::warn!(request = what, %until, "GitHub secondary rate limit; pausing tracker calls");
                    return Err(TrackerError::RateLimited { until });
                }
            }
            if status.is_server_error() {
                if idempotent && attempt < self.policy.max_retries {
                    tracing::warn!(
                        request = what,
                        status = status.as_u16(),
                        attempt,
                        "GitHub server error, retrying"
                    );
                    tokio::time::sleep(self.backoff(attempt)).await;
                    attempt += 1;
                    continue;
                }
                let msg = format!("{what}: GitHub answered {status}");
                if !idempotent {
                    return Err(TrackerError::Unconfirmed(msg));
                }
                return Err(TrackerError::Transient(msg));
            }
            return Ok(RestReply {
                status,
                body: json,
                next,
            });
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.policy.base_backoff * 2u32.saturating_pow(attempt.min(10))
    }

    fn note_headers(&self, headers: &HeaderMap) {
        let mut s = self.lock();
        if let Some(r) = header_u64(headers, "x-ratelimit-remaining") {
            s.remaining = Some(r);
        }
        if let Some(l) = header_u64(headers, "x-ratelimit-limit") {
            s.limit = Some(l);
        }
        if let Some(reset) = header_u64(headers, "x-ratelimit-reset")
            .and_then(|t| Utc.timestamp_opt(t as i64, 0).single())
        {
            s.resets_at = Some(reset);
        }
    }

    /// Pauses until the known reset (or a minute when GitHub did not say).
    fn pause_until_reset(&self) -> DateTime<Utc> {
        let mut s = self.lock();
        let now = Utc::now();
        let until = s
            .resets_at
            .filter(|r| *r > now)
            .unwrap_or(now + chrono::Duration::seconds(60));
        s.paused_until = Some(until);
        s.remaining = Some(0);
        until
    }
}

/// Why a successful GraphQL answer carries nothing usable, if it does not: an empty or
/// unreadable body, or `data: null` with only GitHub's generic internal error.
fn says_nothing(body: &Value) -> Option<String> {
    match body {
        Value::Null => return Some("HTTP 200 with an empty body".to_string()),
        Value::Object(_) => {}
        _ => return Some("HTTP 200 with a body that is not a JSON object".to_string()),
    }
    let data_null = body.get("data").is_none_or(Value::is_null);
    let errors = body.get("errors").and_then(Value::as_array);
    let generic = errors.is_some_and(|errs| {
        !errs.is_empty()
            && errs.iter().all(|e| {
                e.get("type").is_none_or(Value::is_null)
                    && e.get("message")
                        .and_then(Value::as_str)
                        .is_some_and(|m| m.starts_with("Something went wrong"))
            })
    });
    if data_null && generic {
        return Some("GitHub said \"Something went wrong\" and returned no data".to_string());
    }
    if data_null && errors.is_none_or(|e| e.is_empty()) {
        return Some("HTTP 200 with neither data nor errors".to_string());
    }
    None
}

fn status_error(what: &str, status: StatusCode, body: &Value) -> TrackerError {
    let message = body_message(body);
    match status.as_u16() {
        401 => TrackerError::Fatal(format!(
            "{what}: GitHub rejected the token (401 {message}); check tracker.token"
        )),
        403 => TrackerError::Fatal(format!(
            "{what}: forbidden (403 {message}); the token needs the `repo` scope, and `project` in project mode"
        )),
        404 => TrackerError::NotFound(format!("{what}: {message}")),
        s if (500..600).contains(&s) => {
            TrackerError::Transient(format!("{what}: GitHub answered {status}"))
        }
        _ => TrackerError::Fatal(format!("{what}: GitHub answered {status}: {message}")),
    }
}

fn body_message(body: &Value) -> String {
    body.get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_default()
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The `rel="next"` URL of a `Link` header.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn finds_the_next_link() {
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static(
                "<https://api.github.com/x?page=3>; rel=\"next\", <https://api.github.com/x?page=9>; rel=\"last\"",
            ),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/x?page=3")
        );
        h.insert(
            "link",
            HeaderValue::from_static("<https://a/x?page=1>; rel=\"prev\""),
        );
        assert_eq!(next_link(&h), None);
    }

    #[test]
    fn maps_graphql_errors() {
        let nf = GqlError {
            kind: Some("NOT_FOUND".into()),
            message: "Could not resolve".into(),
            extensions: None,
        };
        assert!(matches!(
            errors_to_tracker("Q", std::slice::from_ref(&nf)),
            TrackerError::NotFound(_)
        ));
        let other = GqlError {
            kind: Some("FORBIDDEN".into()),
            ..nf.clone()
        };
        assert!(matches!(
            errors_to_tracker("Q", &[nf, other]),
            TrackerError::Fatal(_)
        ));
    }
}
