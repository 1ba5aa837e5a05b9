//! Who may do what.
//!
//! - **Reads** are open on a loopback bind; on any other bind (which requires a
//!   configured token) they need the token too.
//! - **Mutations** (any method but GET/HEAD/OPTIONS) need the operator token, sent as
//!   `Authorization: Bearer <token>` by API clients or as the session cookie that
//!   `/auth?token=…` sets for browsers (HttpOnly, SameSite=Strict). The cookie holds a
//!   digest of the token, not the token itself.
//! - **Origin**: a mutation whose `Origin` (or `Sec-Fetch-Site`) shows another site is
//!   refused with 403, so a page elsewhere cannot drive the dashboard.
//! - **OPTIONS** is answered 405 by the router (no route takes it, no CORS is
//!   offered), not 401: nothing is asked of the caller.
//! - **Host**: on loopback, a request whose `Host` is not a loopback name is refused
//!   with 403: a DNS-rebinding page reaches 127.0.0.1 under its own host name.
//!
//! The token is generated at first start into `<state dir>/dashboard.token`, readable
//! only by its owner (0600); `karajan dashboard` prints the URL that logs a browser in.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;
use crate::config::{Secret, is_loopback_host};

/// The token file's name, beside the store.
pub const TOKEN_FILE: &str = "dashboard.token";
/// The browser session cookie.
pub const SESSION_COOKIE: &str = "karajan_session";

/// The operator token and where the server listens.
pub struct Auth {
    token: Secret,
    session: String,
    /// Bound to loopback only: reads are open, `Host` must be a loopback name.
    loopback: bool,
}

/// How a request proved it holds the token (recorded as the actor by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    Browser,
    Api,
}

impl Auth {
    pub fn new(token: Secret, loopback: bool) -> Auth {
        let session = session_of(token.expose());
        Auth {
            token,
            session,
            loopback,
        }
    }

    /// The values that must never be rendered.
    pub(crate) fn secret_values(&self) -> Vec<String> {
        vec![self.token.expose().to_string(), self.session.clone()]
    }

    /// Which credential the request carries, if a valid one.
    pub(crate) fn caller(&self, headers: &HeaderMap) -> Option<Caller> {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if bearer.is_some_and(|b| same(b, self.token.expose())) {
            return Some(Caller::Api);
        }
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == SESSION_COOKIE)
            .map(|(_, v)| v);
        if cookie.is_some_and(|c| same(c, &self.session)) {
            return Some(Caller::Browser);
        }
        None
    }
}

fn session_of(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"karajan dashboard session\0");
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

/// Constant-time comparison (the length is not secret).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Where the token lives for a store at `store_path`.
pub fn token_path(store_path: &Path) -> PathBuf {
    store_path
        .parent()
        .unwrap_or(Path::new("."))
        .join(TOKEN_FILE)
}

/// Read the token at `path`, or generate one there (mode 0600) if there is none. A
/// file readable by others is tightened to 0600.
pub fn load_or_create_token(path: &Path) -> std::io::Result<Secret> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().len() >= 16 => {
            let mode = std::fs::metadata(path)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "the dashboard token was readable by others; restricting it to its owner");
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            }
            return Ok(Secret::new(text.trim()));
        }
        Ok(_) => std::fs::remove_file(path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let token = hex::encode(rand::random::<[u8; 32]>());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(token.as_bytes())?;
    f.write_all(b"\n")?;
    Ok(Secret::new(token))
}

/// The host part of a `Host` header value (`[::1]:8080` → `[::1]`).
fn host_name(value: &str) -> &str {
    if value.starts_with('[') {
        return value
            .split_once(']')
            .map_or(value, |(h, _)| &value[..=h.len()]);
    }
    value.rsplit_once(':').map_or(value, |(h, _)| h)
}

/// Is this mutation from another site? `Origin` must name the same authority as
/// `Host`; without `Origin`, `Sec-Fetch-Site` must not say `cross-site`/`same-site`.
fn cross_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if let Some(origin) = headers.get(header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return true;
        };
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        return match (authority, host) {
            (Some(a), Some(h)) => !a.eq_ignore_ascii_case(h),
            _ => true,
        };
    }
    matches!(
        headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
        Some("cross-site" | "same-site")
    )
}

/// The middleware in front of every route.
pub(crate) async fn guard(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    if st.auth.loopback
        && let Some(host) = headers.get(header::HOST)
    {
        let ok = host.to_str().is_ok_and(|h| is_loopback_host(host_name(h)));
        if !ok {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_host",
                "this server only answers requests addressed to the loopback interface",
            )
            .into_response();
        }
    }
    // OPTIONS changes nothing and no route accepts it: the router answers 405 with
    // `Allow`, and with no CORS headers a cross-site preflight is refused.
    let options = *req.method() == Method::OPTIONS;
    let read = matches!(*req.method(), Method::GET | Method::HEAD) || options;
    let caller = st.auth.caller(headers);
    if !read && cross_origin(headers) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_origin",
            "cross-site requests are refused",
        )
        .into_response();
    }
    let open_path = matches!(req.uri().path(), "/auth" | "/healthz");
    let needs_token = !options && (!read || (!st.auth.loopback && !open_path));
    if needs_token && caller.is_none() {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this needs the operator token: `Authorization: Bearer <token>`, or open the URL `karajan dashboard` prints",
        )
        .into_response();
    }
    if let Some(c) = caller {
        req.extensions_mut().insert(c);
    }
    next.run(req).await
}

#[derive(serde::Deserialize)]
pub(crate) struct LoginQuery {
    token: Option<String>,
}

/// `/auth?token=…`: set the session cookie and go to the overview.
pub(crate) async fn login(State(st): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    match q.token {
        Some(t) if same(t.trim(), st.auth.token.expose()) => {
            let cookie = format!(
                "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
                st.auth.session
            );
            let mut res = Redirect::to("/").into_response();
            if let Ok(v) = cookie.parse() {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        _ => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong or missing token: use the URL `karajan dashboard` prints",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_drop_the_port() {
        assert_eq!(host_name("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_name("localhost"), "localhost");
        assert!(is_loopback_host(host_name("[::1]:1")));
        assert!(!is_loopback_host(host_name("evil.example:8080")));
    }

    #[test]
    fn origin_must_match_host() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:9".parse().unwrap());
        assert!(!cross_origin(&h));
        h.insert(header::ORIGIN, "http://127.0.0.1:9".parse().unwrap());
        assert!(!cross_origin(&h));
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(cross_origin(&h));
        h.insert(header::ORIGIN, "null".parse().unwrap());
        assert!(cross_origin(&h));
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(cross_origin(&h));
    }

    #[test]
    fn token_file_is_owner_only_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state").join(TOKEN_FILE);
        let a = load_or_create_token(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(a.expose().len(), 64);
        let b = load_or_create_token(&p).unwrap();
        assert_eq!(a.expose(), b.expose());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        load_or_create_token(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
