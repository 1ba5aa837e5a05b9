//! `POST /api/v1/dispatch/pause` and `/resume`: stop or restart dispatching new runs.
//! Running agents go on either way.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::error::ApiError;
use super::{AppState, respond};

async fn set(st: AppState, paused: bool) -> Result<Response, ApiError> {
    if !st.handle.pause(paused).await {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "orchestrator_unavailable",
            "the orchestrator is not running",
        ));
    }
    Ok(respond::json(
        &st,
        StatusCode::ACCEPTED,
        &json!({ "paused": paused, "queued": true }),
    ))
}

pub(crate) async fn pause(State(st): State<AppState>) -> Result<Response, ApiError> {
    set(st, true).await
}

pub(crate) async fn resume(State(st): State<AppState>) -> Result<Response, ApiError> {
    set(st, false).await
}
