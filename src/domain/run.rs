//! How a run ended, and what it consumed. Shared by runners, the store and decisions.

use chrono::{DateTime, Utc};
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
    /// The agent CLI's plan or quota limit is hit. Not a failed attempt: the ticket is
    /// retried at `until` and its runner pauses until then. `until` is absent only
    /// before the orchestrator resolves it (the CLI gave no reset time: it then uses
    /// `agent.usage_limit_pause`); recorded events always carry it.
    UsageLimited {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<DateTime<Utc>>,
        reason: String,
    },
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
            RunStatus::UsageLimited { .. } => "usage_limited",
        }
    }

    /// Why the run did not succeed, in words (`failed: exit code 1: API error 500`); the
    /// bare label for outcomes without a stored reason.
    pub fn describe(&self) -> String {
        match self {
            RunStatus::Failed { reason }
            | RunStatus::BudgetExceeded { reason }
            | RunStatus::Cancelled { reason } => format!("{}: {reason}", self.label()),
            RunStatus::UsageLimited { until, reason } => match until {
                Some(t) => format!(
                    "usage limited until {}: {reason}",
                    t.format("%Y-%m-%d %H:%M:%S UTC")
                ),
                None => format!("usage limited: {reason}"),
            },
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
                | RunStatus::UsageLimited { .. }
        )
    }
}

impl TokenUsage {
    /// `self − earlier`, field by field, never below zero: the share of a cumulative
    /// report (a Codex thread's total) that came after `earlier`.
    pub fn since(&self, earlier: &TokenUsage) -> TokenUsage {
        TokenUsage {
            input: self.input.saturating_sub(earlier.input),
            output: self.output.saturating_sub(earlier.output),
            cache_read: self.cache_read.saturating_sub(earlier.cache_read),
            cache_write: self.cache_write.saturating_sub(earlier.cache_write),
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == TokenUsage::default()
    }
}

/// How complete a run's token figures are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageBasis {
    /// The CLI's final usage report (or the run never reached the model).
    #[default]
    Reported,
    /// The run was stopped before its final report; the figures are what the stream
    /// had reported so far (a lower bound).
    Partial,
    /// The CLI opened a session but reported no usage before it ended (it reports usage
    /// only at the end of a turn, and the turn did not end normally). Tokens read 0.
    Unknown,
}

/// Where a run's cost figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostBasis {
    /// The CLI's own figure (Claude Code's `total_cost_usd`).
    Reported,
    /// Tokens priced with the built-in price table (see `prices_as_of`).
    Priced,
    /// Tokens priced with the runner's `price` override.
    Override,
    /// A model the table does not know, priced like its nearest known relative (or
    /// the runner kind's default when no model was named).
    Estimated,
    /// No figure: the usage is unknown or the model cannot be priced.
    Unknown,
}

/// How exact a run's figures are, recorded with the run (`run_finished.accounting`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Accounting {
    pub usage: UsageBasis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostBasis>,
    /// The date of the price table that priced the tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prices_as_of: Option<String>,
    /// Models the price table does not know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unpriced_models: Vec<String>,
    /// The whole thread's usage as the CLI reported it (Codex reports the thread's
    /// total on `exec resume`; the run's `tokens` are its own share).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_tokens: Option<TokenUsage>,
    /// The cost figure is the run's cap standing in for an unknown cost, so that
    /// budgets count the run conservatively.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub counted_at_cap: bool,
}

/// The cumulative usage `session` had reported by the run whose `run_finished` payload
/// this is: its `accounting.thread_tokens` (Codex reports a thread's total), or, for
/// runs recorded before `accounting` existed, its `tokens` (which then held the
/// session's total as reported). `None` for a run of another session, or one that
/// knew no total (stopped before the CLI reported it).
pub fn session_total(run_finished: &serde_json::Value, session: &str) -> Option<TokenUsage> {
    if run_finished.get("session_id").and_then(|v| v.as_str()) != Some(session) {
        return None;
    }
    let total = match run_finished.get("accounting") {
        Some(acc) => acc.get("thread_tokens")?,
        None => run_finished.get("tokens")?,
    };
    TokenUsage::deserialize(total).ok()
}

impl Accounting {
    /// Whether the figures are anything but exact (for `status` and `history`).
    pub fn is_inexact(&self) -> bool {
        self.usage != UsageBasis::Reported
            || matches!(self.cost, Some(CostBasis::Estimated | CostBasis::Unknown))
    }

    /// A short note for people: empty when the figures are exact.
    pub fn note(&self) -> String {
        let mut parts = Vec::new();
        match self.usage {
            UsageBasis::Reported => {}
            UsageBasis::Partial => {
                parts.push("usage partial (stopped before the final report)".to_string())
            }
            UsageBasis::Unknown => {
                parts.push("usage unknown (stopped before the CLI reported it)".to_string())
            }
        }
        match self.cost {
            Some(CostBasis::Estimated) => parts.push(format!(
                "cost estimated{}",
                models_note(&self.unpriced_models)
            )),
            Some(CostBasis::Unknown) => parts.push(format!(
                "cost unknown{}",
                models_note(&self.unpriced_models)
            )),
            _ => {}
        }
        if self.counted_at_cap {
            parts.push("counted at the run's cap for budgets".to_string());
        }
        parts.join("; ")
    }
}

fn models_note(models: &[String]) -> String {
    if models.is_empty() {
        String::new()
    } else {
        format!(" ({} not in the price table)", models.join(", "))
    }
}
