//! The dashboard and JSON API: router tests driven in process with `oneshot` against a
//! real orchestrator on a scratch copy of the quickstart, and a real-browser test in
//! headless Chromium against the `karajan` binary.

mod api;
mod api_details;
mod browser;
mod browser_pictures;
mod browser_stale;
mod browser_verify;
mod framing;
mod leaks;
mod live_figures;
mod metrics_text;
mod pictures_api;
mod readable;
mod security;
mod serving;
mod verify_now;
pub(crate) mod webhooks;
mod webhooks_config;
pub(crate) mod webhooks_delivered;
mod webhooks_delivered_github;
mod webhooks_idle;
mod webhooks_project;
mod webhooks_serve;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use karajan::config::Secret;
use karajan::orchestrator::{Engine, Handle, Options, StatusView};
use karajan::store::Store;
use karajan::web::{AppState, Auth};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::e2e::support::Scratch;

pub const TOKEN: &str = "test-operator-token-0123456789abcdef";
pub const SECRET: &str = "sk-test-SECRET-4242-do-not-show";

/// A running orchestrator on a scratch quickstart and the router in front of it.
pub struct Harness {
    pub scratch: Scratch,
    pub router: Router,
    pub handle: Handle,
    pub store: Store,
    pub shutdown: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The quickstart, with an agent that takes `delay` seconds and is given (and prints)
/// a secret, so tests can prove it is never rendered.
pub async fn harness(delay: u32) -> Harness {
    harness_with(delay, SECRET, |_| {}).await
}

/// [`harness`] with another secret value for the agent's `API_KEY` (marked secret in
/// the workflow), and a hook to edit the scratch copy (tickets, workflow) before start.
/// The agent prints the secret on stdout, on stderr and in a JSON event.
pub async fn harness_with(delay: u32, secret: &str, tweak: impl FnOnce(&Scratch)) -> Harness {
    let scratch = Scratch::quickstart();
    let agent = scratch.path().join("agent.sh");
    let note = serde_json::json!({"type": "note", "message": format!("leaking {secret}")});
    assert!(
        !secret.contains('\''),
        "the secret is quoted with ' in the script"
    );
    scratch.script(
        "leaky-agent.sh",
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"using key $API_KEY\" >&2\nprintf '%s\\n' '{note}'\nprintf '%s\\n' \"key $API_KEY\"\nexec '{}'\n",
            agent.display()
        ),
    );
    let quoted = secret.replace('\'', "''");
    let wf = std::fs::read_to_string(scratch.workflow()).unwrap().replace(
        "    command: [\"./agent.sh\"]\n",
        &format!(
            "    command: [\"./leaky-agent.sh\"]\n    env:\n      KARAJAN_DEMO_DELAY: \"{delay}\"\n      KARAJAN_STAGE: implement\n      API_KEY: {{secret: '{quoted}'}}\n"
        ),
    );
    std::fs::write(scratch.workflow(), wf).unwrap();
    tweak(&scratch);
    let wf = karajan::workflow_load::load(&scratch.workflow()).unwrap_or_else(|e| panic!("{e}"));
    let tracker = karajan::tracker::from_config(&wf).unwrap();
    std::fs::create_dir_all(wf.store.path.parent().unwrap()).unwrap();
    std::fs::create_dir_all(&wf.store.logs).unwrap();
    let store = Store::open(&wf.store.path, &wf.store.checkpoints)
        .await
        .unwrap();
    let secrets = karajan::web::secrets_of(&wf);
    assert!(secrets.iter().any(|s| s == secret), "{secrets:?}");
    assert!(
        !secrets.iter().any(|s| s == "implement"),
        "a literal env value is not a secret: {secrets:?}"
    );
    let shutdown = CancellationToken::new();
    let engine = Engine::new(Arc::new(wf), tracker, store.clone());
    let opts = Options {
        once: false,
        watch: false,
        shutdown: shutdown.clone(),
    };
    let (handle, _task) = karajan::orchestrator::spawn(engine, opts);
    let auth = Auth::new(Secret::new(TOKEN), true);
    let state = AppState::new(
        handle.clone(),
        store.clone(),
        auth,
        secrets,
        shutdown.clone(),
    );
    Harness {
        scratch,
        router: karajan::web::router(state),
        handle,
        store,
        shutdown,
    }
}

impl Harness {
    /// Wait until the read model satisfies `f`.
    pub async fn wait_view(&self, what: &str, f: impl Fn(&StatusView) -> bool) {
        let mut rx = self.handle.watch_status();
        let deadline = tokio::time::sleep(Duration::from_secs(30));
        tokio::pin!(deadline);
        loop {
            if f(&rx.borrow_and_update()) {
                return;
            }
            tokio::select! {
                r = rx.changed() => r.unwrap(),
                () = &mut deadline => panic!("timed out waiting for {what}"),
            }
        }
    }

    /// Wait until `id` waits at a gate.
    pub async fn wait_gate(&self, id: &str) {
        self.wait_view(&format!("{id} at a gate"), |v| {
            v.gates.iter().any(|g| g.identifier == id)
        })
        .await;
    }

    pub async fn send(&self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 16 * 1024 * 1024)
            .await
            .unwrap();
        (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, String) {
        let (s, _, b) = self.send(get(uri)).await;
        (s, b)
    }

    pub async fn get_json(&self, uri: &str) -> (StatusCode, serde_json::Value) {
        let (s, b) = self.get(uri).await;
        let v = serde_json::from_str(&b).unwrap_or_else(|e| panic!("{uri}: {e}: {b}"));
        (s, v)
    }

    /// An authorized same-origin POST with a JSON body.
    pub async fn post(&self, uri: &str, body: &str) -> (StatusCode, serde_json::Value) {
        let (s, _, b) = self.send(post(uri, body, Some(TOKEN))).await;
        let v = serde_json::from_str(&b).unwrap_or_else(|e| panic!("{uri}: {e}: {b}"));
        (s, v)
    }
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header("host", "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap()
}

pub fn post(uri: &str, body: &str, token: Option<&str>) -> Request<Body> {
    let mut b = Request::post(uri)
        .header("host", "127.0.0.1:8080")
        .header("origin", "http://127.0.0.1:8080")
        .header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Body::from(body.to_string())).unwrap()
}

/// The envelope's code, asserting its shape.
pub fn error_code(v: &serde_json::Value) -> String {
    let e = v
        .get("error")
        .unwrap_or_else(|| panic!("no error envelope: {v}"));
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert_eq!(e.as_object().unwrap().len(), 2, "{v}");
    e["code"].as_str().unwrap().to_string()
}
