//! One error envelope for the whole API: `{"error":{"code":…,"message":…}}`, including
//! the 404 of an unknown route and the 405 of a wrong method (axum answers those with
//! an empty body, which `envelope_bare_errors` fills in).
//!
//! Browsers get the same error as an HTML page instead ([`negotiate`]): a request whose
//! `Accept` names `text/html` (a navigation) and whose answer is an error envelope is
//! shown the code and message on a page with a way back. API clients (`*/*`,
//! `application/json`, the dashboard's own `fetch`) keep the JSON envelope.

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

/// Whether the client asked for HTML (a browser navigating), not JSON.
fn wants_html(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// Turn an error envelope into an HTML page for a browser (see the module docs).
pub(crate) async fn negotiate(
    axum::extract::State(st): axum::extract::State<super::AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let html = wants_html(req.headers());
    let signed_in = st.auth.caller(req.headers()).is_some();
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !html || !is_json || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let (parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1024 * 1024).await else {
        return envelope(status, "internal", "could not read an error body");
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let field = |k: &str| {
        v["error"][k]
            .as_str()
            .map(|t| st.redactor.raw(t).into_owned())
            .unwrap_or_default()
    };
    let mut page =
        super::pages::error_page(&st, status, &field("code"), &field("message"), signed_in);
    // Keep what the handler said about the method (`Allow`) and the like.
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            page.headers_mut().insert(name.clone(), value.clone());
        }
    }
    page
}
