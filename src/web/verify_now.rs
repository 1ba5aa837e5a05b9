//! `POST /api/v1/verify`: "verify now". Asks the daemon to re-verify the whole chain at
//! once, as its hourly check does (beside the actor, never on its loop; a request while
//! one runs joins it), and answers with the result:
//!
//! `{"ok", "events", "head_seq", "breaks", "first_break": {"seq", "problem"} | null,
//! "started_at", "at", "duration_ms", "trigger"}`, status 200 whether the chain is
//! intact or broken (the verdict is `ok`). A chain too long to verify within
//! [`ANSWER_WAIT`] gets 202 `{"running": true}`; its result appears in
//! `/api/v1/state` (`verification`) and as a `chain_verified` event on the live feed, as
//! every result does.
//!
//! A mutation like approve: the operator token (cookie or bearer) and, from a browser,
//! the same origin (enforced by `auth::guard` for every POST).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::error::ApiError;
use super::{AppState, respond};

/// How long the answer waits for the verification.
const ANSWER_WAIT: Duration = Duration::from_secs(25);

pub(crate) async fn verify(State(st): State<AppState>) -> Result<Response, ApiError> {
    match tokio::time::timeout(ANSWER_WAIT, st.handle.verify_now()).await {
        Ok(Ok(v)) => Ok(respond::json(&st, StatusCode::OK, &v)),
        Ok(Err(why)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "verify_unavailable",
            why,
        )),
        Err(_) => Ok(respond::json(
            &st,
            StatusCode::ACCEPTED,
            &json!({
                "running": true,
                "note": "the verification goes on; its result will be in /api/v1/state \
                         (`verification`) and on the live feed (`chain_verified`)",
            }),
        )),
    }
}
