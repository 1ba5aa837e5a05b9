//! `POST <server.webhooks.path>`: Linear and GitHub webhook deliveries, so that a
//! change in the tracker (a ticket approved, moved, commented) is acted on at once
//! instead of at the next poll. Polling goes on at `server.webhooks.poll_interval` as
//! the consistency check: a lost or refused delivery delays a reaction, never loses it.
//!
//! A delivery is accepted only when:
//! 1. its body is at most [`MAX_BODY`] bytes;
//! 2. its signature is the HMAC-SHA256 of the raw body under the configured secret
//!    (`Linear-Signature`, or GitHub's `X-Hub-Signature-256`), compared in constant time;
//! 3. (Linear) its `webhookTimestamp` is within `replay_window` of now;
//! 4. its delivery id (`Linear-Delivery`, `X-GitHub-Delivery`) was not accepted before.
//!
//! Refusals are answered 401 (signature), 409 (replay), 400 (stale or malformed) or 413
//! (too large), counted on `/metrics`, logged without any secret, and recorded as
//! `webhook_refused` events, coalesced per source and reason so a flood of junk cannot
//! fill the store. An accepted delivery that names tickets nudges the orchestrator
//! ([`Handle::nudge`](crate::orchestrator::Handle::nudge)), or, for a Linear issue
//! update, hands it the issue the delivery carries
//! ([`Handle::deliver`](crate::orchestrator::Handle::deliver)), which it may act on
//! without a read; anything else (another resource type, a `ping`, another repository)
//! is answered 200 and ignored.
//!
//! The route sits outside the dashboard's `auth::guard`: senders carry no operator
//! token, and behind a reverse proxy their `Host` is the public name. The signature is
//! their credential.

mod memory;
mod payload;
mod verify;

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use super::AppState;
use super::error::ApiError;
use crate::config::{Secret, Workflow};
use crate::store::{EventKind, NewEvent};
use memory::{Coalesce, Seen};
use payload::Meaning;

/// The largest body accepted (Linear and GitHub issue payloads are a few kB; GitHub
/// caps its own at 25 MB, but nothing karajan reads comes near 1 MiB).
pub const MAX_BODY: usize = 1024 * 1024;
/// Delivery ids remembered, at most.
const SEEN_CAP: usize = 16_384;
/// How long a delivery id is remembered, at least (GitHub deliveries carry no
/// timestamp, so only this memory refuses their replays).
const SEEN_RETAIN: Duration = Duration::from_secs(24 * 3600);
/// At most one recorded refusal per source and reason in this time.
const RECORD_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Linear,
    Github,
    Unknown,
}

impl Source {
    fn of(h: &HeaderMap) -> Source {
        let has = |n: &str| h.contains_key(n);
        if has("linear-signature") || has("linear-delivery") || has("linear-event") {
            Source::Linear
        } else if has("x-github-event") || has("x-hub-signature-256") || has("x-github-delivery") {
            Source::Github
        } else {
            Source::Unknown
        }
    }

    fn name(self) -> &'static str {
        match self {
            Source::Linear => "linear",
            Source::Github => "github",
            Source::Unknown => "unknown",
        }
    }
}

/// Why a delivery was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    TooLarge,
    Unsigned,
    BadSignature,
    Malformed,
    Stale,
    Replay,
}

impl Refusal {
    fn name(self) -> &'static str {
        match self {
            Refusal::TooLarge => "too_large",
            Refusal::Unsigned => "unsigned",
            Refusal::BadSignature => "bad_signature",
            Refusal::Malformed => "malformed",
            Refusal::Stale => "stale",
            Refusal::Replay => "replay",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Refusal::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Unsigned | Refusal::BadSignature => StatusCode::UNAUTHORIZED,
            Refusal::Malformed | Refusal::Stale => StatusCode::BAD_REQUEST,
            Refusal::Replay => StatusCode::CONFLICT,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Refusal::TooLarge => "the delivery is larger than karajan accepts",
            Refusal::Unsigned => {
                "not a Linear or GitHub delivery (no Linear-Signature or X-Hub-Signature-256)"
            }
            Refusal::BadSignature => "the signature does not match the configured secret",
            Refusal::Malformed => "the delivery is not a JSON object with a delivery id",
            Refusal::Stale => "the delivery's webhookTimestamp is outside the replay window",
            Refusal::Replay => "this delivery id was already received",
        }
    }
}

