//! `GET /api/v1/issues/{identifier}`: one ticket's runtime detail, from the read model
//! and the store. Identifiers may contain `/` and `#` (`owner/repo#7`): the route takes
//! the rest of the path, percent-decoded, so both `owner%2Frepo%237` and
//! `owner/repo%237` work.

use std::path::Path;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

use super::error::ApiError;
use super::{AppState, respond};
use crate::domain::{Phase, PullRequestRef};
use crate::orchestrator::view::{GateRow, RetryRow, RunningRow};
use crate::store::{RunRow, StoredEvent, Totals};

/// How many of the ticket's latest events the detail carries.
const RECENT_EVENTS: usize = 100;

#[derive(Debug, Serialize)]
pub(crate) struct Workspace {
    pub path: Option<String>,
    pub branch: Option<String>,
    /// Removed when the ticket reached a terminal state.
    pub exists: bool,
}

#[derive(Debug, Serialize)]
pub(crate) struct Attempts {
    /// Failed attempts in the current visit of the current agent state.
    pub failed_in_state: u32,
    /// Runs started per state.
    pub runs_by_state: std::collections::BTreeMap<String, u32>,
    pub current_retry_attempt: Option<u32>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Logs {
    pub dir: String,
    pub prompt: String,
    pub stdout: String,
    pub stderr: String,
    pub events: String,
}

/// What `run_finished` says of a run beyond its status label.
#[derive(Debug, Serialize)]
pub(crate) struct RunNote {
    /// The status in words with its stored reason (`failed: API error 500`).
    pub outcome: String,
    /// The session the run could not resume (it started a fresh one).
    pub resume_fallback: Option<String>,
}

/// Rework feedback, from the transition that sent the ticket back.
#[derive(Debug, Serialize)]
pub(crate) struct Feedback {
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub gate: Option<String>,
    pub text: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct IssueDetail {
    pub identifier: String,
    pub issue_identifier: String,
    pub issue_id: String,
    pub title: Option<String>,
    pub url: Option<String>,
    /// Symphony's name for `url`.
    pub issue_url: Option<String>,
    pub state: String,
    /// The phase label (`running`, `waiting`, ...).
    pub status: String,
    pub phase: Phase,
    pub entered_at: chrono::DateTime<chrono::Utc>,
    pub pending_intents: u32,
    pub rework: std::collections::BTreeMap<String, u32>,
    /// The ticket's pull request (`null` until karajan opened one).
    pub pull_request: Option<PullRequestRef>,
    pub workspace: Workspace,
    pub attempts: Attempts,
    pub running: Option<RunningRow>,
    pub gate: Option<GateRow>,
    pub retry: Option<RetryRow>,
    pub last_error: Option<String>,
    /// Per finished run (by run id): the stored failure reason and a resume fallback.
    pub run_notes: std::collections::BTreeMap<String, RunNote>,
    /// The latest rework feedback a human sent.
    pub last_feedback: Option<Feedback>,
    /// The live run, else the last one.
    pub current_run: Option<RunRow>,
    pub runs: Vec<RunRow>,
    pub logs: Option<Logs>,
    pub totals: Totals,
    /// The latest events, oldest first, with their chain hashes.
    pub recent_events: Vec<StoredEvent>,
}

pub(crate) async fn issue(
    State(st): State<AppState>,
    UrlPath(identifier): UrlPath<String>,
) -> Result<Response, ApiError> {
    if identifier.ends_with("/approve") || identifier.ends_with("/rework") {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "gate actions are POST requests",
        ));
    }
    let d = detail(&st, &identifier)
        .await?
        .ok_or_else(|| ApiError::issue_not_found(&identifier))?;
    Ok(respond::json(&st, StatusCode::OK, &d))
}

