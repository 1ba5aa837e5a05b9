//! The operator surface: a JSON API (a superset of the Symphony `/api/v1` baseline) and a
//! server-rendered dashboard, served by the daemon.
//!
//! Why it looks like this:
//! - Everything shown comes from the orchestrator's published read model
//!   (`Handle::status`), its live feed (`Handle::subscribe`) or the store. The web layer
//!   owns no runtime state and is never needed for correctness: stop it and karajan
//!   runs the same.
//! - Every action goes through the orchestrator's handle, so an approval from the
//!   dashboard takes exactly the path of a tracker move and is recorded with its actor.
//! - [`router`] is separate from [`serve`] so tests drive the whole surface in process
//!   with `tower::ServiceExt::oneshot`.
//! - Security is layered in `auth`: reads are open on loopback, every mutation needs the
//!   operator token (cookie or `Authorization: Bearer`), POSTs must come from the same
//!   origin, and the `Host` header must name this machine (DNS rebinding).
//! - No page can be framed and no script but ours runs (`headers`: CSP and
//!   `X-Frame-Options` on every response; tracker links only when `http(s)`).
//! - No secret leaves the process (`redact`): data is scrubbed before it is serialized
//!   or rendered, and every finished body is scanned for raw and escaped copies.
//! - Templates and assets are embedded (`include_str!`): no build step, no files to ship.

mod auth;
mod chart;
mod daily;
mod diagram;
mod dispatch;
mod error;
mod events_sse;
mod gates;
mod headers;
mod health;
mod issues;
mod metrics;
mod pages;
mod refresh;
mod respond;
mod server;
mod state;
mod ticket_proof;
mod timeline;
mod today;
mod verify_now;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

use crate::orchestrator::Handle;
use crate::store::Store;

pub use crate::redact::secrets_of;
pub use auth::{Auth, SESSION_COOKIE, TOKEN_FILE, load_or_create_token, token_path};
pub use metrics::render as render_metrics;
pub use server::{Limits, ServeError, bind, serve, serve_with};
pub use webhooks::{MAX_BODY as WEBHOOK_MAX_BODY, Webhooks};

/// What every handler reads: the orchestrator's handle, the store, the auth settings.
/// Cheap to clone; nothing in it changes (but the templates, compiled once).
#[derive(Clone)]
pub struct AppState {
    pub(crate) handle: Handle,
    pub(crate) store: Store,
    pub(crate) auth: Arc<Auth>,
    pub(crate) redactor: Arc<crate::redact::Redactor>,
    /// The pages' templates, compiled at the first page asked for (a daemon whose
    /// dashboard is never opened keeps neither the compiled templates, about 170 KB of
    /// heap at a drain's peak by heaptrack, nor the time to compile them).
    pub(crate) templates: Arc<std::sync::OnceLock<minijinja::Environment<'static>>>,
    /// Ends the live streams so a graceful shutdown is not held open by them.
    pub(crate) shutdown: CancellationToken,
    /// The webhook endpoint, when `server.webhooks` is configured.
    pub(crate) webhooks: Option<Arc<Webhooks>>,
}

impl AppState {
    /// `secrets` are values that must never appear in a response (runner env values,
    /// tracker tokens); the operator token is added to them.
    pub fn new(
        handle: Handle,
        store: Store,
        auth: Auth,
        secrets: Vec<String>,
        shutdown: CancellationToken,
    ) -> AppState {
        let mut all = secrets;
        all.extend(auth.secret_values());
        AppState {
            handle,
            store,
            auth: Arc::new(auth),
            redactor: Arc::new(crate::redact::Redactor::new(all)),
            templates: Arc::new(std::sync::OnceLock::new()),
            shutdown,
            webhooks: None,
        }
    }

    /// Receive the webhooks `wf` configures (`server.webhooks`), if any. Its secret is
    /// among [`secrets_of`], so the redactor built from those blanks it.
    pub fn with_webhooks(mut self, wf: &crate::config::Workflow) -> AppState {
        self.webhooks = Webhooks::from_workflow(wf).map(Arc::new);
        self
    }
}

/// The whole surface: pages, assets, the JSON API, metrics and health.
pub fn router(state: AppState) -> Router {
    let router = Router::new()
        .route("/", get(pages::overview))
        .route("/tickets/{*identifier}", get(pages::ticket))
        .route("/assets/app.js", get(pages::script))
        .route("/assets/app.css", get(pages::style))
        .route("/auth", get(auth::login))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/state", get(state::state))
        .route("/api/v1/stats/daily", get(daily::daily))
        .route("/api/v1/refresh", post(refresh::refresh))
        .route("/api/v1/dispatch/pause", post(dispatch::pause))
        .route("/api/v1/dispatch/resume", post(dispatch::resume))
        .route("/api/v1/events", get(events_sse::events))
        .route("/api/v1/verify", post(verify_now::verify))
        .route(
            "/api/v1/issues/{*rest}",
            get(issues::issue).post(gates::action),
        )
        .fallback(error::not_found);
    // Deliveries carry a signature, not the operator token, and come through a proxy
    // under the public host name: their route is added after (outside) the guard.
    let router = router.layer(middleware::from_fn_with_state(state.clone(), auth::guard));
    let router = match &state.webhooks {
        Some(w) => router.route(w.path(), post(webhooks::receive)),
        None => router,
    };
    router
        .layer(middleware::map_response(error::envelope_bare_errors))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            error::negotiate,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            respond::redact_bodies,
        ))
        .layer(middleware::map_response(headers::security_headers))
        .with_state(state)
}
