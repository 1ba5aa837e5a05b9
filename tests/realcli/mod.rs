//! The real agent CLIs (Claude Code, Codex, Gemini CLI) driven by the real `karajan`
//! binary against a local fake of their vendor's model API that serves known usage;
//! the store must record exactly what was served, and price it like the price table.
//!
//! The fake stubs only the model: the CLI itself, its stream format and karajan's
//! parsing of it are the real ones, which fixture files cannot prove (issue 10, Tests).
//! Each test needs the CLI's path in `KARAJAN_REAL_CLAUDE`, `KARAJAN_REAL_CODEX` or
//! `KARAJAN_REAL_GEMINI` (`.ci/install-agent-clis` installs them and prints the exports)
//! and skips visibly without it. Only loopback is used: each CLI is pointed at the fake
//! through its base-URL setting, with a dummy key and its state directory in the scratch
//! folder.
//!
//! Every fake logs each request it received; one it does not serve is answered 404 and
//! shown when a test fails, which is how new endpoints of a newer CLI are found.

mod anthropic;
mod claude;
mod codex;
mod gemini;
mod google;
mod openai;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use karajan::domain::TokenUsage;
use serde_json::Value;

use crate::e2e::support::{Scratch, events};

/// The real CLI at `$var`, or `None` after a visible SKIPPED line.
pub fn real_cli(var: &str) -> Option<PathBuf> {
    match std::env::var(var) {
        Ok(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => {
            eprintln!(
                "SKIPPED: {var} is not set; the real CLI was not run against a fake model API \
                 (run .ci/install-agent-clis)"
            );
            None
        }
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// The body as JSON (`Null` when it was empty or not JSON).
    pub body: Value,
    /// Whether the vendor's fake served it (unknown requests get 404).
    pub served: bool,
}

/// An answer from a vendor's fake.
pub struct Reply {
    pub content_type: &'static str,
    pub body: String,
    /// Send the body, then keep the response open without another byte (a model that
    /// stalls mid-answer), until the client gives up.
    pub hang: bool,
}

impl Reply {
    pub fn json(v: &Value) -> Reply {
        Reply {
            content_type: "application/json",
            body: v.to_string(),
            hang: false,
        }
    }

    /// Server-sent events, each `(event name or "", data)`.
    pub fn sse(events: &[(&str, Value)]) -> Reply {
        let mut body = String::new();
        for (name, data) in events {
            if !name.is_empty() {
                body.push_str(&format!("event: {name}\n"));
            }
            body.push_str(&format!("data: {data}\n\n"));
        }
        Reply {
            content_type: "text/event-stream",
            body,
            hang: false,
        }
    }

    /// This answer, stalling after its body.
    pub fn hanging(self) -> Reply {
        Reply { hang: true, ..self }
    }
}

/// A vendor's model API: the answer to a request, or `None` for one it does not know.
pub trait Vendor: Send + Sync + 'static {
    fn reply(&self, method: &Method, path: &str, body: &Value) -> Option<Reply>;
}

struct Shared {
    vendor: Box<dyn Vendor>,
    log: Mutex<Vec<Seen>>,
}

/// A fake model API on 127.0.0.1, on its own runtime (the tests drive the binary
/// synchronously).
pub struct FakeApi {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _rt: tokio::runtime::Runtime,
}

impl FakeApi {
    pub fn start(vendor: impl Vendor) -> FakeApi {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shared = Arc::new(Shared {
            vendor: Box::new(vendor),
            log: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the fake model API");
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeApi {
            addr,
            shared,
            _rt: rt,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Requests it served, for `path_part`.
    pub fn served(&self, path_part: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.served && s.uri.contains(path_part))
            .collect()
    }

    /// Every request, one a line, for failure messages.
    pub fn report(&self) -> String {
        self.seen()
            .iter()
            .map(|s| {
                let mark = if s.served { "served" } else { "UNKNOWN (404)" };
                format!("{} {} [{mark}]", s.method, s.uri)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let reply = shared.vendor.reply(&method, uri.path(), &json);
    shared.log.lock().unwrap().push(Seen {
        method: method.to_string(),
        uri: uri.to_string(),
        body: json,
        served: reply.is_some(),
    });
    match reply {
        Some(r) if r.hang => {
            let first = futures::stream::once(async move { Ok::<_, Infallible>(r.body) });
            let body = Body::from_stream(first.chain(futures::stream::pending()));
            ([(header::CONTENT_TYPE, r.content_type)], body).into_response()
        }
        Some(r) => ([(header::CONTENT_TYPE, r.content_type)], r.body).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"error":{"message":"not served by the fake"}}"#,
        )
            .into_response(),
    }
}

/// A scratch quickstart with only ticket QS-1 (one run per tick, so each model request
/// belongs to a known run) and a workflow whose `runners:` block is `runner` (indented
/// two spaces, named `agent`) and whose states are `states` (indented two spaces).
pub fn scratch(runner: &str, states: &str) -> Scratch {
    scratch_with(runner, states, "")
}

/// [`scratch`], with top-level `extra` YAML (e.g. a `budget:` section).
pub fn scratch_with(runner: &str, states: &str, extra: &str) -> Scratch {
    let s = Scratch::quickstart();
    for id in ["QS-2", "QS-3"] {
        std::fs::remove_file(s.ticket(id)).unwrap();
    }
    let workflow = format!(
        r#"tracker:
  kind: local
  dir: ./tickets
columns:
  todo: Todo
  active: In Progress
  review: Human Review
  approved: Approved
  rework: Rework
  done: Done
  terminal: [Canceled]
polling:
  interval: 5s
workspace:
  root: ./.karajan/workspaces
  repo: ./demo-repo.git
  branch: "karajan/{{{{ issue.identifier }}}}"
runners:
{runner}
agent:
  max_concurrent: 1
  max_retry_backoff: 1m
  max_attempts: 1
  stall_timeout: 1m
  turn_timeout: 3m
  max_turns: 10
  kill_grace: 2s
prompts:
  global: prompts/global.md
{extra}
states:
{states}
  review:
    kind: gate
    approve: done
    rework: implement
    max_rework: 2
  done:
    kind: terminal
  canceled:
    kind: terminal
    column: Canceled
"#
    );
    std::fs::write(s.workflow(), workflow).unwrap();
    s
}

/// The `run_finished` payloads of QS-1, in order.
pub fn finished(s: &Scratch) -> Vec<Value> {
    events(&s.db())
        .into_iter()
        .filter(|(k, i, _)| k == "run_finished" && i.as_deref() == Some("QS-1"))
        .map(|(_, _, p)| p)
        .collect()
}

/// `run --once`, failing with the fake's request log and the run's logs when it does
/// not succeed.
pub fn once(s: &Scratch, api: &FakeApi) {
    once_exiting(s, api, 0);
}

/// `run --once` that must exit with `code` (6: a run failed and the ticket escalated).
pub fn once_exiting(s: &Scratch, api: &FakeApi, code: i32) {
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    assert_eq!(
        out.status.code(),
        Some(code),
        "run --once:\n{}\nrequests the fake model API received:\n{}\nagent logs:\n{}",
        crate::e2e::support::stderr(&out),
        api.report(),
        agent_stderr(s),
    );
}

/// The stdout and stderr logs of every run (the CLI's stream and what it printed besides).
pub fn agent_stderr(s: &Scratch) -> String {
    let mut out = String::new();
    let root = s.path().join(".karajan");
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && !p.ends_with("workspaces") {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n == "stderr.log" || n == "stdout.log"
            }) {
                out.push_str(&format!("== {}\n", p.display()));
                out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    out
}

/// Two agent states of one session: `check` resumes `implement`'s session, so two
/// `run --once` ticks make a fresh run and a resumed one.
pub const RESUMED: &str = r#"  implement:
    kind: agent
    runner: agent
    prompt: prompts/implement.md
    next: check
  check:
    kind: agent
    runner: agent
    prompt: prompts/finalize.md
    session: inherit
    next: review"#;

/// One agent state, for a run that karajan stops (`max_attempts: 1`: no retry).
pub const STOPPED: &str = r#"  implement:
    kind: agent
    runner: agent
    prompt: prompts/implement.md
    next: review"#;

/// The tokens of a `run_finished` payload's `tokens` (or `thread_tokens`).
pub fn recorded(t: &Value) -> TokenUsage {
    TokenUsage {
        input: n(t, "input"),
        output: n(t, "output"),
        cache_read: n(t, "cache_read"),
        cache_write: n(t, "cache_write"),
    }
}

/// A `u64` at `key` of a JSON object.
pub fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// Two costs are the same to the millionth of a cent.
pub fn assert_cost(got: &Value, want: f64, what: &str) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no cost recorded ({got})"));
    assert!(
        (got - want).abs() < 1e-9,
        "{what}: recorded ${got}, want ${want}"
    );
}

/// The one run of `s` was stopped by karajan (`status`) before its CLI reported any
/// usage: its usage and cost are unknown, not 0 (Codex and Gemini report only at the end).
pub fn assert_stopped_with_unknown_usage(s: &Scratch, status: &str) {
    let runs = finished(s);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run["status"], status, "{run}");
    assert_eq!(run["accounting"]["usage"], "unknown", "{run}");
    assert_eq!(run["accounting"]["cost"], "unknown", "{run}");
    assert_eq!(run["cost_usd"], Value::Null, "{run}");
}

/// Two succeeded runs where the second's resume fell back to a fresh session: it says
/// which session was lost, runs in another one, and records that session's usage as it
/// was `served`, nothing subtracted.
pub fn assert_resume_fell_back(s: &Scratch, served: TokenUsage) {
    let runs = finished(s);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r["status"] == "succeeded"), "{runs:?}");
    let lost = runs[0]["session_id"].as_str().expect("a session id");
    let run = &runs[1];
    assert_eq!(run["resume_fallback"], Value::from(lost), "{run}");
    let fresh = run["session_id"].as_str().expect("the fresh session");
    assert_ne!(fresh, lost, "{run}");
    assert_eq!(recorded(&run["tokens"]), served, "{run}");
    assert_eq!(run["accounting"]["usage"], "reported", "{run}");
}
