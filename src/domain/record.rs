//! What karajan remembers about a ticket: its state in the machine and the phase within
//! it. The store's projection holds one `IssueRecord` per ticket; it is rebuilt from the
//! event chain, so it survives restarts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a ticket is inside its current state. Variants carry their data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Agent state, waiting for a dispatch slot.
    Ready,
    /// Agent state with a live run.
    Running {
        run_id: String,
        attempt: u32,
        started_at: DateTime<Utc>,
    },
    /// Agent state whose last run succeeded; the transition to `next` is due (for a
    /// review state: where its verdict leads).
    Succeeded {
        run_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verdict: Option<super::verdict::Verdict>,
    },
    /// Agent state whose last run failed; the next attempt is due at `due_at`.
    RetryWaiting {
        attempt: u32,
        due_at: DateTime<Utc>,
        error: String,
    },
    /// Gate state, waiting for a human to approve or ask for rework.
    Waiting,
    /// A human decision is needed (rework limit, attempts exhausted, budget).
    Escalated { reason: String },
    /// The ticket sits in a column this state does not expect; nothing runs until it
    /// returns.
    Held { column: String },
    /// Terminal state reached.
    Done,
}

impl Phase {
    pub fn label(&self) -> &'static str {
        match self {
            Phase::Ready => "ready",
            Phase::Running { .. } => "running",
            Phase::Succeeded { .. } => "succeeded",
            Phase::RetryWaiting { .. } => "retry_waiting",
            Phase::Waiting => "waiting",
            Phase::Escalated { .. } => "escalated",
            Phase::Held { .. } => "held",
            Phase::Done => "done",
        }
    }
}

/// The store's view of one ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueRecord {
    pub identifier: String,
    pub tracker_id: String,
    pub state: String,
    pub phase: Phase,
    /// Rework requests per gate since that gate last approved.
    pub rework: BTreeMap<String, u32>,
    /// Runs started per state (the next run number is this + 1).
    pub runs: BTreeMap<String, u32>,
    /// Failed attempts in the current visit of the current agent state.
    pub attempts: u32,
    pub entered_at: DateTime<Utc>,
    /// Tracker writes recorded but not yet confirmed.
    pub pending_intents: u32,
    /// The ticket's pull request, once karajan opened (or found) it. Records written
    /// before pull requests existed read without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestRef>,
}

/// A pull request as the record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestRef {
    pub repo: String,
    pub number: u64,
    pub url: String,
    /// The head commit karajan last pushed to it (the merge guard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// Merged by karajan (or found merged).
    #[serde(default)]
    pub merged: bool,
}

impl IssueRecord {
    /// The ticket's pull request is merged.
    pub fn is_merged(&self) -> bool {
        self.pull_request.as_ref().is_some_and(|p| p.merged)
    }
}

impl IssueRecord {
    pub fn is_running(&self) -> bool {
        matches!(self.phase, Phase::Running { .. })
    }

    pub fn rework_count(&self, gate: &str) -> u32 {
        self.rework.get(gate).copied().unwrap_or(0)
    }

    pub fn next_run_number(&self, state: &str) -> u32 {
        self.runs.get(state).copied().unwrap_or(0) + 1
    }
}

use super::action::Cause;
use super::machine::StateKind;

impl IssueRecord {
    /// A fresh record for a ticket that karajan has just picked up.
    pub fn new(identifier: &str, tracker_id: &str, entry: &str, now: DateTime<Utc>) -> Self {
        IssueRecord {
            identifier: identifier.to_string(),
            tracker_id: tracker_id.to_string(),
            state: entry.to_string(),
            phase: Phase::Ready,
            rework: BTreeMap::new(),
            runs: BTreeMap::new(),
            attempts: 0,
            entered_at: now,
            pending_intents: 0,
            pull_request: None,
        }
    }

    /// Apply a transition into `to` (of kind `kind`). Rework counts are per gate: a
    /// rework request sets that gate's count, an approval resets it, a restart clears all.
    pub fn apply_enter(&mut self, to: &str, kind: StateKind, cause: &Cause, now: DateTime<Utc>) {
        match cause {
            Cause::Rework { gate, count } => {
                self.rework.insert(gate.clone(), *count);
            }
            Cause::Approved { gate } => {
                self.rework.remove(gate);
            }
            Cause::Restarted => self.rework.clear(),
            Cause::Picked | Cause::AgentFinished { .. } | Cause::HumanMoved { .. } => {}
        }
        self.state = to.to_string();
        self.attempts = 0;
        self.entered_at = now;
        self.phase = match kind {
            StateKind::Agent => Phase::Ready,
            StateKind::Gate => Phase::Waiting,
            StateKind::Terminal => Phase::Done,
        };
    }

    /// The ticket is back in its state's column (or a human resolved an escalation).
    pub fn apply_resume(&mut self, kind: StateKind) {
        if matches!(self.phase, Phase::Escalated { .. }) {
            self.attempts = 0;
        }
        self.phase = match kind {
            StateKind::Agent => Phase::Ready,
            StateKind::Gate => Phase::Waiting,
            StateKind::Terminal => Phase::Done,
        };
    }
}
