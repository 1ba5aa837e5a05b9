//! The one place that talks HTTP to GitHub, over the shared tracker HTTP layer
//! (`tracker::http`), so GitHub follows the same rules as every tracker; what is
//! GitHub's own is how its answers read:
//!
//! - Primary limit exhausted (403/429 with `x-ratelimit-remaining: 0`, or a GraphQL
//!   `RATE_LIMITED` error): a rate-limit answer; the pause lasts until
//!   `x-ratelimit-reset`.
//! - Secondary limit (403/429 with a message, maybe `retry-after`): a rate-limit answer;
//!   without `retry-after` GitHub asks for at least a minute (the fallback pause). A
//!   pause up to `HttpPolicy::max_inline_wait` is waited out inside the call, a longer
//!   one refuses every call at once.
//! - 5xx and transport errors: retried with backoff, `max_retries` times, for
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

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use graphql_client::GraphQLQuery;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::config::{ApiEndpoints, HttpPolicy};
use crate::config::Secret;
use crate::tracker::http::backoff::Backoff;
use crate::tracker::http::rate::{Dialect, Meter};
use crate::tracker::http::{DEFAULT_IN_FLIGHT, HttpLayer, Judgement, Policy, Replay, Reply};
use crate::tracker::{RateBudget, TrackerError};

/// No single backoff wait exceeds this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One error of a GraphQL response (GitHub adds a `type` such as `NOT_FOUND`).
#[derive(Debug, Clone, Deserialize)]
pub struct GqlError {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub message: String,
    #[serde(default)]
    pub extensions: Option<Value>,
    /// Where in the answer it happened (the first element: a field or its alias).
    #[serde(default)]
    pub path: Option<Vec<Value>>,
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
pub struct GqlReply<T> {
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
pub struct RestReply {
    pub status: StatusCode,
    pub body: Value,
    pub next: Option<String>,
}

pub struct GithubHttp {
    http: HttpLayer,
    token: Secret,
    api: ApiEndpoints,
    graphql_points: AtomicU64,
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
        Self::trusting(token, api, policy, None)
    }

