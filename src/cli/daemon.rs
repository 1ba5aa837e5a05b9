//! Talking to the running daemon from the command line: the verbs that change
//! something (`approve`, `rework`, `pause`, `resume`, `refresh`) go through the
//! daemon's JSON API, exactly as the dashboard does, so each decision takes the
//! daemon's path (the tracker move, the record with its actor).
//!
//! The daemon writes the address it serves on to `dashboard.addr` beside the store and
//! removes it when it stops; the operator token is `server.token` or the
//! `dashboard.token` file beside it (see `dashboard`). Nothing here creates either: no
//! address file means no daemon serves this workflow, and that is said plainly, as is
//! an address nobody answers on (a daemon that was killed).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::Exit;
use crate::config::{Secret, Workflow};

/// How long one request may take (a pause waits up to 5 s for the change to apply).
const TIMEOUT: Duration = Duration::from_secs(30);

/// A client of one running daemon.
pub struct Daemon {
    base: String,
    token: Secret,
    client: reqwest::Client,
}

/// Why a call failed, in words for the operator, with the exit code.
#[derive(Debug)]
pub struct CallError {
    pub message: String,
    pub exit: Exit,
}

impl CallError {
    fn failure(message: String) -> CallError {
        CallError {
            message,
            exit: Exit::Failure,
        }
    }
}

impl Daemon {
    /// Find the daemon serving `workflow`, or say why there is none.
    pub fn find(workflow: &Path) -> Result<Daemon, CallError> {
        Self::find_with(workflow, TIMEOUT)
    }

    /// [`Daemon::find`] with requests bounded by `timeout` (a read that is only extra
    /// detail must not make a command hang on a daemon that stopped answering).
    pub fn find_with(workflow: &Path, timeout: Duration) -> Result<Daemon, CallError> {
        let wf =
            crate::workflow_load::load_unrendered_file(workflow).map_err(|errors| CallError {
                message: format!("{} is invalid:\n{errors}", workflow.display()),
                exit: Exit::Config,
            })?;
        let addr_file = super::dashboard::addr_path(&wf);
        let addr = std::fs::read_to_string(&addr_file)
            .ok()
            .and_then(|s| s.trim().parse::<SocketAddr>().ok())
            .ok_or_else(|| {
                CallError::failure(format!(
                    "no karajan daemon is serving {} (no {}): start it with `karajan run --port 0` \
                     (or set `server.port`); this verb needs the daemon",
                    workflow.display(),
                    addr_file.display()
                ))
            })?;
        let token = token(&wf)?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| CallError::failure(format!("cannot build an HTTP client: {e}")))?;
        Ok(Daemon {
            base: format!("http://{addr}"),
            token,
            client,
        })
    }

    /// `GET path`: the answer's JSON.
    pub async fn get(&self, path: &str) -> Result<Value, CallError> {
        let req = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.token.expose());
        self.answer(req).await
    }

    /// `POST path` with an optional JSON body; the answer's JSON on success, else the
    /// API's own error message.
    pub async fn post(&self, path: &str, body: Option<Value>) -> Result<Value, CallError> {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.token.expose());
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.answer(req).await
    }

    async fn answer(&self, req: reqwest::RequestBuilder) -> Result<Value, CallError> {
        let res = req.send().await.map_err(|e| {
            CallError::failure(if e.is_connect() {
                format!(
                    "no karajan daemon answers at {} (it stopped without removing its address file?): start it with `karajan run --port 0`",
                    self.base
                )
            } else {
                format!("the daemon at {} did not answer: {e}", self.base)
            })
        })?;
        let status = res.status();
        let value: Value = res.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let message = value["error"]["message"]
            .as_str()
            .map_or_else(|| format!("the daemon answered {status}"), str::to_string);
        Err(CallError::failure(message))
    }
}

/// The operator token, without creating one.
fn token(wf: &Workflow) -> Result<Secret, CallError> {
    if let Some(t) = &wf.server.token {
        return Ok(t.clone());
    }
    let path = crate::web::token_path(&wf.store.path);
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => Ok(Secret::new(t.trim())),
        _ => Err(CallError::failure(format!(
            "cannot read the operator token at {}",
            path.display()
        ))),
    }
}