/// The endpoint's settings and its bounded memories.
pub struct Webhooks {
    path: String,
    secret: Secret,
    replay_window: Duration,
    /// The tracker deliveries are about: `linear` or `github`.
    tracker: &'static str,
    /// GitHub: the tracker's `owner/name`; deliveries about other repositories are
    /// ignored.
    repo: Option<String>,
    seen: Mutex<Seen>,
    coalesce: Mutex<Coalesce>,
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl Webhooks {
    /// The endpoint a workflow configures, if any.
    pub fn from_workflow(wf: &Workflow) -> Option<Webhooks> {
        let cfg = wf.server.webhooks.as_ref()?;
        let tracker = wf.tracker.kind();
        let repo = wf
            .tracker
            .get::<crate::tracker::github::GithubConfig>()
            .map(|g| format!("{}/{}", g.owner, g.repo));
        Some(Webhooks {
            path: cfg.path.clone(),
            secret: cfg.secret.clone(),
            replay_window: cfg.replay_window,
            tracker,
            repo,
            seen: Mutex::new(Seen::new(SEEN_CAP, SEEN_RETAIN.max(cfg.replay_window * 2))),
            coalesce: Mutex::new(Coalesce::new(RECORD_EVERY)),
            counts: Mutex::new(BTreeMap::new()),
        })
    }

    /// The route deliveries are posted to.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn count(&self, source: Source, outcome: &'static str) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *c.entry((source.name(), outcome)).or_default() += 1;
    }

    /// The `/metrics` lines: deliveries by source and outcome since the start.
    pub(crate) fn metrics_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP karajan_webhook_deliveries_total Webhook deliveries since the daemon started, by source and outcome (accepted, ignored, or the refusal reason)."
        );
        let _ = writeln!(out, "# TYPE karajan_webhook_deliveries_total counter");
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        for ((source, outcome), n) in counts.iter() {
            let _ = writeln!(
                out,
                "karajan_webhook_deliveries_total{{source=\"{source}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        out
    }
}

