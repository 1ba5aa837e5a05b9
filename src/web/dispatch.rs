//! `POST /api/v1/dispatch/pause` and `/resume`: stop or restart dispatching new runs.
//! Running agents go on either way. The answer waits (briefly) until the orchestrator
//! has published the change, so a `GET /api/v1/state` right after it shows it.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::error::ApiError;
use super::{AppState, respond};

/// How long the answer waits for the read model to show the change; past it, the
/// change is still queued and `applied` says `false`.
const APPLY_WAIT: Duration = Duration::from_secs(5);

async fn set(st: AppState, paused: bool) -> Result<Response, ApiError> {
    let mut view = st.handle.watch_status();
    if !st.handle.pause(paused).await {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "orchestrator_unavailable",
            "the orchestrator is not running",
        ));
    }
    // The orchestrator publishes a new read model once it has applied the change.
    let applied = tokio::time::timeout(APPLY_WAIT, view.wait_for(|v| v.paused == paused))
        .await
        .is_ok_and(|r| r.is_ok());
    Ok(respond::json(
        &st,
        StatusCode::ACCEPTED,
        &json!({ "paused": paused, "queued": true, "applied": applied }),
    ))
}

pub(crate) async fn pause(State(st): State<AppState>) -> Result<Response, ApiError> {
    set(st, true).await
}

pub(crate) async fn resume(State(st): State<AppState>) -> Result<Response, ApiError> {
    set(st, false).await
}
