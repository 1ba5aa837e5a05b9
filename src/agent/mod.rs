//! The `AgentRunner` seam: run one agent turn for one ticket, supervised.
//!
//! A runner turns a `RunRequest` (prompt, workspace, environment, limits) into a
//! process, streams what it does as `RunEvent`s, and returns a `RunOutcome`. Process
//! supervision (own process group, stall and turn timeouts, SIGTERM → grace → SIGKILL
//! on every exit path, concurrent draining of stdout and stderr) lives in `process`, so
//! every runner gets it the same way. Every runner passes the shared conformance suite in
//! `tests/agent/conformance.rs`.

pub mod claude;
pub mod claude_stream;
pub mod cli;
pub mod codex;
pub mod codex_stream;
pub mod command;
pub mod env;
pub mod final_message;
pub mod gemini;
pub mod gemini_stream;
pub mod guard;
pub mod prices;
pub mod process;
pub mod reap;
pub mod settings;
pub mod stream;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{RunnerConfig, RunnerKind};
use crate::domain::run::Accounting;
use crate::domain::{RunStatus, TokenUsage};

/// Everything a runner needs for one turn.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub run_id: String,
    pub identifier: String,
    pub state: String,
    pub run_number: u32,
    pub attempt: u32,
    pub prompt: String,
    pub workspace: PathBuf,
    /// Directory for this run's `stdout.log`, `stderr.log` and `events.jsonl`.
    pub log_dir: PathBuf,
    /// The complete environment of the agent (allowlist + configured + `KARAJAN_*`).
    /// Nothing else is inherited.
    pub env: Vec<(String, String)>,
    /// Session to resume, when the state inherits one.
    pub resume_session: Option<String>,
    /// The usage the resumed session had reported in total when its last run was
    /// recorded, for CLIs that report a session's cumulative usage (Codex): the run's
    /// own share is what comes on top. `None` when unknown or not resuming.
    pub resume_usage: Option<TokenUsage>,
    pub stall_timeout: Duration,
    pub turn_timeout: Duration,
    /// Grace between SIGTERM and SIGKILL.
    pub grace: Duration,
    pub max_turns: u32,
    /// Per-run cost cap in USD (`budget.per_run_usd`): passed to CLIs that enforce one
    /// (`claude --max-budget-usd`) and enforced by karajan from the running token count;
    /// a run that ends above it is `BudgetExceeded`.
    pub max_cost_usd: Option<f64>,
}

/// What a runner reports while it works (on the wire between cluster nodes too).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    /// The process is up; its pid is also its process group id.
    Spawned { pid: u32 },
    /// The agent's session id became known.
    Session { id: String },
    /// A structured event (one JSON line of the agent's stdout).
    Json {
        at: DateTime<Utc>,
        value: serde_json::Value,
    },
    /// A short human-readable summary of recent activity.
    Activity { at: DateTime<Utc>, summary: String },
    /// The run's usage so far, each time the stream reports more: tokens, turns (when
    /// known) and the cost (the CLI's own figure, else priced from the table; `None`
    /// while it cannot be known). For the dashboard's live row; the run's recorded
    /// figures come from its outcome.
    Usage {
        tokens: TokenUsage,
        turns: Option<u32>,
        cost_usd: Option<f64>,
    },
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration: Duration,
    pub tokens: TokenUsage,
    pub cost_usd: Option<f64>,
    pub turns: Option<u32>,
    pub session_id: Option<String>,
    /// The session the run was asked to resume but the CLI did not know; the run then
    /// started a fresh session (once). `None` when no fallback happened.
    pub resume_fallback: Option<String>,
    /// How exact `tokens` and `cost_usd` are, and the session's cumulative usage.
    pub accounting: Accounting,
    /// The agent's last message in words, when its output says (its tail, at most
    /// `final_message::MAX_BYTES`).
    pub final_message: Option<String>,
    /// The model the run used, as its stream says, else as configured.
    pub model: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("could not start `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("agent I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("runner kind `{0}` is not supported yet")]
    Unsupported(String),
}

impl AgentError {
    /// Whether trying the run again later may succeed. A program that does not exist or
    /// a runner kind karajan cannot run is fatal until the workflow changes; resource
    /// exhaustion and I/O hiccups are retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            AgentError::Spawn { source, .. } => !matches!(
                source.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::InvalidInput
            ),
            AgentError::Io(_) => true,
            AgentError::Unsupported(_) => false,
        }
    }
}

/// The runner for a configured profile.
pub fn runner_for(cfg: &RunnerConfig) -> Result<Arc<dyn AgentRunner>, AgentError> {
    match cfg.kind {
        RunnerKind::Command => Ok(Arc::new(command::CommandRunner::new(cfg.clone()))),
        RunnerKind::Claude => Ok(Arc::new(cli::CliRunner {
            flavor: claude::Claude::new(cfg.clone()),
        })),
        RunnerKind::Codex => Ok(Arc::new(cli::CliRunner {
            flavor: codex::Codex::new(cfg.clone()),
        })),
        RunnerKind::Gemini => Ok(Arc::new(cli::CliRunner {
            flavor: gemini::Gemini::new(cfg.clone()),
        })),
    }
}

#[async_trait]
pub trait AgentRunner: Send + Sync {
    /// `command`, `claude`, `codex`, `gemini`.
    fn kind(&self) -> &'static str;

    /// The argv this runner would execute for `req` (for `--dry-run` and logs).
    fn command_line(&self, req: &RunRequest) -> Vec<String>;

    /// Run one turn to completion. Cancelling `cancel` stops the process group
    /// (SIGTERM, grace, SIGKILL) and returns a `Cancelled` outcome. The process group is
    /// gone when this returns, whatever the path.
    async fn run(
        &self,
        req: RunRequest,
        events: mpsc::Sender<RunEvent>,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, AgentError>;
}
