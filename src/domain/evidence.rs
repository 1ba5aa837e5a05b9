//! What a run did, as data: the agent CLI and its version, the model, the diff's stat
//! between the workspace's commits before and after, and the SHA-256 of every log file
//! the run left. Recorded in the chain as one `run_evidence` event in the same
//! transaction as the run's `run_finished` (see `orchestrator::evidence`), so a log file
//! changed afterwards is detected by `karajan verify --logs` and an exported bundle can
//! prove which output belongs to which run. Pure data: gathering it is I/O and lives in
//! the orchestrator.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The agent CLI a run used: its program and the first line of its `--version`, read
/// once per program for the daemon's life. A `command` runner is an arbitrary program
/// with no version convention: `version` is `None` and `note` says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentCli {
    /// The runner kind (`claude`, `codex`, `gemini`, `command`).
    pub kind: String,
    /// The program run (the first word of the command line).
    pub program: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why there is no version (a `command` runner; `--version` failed or timed out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `git diff --stat` between the workspace's commit before the run and after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffStat {
    pub files: u64,
    pub insertions: u64,
    pub deletions: u64,
}

/// The payload of a `run_evidence` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEvidence {
    pub run_id: String,
    pub agent: AgentCli,
    /// The model the CLI reported, else the one the runner configures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The workspace's commit before (`None`: an empty repository) and after the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_after: Option<String>,
    /// Between `head_before` and `head_after`; `None` when it could not be computed
    /// (no commit after the run, not a git repository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<DiffStat>,
    /// The run's log directory (as `run_started` names it).
    pub log_dir: String,
    /// Every regular file of the log directory (its path relative to `log_dir`, `/`
    /// separated) and its SHA-256 (hex), when the run finished.
    pub logs: BTreeMap<String, String>,
    /// The cluster node that ran it (`--node`), whose folder holds `log_dir`; absent for
    /// a single daemon's runs and in events recorded before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}