/// The detail of one ticket, or `None` when karajan has no record of it.
pub(crate) async fn detail(st: &AppState, id: &str) -> Result<Option<IssueDetail>, ApiError> {
    let Some(rec) = st.store.record(id).await? else {
        return Ok(None);
    };
    let view = st.handle.status();
    let running = view.running.iter().find(|r| r.identifier == id).cloned();
    let gate = view.gates.iter().find(|g| g.identifier == id).cloned();
    let retry = view.retries.iter().find(|r| r.identifier == id).cloned();
    let runs = st.store.runs_for(id).await?;
    let events = st.store.events_for(id).await?;
    let current_run = running
        .as_ref()
        .and_then(|r| runs.iter().find(|x| x.run_id == r.run_id))
        .or(runs.last())
        .cloned();
    let logs = current_run
        .as_ref()
        .filter(|r| !r.log_dir.is_empty())
        .map(|r| {
            let dir = Path::new(&r.log_dir);
            let file = |n: &str| dir.join(n).display().to_string();
            Logs {
                dir: r.log_dir.clone(),
                prompt: file("prompt.md"),
                stdout: file("stdout.log"),
                stderr: file("stderr.log"),
                events: file("events.jsonl"),
            }
        });
    let run_notes = run_notes(&events);
    let last_error = retry.as_ref().map(|r| r.error.clone()).or_else(|| {
        let run = runs
            .iter()
            .rev()
            .find(|r| r.status.as_deref().is_some_and(|s| s != "succeeded"))?;
        run_notes
            .get(&run.run_id)
            .map(|n| n.outcome.clone())
            .or_else(|| run.status.clone())
    });
    let last_feedback = events.iter().rev().find_map(|e| {
        let p = &e.payload;
        let text = p.get("feedback").and_then(Value::as_str)?;
        (e.kind == "transition" && !text.trim().is_empty()).then(|| Feedback {
            at: e.at,
            actor: p.get("actor").and_then(Value::as_str).unwrap_or("").into(),
            gate: p.get("gate").and_then(Value::as_str).map(str::to_string),
            text: text.to_string(),
        })
    });
    let (title, url) = title_and_url(&running, &gate, &events);
    let detail = IssueDetail {
        identifier: rec.identifier.clone(),
        issue_identifier: rec.identifier.clone(),
        issue_id: rec.tracker_id.clone(),
        title,
        issue_url: url.clone(),
        url,
        state: rec.state.clone(),
        status: rec.phase.label().to_string(),
        entered_at: rec.entered_at,
        pending_intents: rec.pending_intents,
        rework: rec.rework.clone(),
        pull_request: rec.pull_request.clone(),
        workspace: workspace(&events, current_run.as_ref()),
        attempts: Attempts {
            failed_in_state: rec.attempts,
            runs_by_state: rec.runs.clone(),
            current_retry_attempt: retry.as_ref().map(|r| r.attempt),
        },
        phase: rec.phase,
        running,
        gate,
        retry,
        last_error,
        run_notes,
        last_feedback,
        current_run,
        runs,
        logs,
        totals: st.store.totals_for(id).await?,
        recent_events: events
            .iter()
            .skip(events.len().saturating_sub(RECENT_EVENTS))
            .cloned()
            .collect(),
    };
    Ok(Some(detail))
}

/// The outcome in words (with the stored reason) and any resume fallback of every
/// finished run.
fn run_notes(events: &[StoredEvent]) -> std::collections::BTreeMap<String, RunNote> {
    events
        .iter()
        .filter(|e| e.kind == "run_finished")
        .filter_map(|e| {
            let p = &e.payload;
            let id = p.get("run_id").and_then(Value::as_str)?;
            let status = p
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("finished");
            let outcome = match p.get("reason").and_then(Value::as_str) {
                Some(reason) => format!("{status}: {reason}"),
                None => status.replace('_', " "),
            };
            let resume_fallback = p
                .get("resume_fallback")
                .and_then(Value::as_str)
                .map(str::to_string);
            Some((
                id.to_string(),
                RunNote {
                    outcome,
                    resume_fallback,
                },
            ))
        })
        .collect()
}

fn title_and_url(
    running: &Option<RunningRow>,
    gate: &Option<GateRow>,
    events: &[StoredEvent],
) -> (Option<String>, Option<String>) {
    if let Some(r) = running {
        return (Some(r.title.clone()), r.url.clone());
    }
    if let Some(g) = gate {
        return (Some(g.title.clone()), g.url.clone());
    }
    let title = events
        .iter()
        .rev()
        .find(|e| e.kind == "run_started")
        .and_then(|e| e.payload.get("title"))
        .and_then(Value::as_str)
        .map(str::to_string);
    (title, None)
}

/// The workspace from the latest `workspace_created` (and whether it was removed since).
fn workspace(events: &[StoredEvent], run: Option<&RunRow>) -> Workspace {
    let created = events.iter().rposition(|e| e.kind == "workspace_created");
    let removed = events.iter().rposition(|e| e.kind == "workspace_removed");
    let field = |i: usize, k: &str| {
        events[i]
            .payload
            .get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match created {
        Some(i) => Workspace {
            path: field(i, "path"),
            branch: field(i, "branch"),
            exists: removed.is_none_or(|r| r < i),
        },
        None => Workspace {
            path: run.map(|r| r.workspace.clone()).filter(|p| !p.is_empty()),
            branch: None,
            exists: run.is_some_and(|r| Path::new(&r.workspace).exists()),
        },
    }
}
