//! How a run ended, and what it consumed. Shared by runners, the store and decisions.

use serde::{Deserialize, Serialize};

/// Token counts of one run. Missing figures are zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl TokenUsage {
    pub fn add(&mut self, other: &TokenUsage) {
        self.input += other.input;
        self.output += other.output;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
    }
}

/// The outcome class of a finished run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunStatus {
    /// The agent finished its work; the ticket advances to `next`.
    Succeeded,
    /// The agent exited with a failure; retried with backoff.
    Failed { reason: String },
    /// No output for the stall timeout; stopped and retried.
    Stalled,
    /// Ran longer than the turn timeout; stopped and retried.
    TimedOut,
    /// The agent hit its turn limit.
    MaxTurns,
    /// A budget was exceeded; not retried automatically.
    BudgetExceeded { reason: String },
    /// karajan stopped it (reconcile, shutdown, a human moved the ticket).
    Cancelled { reason: String },
    /// The daemon died while it ran; found on restart.
    Interrupted,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl RunStatus {
    /// A run stopped (or ended) above its cost cap (`budget.per_run_usd`, or what is
    /// left of `budget.per_ticket_usd`). Every runner kind reports it the same way.
    pub fn over_budget(cap: Option<f64>, cost: Option<f64>) -> RunStatus {
        RunStatus::BudgetExceeded {
            reason: format!(
                "the run cost ${:.4}, above its budget of ${:.4} (budget.per_run_usd)",
                cost.unwrap_or(0.0),
                cap.unwrap_or(0.0)
            ),
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed { .. } => "failed",
            RunStatus::Stalled => "stalled",
            RunStatus::TimedOut => "timed_out",
            RunStatus::MaxTurns => "max_turns",
            RunStatus::BudgetExceeded { .. } => "budget_exceeded",
            RunStatus::Cancelled { .. } => "cancelled",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// Why the run did not succeed, in words (`failed: exit code 1: API error 500`); the
    /// bare label for outcomes without a stored reason.
    pub fn describe(&self) -> String {
        match self {
            RunStatus::Failed { reason }
            | RunStatus::BudgetExceeded { reason }
            | RunStatus::Cancelled { reason } => format!("{}: {reason}", self.label()),
            other => other.label().replace('_', " "),
        }
    }

    /// Whether a run that ended like this should be retried automatically.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RunStatus::Failed { .. }
                | RunStatus::Stalled
                | RunStatus::TimedOut
                | RunStatus::MaxTurns
                | RunStatus::Interrupted
        )
    }
}