    /// [`GithubHttp::new`], also trusting the CA certificates of `ca_file`.
    pub fn trusting(
        token: Secret,
        api: ApiEndpoints,
        policy: HttpPolicy,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, TrackerError> {
        let policy = Policy {
            backoff: Backoff {
                max_attempts: policy.max_retries.saturating_add(1),
                base: policy.base_backoff,
                max: MAX_BACKOFF,
            },
            // Secondary limits without `retry-after`: "wait at least one minute".
            fallback_pause: Duration::from_secs(60),
            max_inline_wait: policy.max_inline_wait,
            in_flight: DEFAULT_IN_FLIGHT,
            connect_timeout: policy.connect_timeout,
            request_timeout: policy.request_timeout,
        };
        Ok(GithubHttp {
            http: HttpLayer::trusting("GitHub", Dialect::Github, policy, ca_file)?,
            token,
            api,
            graphql_points: AtomicU64::new(0),
        })
    }

    /// Whether this client talks to `api` with `token` (a forge may then share it).
    pub fn serves(&self, api: &ApiEndpoints, token: &Secret) -> bool {
        self.api == *api && self.token.expose() == token.expose()
    }

    pub fn rest_url(&self, path: &str) -> String {
        format!("{}{}", self.api.rest, path)
    }

    pub fn token(&self) -> &Secret {
        &self.token
    }

    pub fn budget(&self) -> Option<RateBudget> {
        self.http.budget()
    }

    /// Sum of the `rateLimit.cost` GitHub reported for our queries since start.
    pub fn graphql_points(&self) -> u64 {
        self.graphql_points.load(Ordering::Relaxed)
    }

    /// HTTP requests actually sent since start (retries included).
    pub fn requests_sent(&self) -> u64 {
        self.http.requests_sent()
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
        let raw = self.graphql_raw(op, &json, idempotent).await?;
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

    /// Sends an encoded GraphQL request; its data is left untyped.
    pub async fn graphql_raw(
        &self,
        op: &str,
        json: &Value,
        idempotent: bool,
    ) -> Result<GqlReply<Value>, TrackerError> {
        let url = self.api.graphql.clone();
        let replay = if idempotent {
            Replay::Safe
        } else {
            Replay::Unsafe
        };
        let reply = self
            .http
            .execute(
                op,
                replay,
                |c| self.request(c, Method::POST, &url, Some(json)),
                |reply| {
                    if let Some(limited) = self.rate_limited(reply) {
                        return limited;
                    }
                    let body = parse_body(&reply.body);
                    if !reply.status.is_success() {
                        return Judgement::Accept(Err(status_error(op, reply.status, &body)));
                    }
                    if let Some(reason) = says_nothing(&body) {
                        return Judgement::Retry(reason);
                    }
                    let is_limited =
                        body.get("errors")
                            .and_then(Value::as_array)
                            .is_some_and(|errs| {
                                errs.iter().any(|e| {
                                    e.get("type").and_then(Value::as_str) == Some("RATE_LIMITED")
                                })
                            });
                    if is_limited {
                        // GitHub may not have said so in headers: the budget is spent.
                        self.http.with_rate(|r| {
                            r.set_primary(Meter {
                                remaining: Some(0),
                                ..Meter::default()
                            })
                        });
                        return Judgement::RateLimited;
                    }
                    Judgement::Accept(Ok(body))
                },
            )
            .await??;
        let raw = serde_json::from_value::<RawGqlResponse>(reply).map_err(|e| {
            TrackerError::Malformed {
                source_name: op.to_string(),
                message: e.to_string(),
            }
        })?;
        if let Some(rl) = raw
            .data
            .as_ref()
            .and_then(|d| d.get("rateLimit"))
            .and_then(|v| serde_json::from_value::<RateLimitField>(v.clone()).ok())
        {
            self.graphql_points
                .fetch_add(rl.cost.unwrap_or(0), Ordering::Relaxed);
            self.http.with_rate(|r| {
                r.set_primary(Meter {
                    limit: rl.limit,
                    remaining: rl.remaining,
                    reset: rl.reset_at,
                })
            });
        }
        Ok(GqlReply {
            data: raw.data,
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
        self.rest_accepting(method, url, body, &[]).await
    }

    /// A REST call whose refusals the caller reads: as [`GithubHttp::rest`], and 405 and
    /// 409 come back as `RestReply` too (a merge GitHub refuses, a head that moved).
    pub async fn rest_judged(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<RestReply, TrackerError> {
        self.rest_accepting(method, url, body, &[405, 409]).await
    }

    async fn rest_accepting(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        also: &[u16],
    ) -> Result<RestReply, TrackerError> {
        let replay = if method == Method::POST {
            Replay::Unsafe
        } else {
            Replay::Safe
        };
        let what = format!("{method} {}", strip_query(url));
        self.http
            .execute(
                &what,
                replay,
                |c| self.request(c, method.clone(), url, body),
                |reply| {
                    if let Some(limited) = self.rate_limited(reply) {
                        return limited;
                    }
                    let json = parse_body(&reply.body);
                    Judgement::Accept(match reply.status.as_u16() {
                        s if also.contains(&s) => Ok(RestReply {
                            status: reply.status,
                            body: json,
                            next: next_link(&reply.headers),
                        }),
                        200..=299 | 404 | 410 | 422 => Ok(RestReply {
                            status: reply.status,
                            body: json,
                            next: next_link(&reply.headers),
                        }),
                        _ => Err(status_error(&what, reply.status, &json)),
                    })
                },
            )
            .await?
    }

    fn request(
        &self,
        client: &reqwest::Client,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> reqwest::RequestBuilder {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.token.expose()))
            .unwrap_or_else(|_| HeaderValue::from_static(""));
        auth.set_sensitive(true);
        let mut req = client
            .request(method, url)
            .header("authorization", auth)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28");
        if let Some(b) = body {
            req = req.json(b);
        }
        req
    }

    /// A 403 that is a primary or secondary rate limit (429 is the layer's already).
    fn rate_limited<T>(&self, reply: &Reply) -> Option<Judgement<T>> {
        if reply.status != StatusCode::FORBIDDEN {
            return None;
        }
        if header_u64(&reply.headers, "x-ratelimit-remaining") == Some(0) {
            return Some(Judgement::RateLimited);
        }
        let secondary = reply.headers.contains_key("retry-after")
            || body_message(&parse_body(&reply.body))
                .to_lowercase()
                .contains("rate limit");
        secondary.then_some(Judgement::RateLimited)
    }
}

/// A response body as JSON: `Null` when empty, a string when it is not JSON.
fn parse_body(body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).unwrap_or_else(|_| Value::String(text.into_owned()))
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
            path: None,
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
