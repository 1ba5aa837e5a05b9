//! `POST /api/v1/issues/{identifier}/approve` and `/rework`: a gate decision by an
//! operator. It goes through the orchestrator's handle, which moves the ticket in the
//! tracker through the same intent path as a human move and records the transition's
//! actor as `dashboard:<actor>`.
//!
//! Body (JSON, optional for approve): `{"feedback": "…", "actor": "alice"}`. Without an
//! actor, the credential names it: `browser` (session cookie) or `api` (bearer token).
//!
//! Approving is idempotent per actor: a client that lost the answer and approves again
//! gets 200 with the transition it already caused (`"replayed": true`), as long as no
//! other human decision came after it. Anyone else gets 409: the ticket has moved on.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::error::ApiError;
use super::{AppState, respond};
use crate::orchestrator::{GateDecision, GateError};
use crate::store::StoredEvent;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    feedback: Option<String>,
    actor: Option<String>,
}

fn actor_name(given: Option<&str>, caller: Option<Caller>) -> Result<String, ApiError> {
    match given.map(str::trim).filter(|a| !a.is_empty()) {
        Some(a)
            if a.len() <= 64
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c)) =>
        {
            Ok(a.to_string())
        }
        Some(_) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_actor",
            "`actor` must be 1-64 letters, digits, `-`, `_`, `.` or `@`",
        )),
        None => Ok(match caller {
            Some(Caller::Browser) => "browser".into(),
            _ => "api".into(),
        }),
    }
}

pub(crate) async fn action(
    State(st): State<AppState>,
    Path(rest): Path<String>,
    caller: Option<Extension<Caller>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (identifier, verb) = rest
        .rsplit_once('/')
        .filter(|(id, v)| !id.is_empty() && matches!(*v, "approve" | "rework"))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "POST /api/v1/issues/{identifier}/approve or /rework",
            )
        })?;
    let body: Body = if body.iter().all(u8::is_ascii_whitespace) {
        Body::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("the body must be JSON like {{\"feedback\": \"…\"}}: {e}"),
            )
        })?
    };
    let actor = actor_name(body.actor.as_deref(), caller.map(|Extension(c)| c))?;
    let decision = if verb == "approve" {
        GateDecision::Approve
    } else {
        let feedback = body
            .feedback
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "feedback_required",
                    "rework needs feedback for the agent: {\"feedback\": \"…\"}",
                )
            })?;
        GateDecision::Rework { feedback }
    };
    let approve = decision == GateDecision::Approve;
    match st.handle.gate(identifier, decision, &actor).await {
        Ok(outcome) => Ok(respond::json(&st, StatusCode::OK, &outcome)),
        Err(e @ GateError::NotAtGate { .. }) if approve => {
            let events = st.store.events_for(identifier).await?;
            match replayed_approval(&events, &actor) {
                Some(t) => Ok(respond::json(&st, StatusCode::OK, &replay(identifier, t))),
                None => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The approval `actor` already made, if it is the ticket's latest human decision (no
/// rework, other approval, or move by a human since): a retried request, not a new one.
fn replayed_approval<'a>(events: &'a [StoredEvent], actor: &str) -> Option<&'a StoredEvent> {
    let human = |e: &&StoredEvent| {
        e.kind == "transition"
            && matches!(
                e.payload.get("cause").and_then(Value::as_str),
                Some("approved" | "rework" | "human_moved" | "restarted")
            )
    };
    let last = events.iter().rev().find(human)?;
    let by = format!("dashboard:{actor}");
    (last.payload.get("cause").and_then(Value::as_str) == Some("approved")
        && last.payload.get("actor").and_then(Value::as_str) == Some(by.as_str()))
    .then_some(last)
}

/// The answer to a replayed approval: the first answer's fields, plus where it is
/// recorded.
fn replay(identifier: &str, t: &StoredEvent) -> Value {
    json!({
        "identifier": identifier,
        "from": t.payload.get("from"),
        "to": t.payload.get("to"),
        "escalated": false,
        "replayed": true,
        "seq": t.seq,
        "at": t.at,
    })
}
