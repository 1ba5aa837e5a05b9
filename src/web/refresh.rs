//! `POST /api/v1/refresh`: queue an immediate poll and reconcile. Repeats while one is
//! queued coalesce into it (the handle keeps the flag); the answer is 202 either way.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::{AppState, respond};

pub(crate) async fn refresh(State(st): State<AppState>) -> Response {
    let ack = st.handle.refresh().await;
    respond::json(&st, StatusCode::ACCEPTED, &ack)
}
