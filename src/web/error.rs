//! One error envelope for the whole API: `{"error":{"code":…,"message":…}}`, including
//! the 404 of an unknown route and the 405 of a wrong method (axum answers those with
//! an empty body, which `envelope_bare_errors` fills in).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::orchestrator::GateError;

/// An API error: its status, a stable machine-readable code and a human message.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn issue_not_found(identifier: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "issue_not_found",
            format!("no ticket `{identifier}` is known to karajan"),
        )
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store_error",
            e.to_string(),
        )
    }
}

impl From<GateError> for ApiError {
    fn from(e: GateError) -> ApiError {
        let (status, code) = match &e {
            GateError::NotFound(_) => (StatusCode::NOT_FOUND, "issue_not_found"),
            GateError::NotAtGate { .. } => (StatusCode::CONFLICT, "not_at_gate"),
            GateError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "orchestrator_unavailable"),
            GateError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "store_error"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

pub(crate) fn envelope(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message } });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        envelope(self.status, self.code, &self.message)
    }
}

/// Unknown routes.
pub(crate) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such endpoint: {}", uri.path()),
    )
}

/// Give error responses that carry no body of ours (axum's 405, 413, ...) the envelope.
pub(crate) async fn envelope_bare_errors(res: Response) -> Response {
    let status = res.status();
    let typed = res.headers().contains_key(header::CONTENT_TYPE);
    if !(status.is_client_error() || status.is_server_error()) || typed {
        return res;
    }
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this endpoint does not accept that method".to_string(),
        ),
        s => (
            "http_error",
            s.canonical_reason().unwrap_or("error").to_string(),
        ),
    };
    let (mut parts, _) = res.into_parts();
    let fresh = envelope(status, code, &message);
    parts.headers.insert(
        header::CONTENT_TYPE,
        "application/json".parse().expect("static header"),
    );
    Response::from_parts(parts, fresh.into_body())
}
