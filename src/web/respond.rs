//! Building responses, and the redaction every body passes through.
//!
//! Data is scrubbed of secrets *before* it is serialized ([`json`]) or rendered (the
//! pages scrub their context), so escaping can never hide a secret from the redactor.
//! Then [`redact_bodies`], a middleware around the whole router, blanks any secret (raw
//! or escaped) left in a finished body, e.g. in an error message that names a path.
//! Streams (Server-Sent Events) are redacted event by event in `events_sse`.

use std::borrow::Cow;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;

/// The largest body the redaction pass buffers. Pages and API answers are bounded well
/// below it (logs and prompts are shown as capped tails and heads).
const MAX_BODY: usize = 16 * 1024 * 1024;

pub(crate) fn json<T: Serialize>(st: &AppState, status: StatusCode, value: &T) -> Response {
    let text = st
        .redactor
        .scrub(value)
        .and_then(|v| serde_json::to_string(&v));
    match text {
        Ok(text) => (
            status,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            text,
        )
            .into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

pub(crate) fn html(status: StatusCode, text: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response()
}

/// The last pass: blank every secret, raw or escaped, in every buffered body.
pub(crate) async fn redact_bodies(
    State(st): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let res = next.run(req).await;
    let streaming = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if streaming {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::internal(format!("reading a response body: {e}")).into_response();
        }
    };
    let bytes = match std::str::from_utf8(&bytes).map(|t| st.redactor.redact(t)) {
        Ok(Cow::Owned(clean)) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Bytes::from(clean)
        }
        _ => bytes,
    };
    Response::from_parts(parts, Body::from(bytes))
}