/// A delivery id as the sender claimed it, safe to log and record: printable ASCII
/// of an id's alphabet only, at most 64 characters.
fn shorten(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.:".contains(*c))
        .take(64)
        .collect()
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Count, log and (coalesced) record a refusal, and answer it.
async fn refuse(
    st: &AppState,
    hooks: &Webhooks,
    source: Source,
    why: Refusal,
    delivery: Option<String>,
) -> Response {
    hooks.count(source, why.name());
    let admitted = hooks
        .coalesce
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .admit((source.name(), why.name()), tokio::time::Instant::now());
    match admitted {
        Some(suppressed) => {
            warn!(source = source.name(), reason = why.name(), delivery = ?delivery, suppressed, "webhook delivery refused");
            let event = NewEvent::global(EventKind::WebhookRefused {
                source: source.name().to_string(),
                reason: why.name().to_string(),
                delivery,
                suppressed,
            });
            if let Err(e) = st.store.append(vec![event]).await {
                warn!(error = %e, "cannot record a refused webhook delivery");
            }
        }
        None => {
            debug!(source = source.name(), reason = why.name(), delivery = ?delivery, "webhook delivery refused (not recorded: coalesced)");
        }
    }
    ApiError::new(why.status(), why.name(), why.message()).into_response()
}

/// The handler.
pub(crate) async fn receive(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(hooks) = st.webhooks.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let source = Source::of(&headers);
    let delivery = match source {
        Source::Linear => header_str(&headers, "linear-delivery"),
        Source::Github => header_str(&headers, "x-github-delivery"),
        Source::Unknown => None,
    }
    .map(shorten)
    .filter(|d| !d.is_empty());
    let declared =
        header_str(&headers, header::CONTENT_LENGTH.as_str()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return refuse(&st, &hooks, source, Refusal::TooLarge, delivery).await;
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return refuse(&st, &hooks, source, Refusal::TooLarge, delivery).await;
    };
    let secret = hooks.secret.expose().as_bytes();
    let signed = match source {
        Source::Linear => verify::linear(secret, &bytes, header_str(&headers, "linear-signature")),
        Source::Github => {
            verify::github(secret, &bytes, header_str(&headers, "x-hub-signature-256"))
        }
        Source::Unknown => return refuse(&st, &hooks, source, Refusal::Unsigned, delivery).await,
    };
    if !signed {
        return refuse(&st, &hooks, source, Refusal::BadSignature, delivery).await;
    }
    let Some(json) = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
    else {
        return refuse(&st, &hooks, source, Refusal::Malformed, delivery).await;
    };
    if source == Source::Linear {
        let Some(ts) = json.get("webhookTimestamp").and_then(Value::as_i64) else {
            return refuse(&st, &hooks, source, Refusal::Malformed, delivery).await;
        };
        let age_ms = chrono::Utc::now().timestamp_millis().saturating_sub(ts);
        let window_ms = i64::try_from(hooks.replay_window.as_millis()).unwrap_or(i64::MAX);
        if age_ms.unsigned_abs() > window_ms.unsigned_abs() {
            return refuse(&st, &hooks, source, Refusal::Stale, delivery).await;
        }
    }
    let Some(id) = delivery.clone() else {
        return refuse(&st, &hooks, source, Refusal::Malformed, delivery).await;
    };
    let fresh = hooks.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(
        &format!("{}:{id}", source.name()),
        tokio::time::Instant::now(),
    );
    if !fresh {
        return refuse(&st, &hooks, source, Refusal::Replay, delivery).await;
    }
    let github_event = header_str(&headers, "x-github-event").unwrap_or("");
    let meaning = match source {
        _ if source.name() != hooks.tracker => Meaning::Ignored("not from this workflow's tracker"),
        Source::Linear => payload::linear(&json),
        Source::Github => payload::github(github_event, &json, hooks.repo.as_deref()),
        Source::Unknown => Meaning::Ignored("unknown source"),
    };
    match meaning {
        Meaning::Tickets(identifiers) => {
            hooks.count(source, "accepted");
            info!(source = source.name(), delivery = %id, tickets = ?identifiers, "webhook delivery: reconciling now");
            let handle = st.handle.clone();
            let answer = json!({"accepted": true, "tickets": identifiers});
            // Answer at once: the sender's timeout (Linear: 5 s) does not wait for the
            // orchestrator to take the message. A Linear issue update, and a GitHub
            // issue's label or text change, carries the issue: the orchestrator may act
            // on it without reading the ticket.
            let data = match (source, identifiers.as_slice()) {
                (Source::Linear, [one]) => {
                    payload::linear_issue_data(&json).map(|d| (one.clone(), d.clone()))
                }
                (Source::Github, [one]) => payload::github_issue_data(github_event, &json)
                    .map(|d| (one.clone(), d.clone())),
                _ => None,
            };
            tokio::spawn(async move {
                match data {
                    Some((identifier, data)) => handle.deliver(identifier, data).await,
                    None => handle.nudge(identifiers).await,
                }
            });
            (StatusCode::OK, axum::Json(answer)).into_response()
        }
        Meaning::ProjectItem { issue, project } => {
            hooks.count(source, "accepted");
            info!(source = source.name(), delivery = %id, %issue, ?project, "webhook delivery: a project item, reconciling its issue now");
            let handle = st.handle.clone();
            let answer =
                json!({"accepted": true, "project_item": {"issue": issue, "project": project}});
            tokio::spawn(async move { handle.nudge_item(issue, project).await });
            (StatusCode::OK, axum::Json(answer)).into_response()
        }
        Meaning::PullRequests { numbers, shas } => {
            hooks.count(source, "accepted");
            info!(source = source.name(), delivery = %id, ?numbers, commits = shas.len(), "webhook delivery: reading the pull requests now");
            let handle = st.handle.clone();
            let answer = json!({"accepted": true, "pull_requests": numbers, "commits": shas});
            tokio::spawn(async move { handle.nudge_pull_requests(numbers, shas).await });
            (StatusCode::OK, axum::Json(answer)).into_response()
        }
        Meaning::Ignored(why) => {
            hooks.count(source, "ignored");
            debug!(source = source.name(), delivery = %id, why, "webhook delivery ignored");
            (
                StatusCode::OK,
                axum::Json(json!({"accepted": true, "ignored": why})),
            )
                .into_response()
        }
    }
}
