//! `GET /healthz`: the server answers and the orchestrator has published a view.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::{AppState, respond};

pub(crate) async fn healthz(State(st): State<AppState>) -> Response {
    let view = st.handle.status();
    let body = json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "generated_at": view.generated_at,
        "paused": view.paused,
    });
    respond::json(&st, StatusCode::OK, &body)
}
