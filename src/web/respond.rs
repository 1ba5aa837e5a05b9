//! Building responses: every body is serialized, then passed through the redactor, so no
//! configured secret value can leave the process even if it slipped into an agent's
//! output or an event payload.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;

pub(crate) fn json<T: Serialize>(st: &AppState, status: StatusCode, value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => (
            status,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            st.redactor.redact(&text).into_owned(),
        )
            .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

pub(crate) fn html(st: &AppState, status: StatusCode, text: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        st.redactor.redact(text).into_owned(),
    )
        .into_response()
}
