//! Retry policy: exponential backoff with jitter, and what a finished run leaves behind.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::record::{IssueRecord, Phase};
use super::run::RunStatus;

/// The delay before attempt `n + 1` after `n` failed attempts: `10s·2^(n−1)`, capped by
/// `max`, then scaled by `jitter` (a sample in `[0.0, 1.0)`) into `[0.8, 1.0]` of itself
/// so that many failing tickets do not retry in lockstep.
pub fn backoff(failures: u32, max: Duration, jitter: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let base = Duration::from_secs(10).saturating_mul(1u32 << exp);
    let capped = base.min(max);
    let factor = 0.8 + 0.2 * jitter.clamp(0.0, 1.0);
    capped.mul_f64(factor)
}

/// What the record looks like after a run ends, and whether a human must step in.
#[derive(Debug, Clone, PartialEq)]
pub struct Aftermath {
    pub phase: Phase,
    pub attempts: u32,
    /// Set when the ticket must be escalated; the reason for the comment.
    pub escalate: Option<String>,
}

/// Apply a finished run to the record's phase. Pure.
pub fn after_run(
    rec: &IssueRecord,
    run_id: &str,
    status: &RunStatus,
    max_attempts: u32,
    max_backoff: Duration,
    now: DateTime<Utc>,
    jitter: f64,
) -> Aftermath {
    match status {
        RunStatus::Succeeded => Aftermath {
            phase: Phase::Succeeded {
                run_id: run_id.to_string(),
                verdict: None,
            },
            attempts: rec.attempts,
            escalate: None,
        },
        RunStatus::Cancelled { .. } => Aftermath {
            phase: Phase::Ready,
            attempts: rec.attempts,
            escalate: None,
        },
        // The CLI's plan limit: not the agent's failure. The same attempt runs again when
        // the limit resets; no attempt is counted, so no escalation and no backoff growth.
        RunStatus::UsageLimited { until, reason } => Aftermath {
            phase: Phase::RetryWaiting {
                attempt: rec.attempts + 1,
                due_at: until.unwrap_or(now),
                error: format!("usage limit: {reason}"),
            },
            attempts: rec.attempts,
            escalate: None,
        },
        RunStatus::BudgetExceeded { reason } => {
            let reason = format!("a budget was exceeded in `{}`: {reason}", rec.state);
            Aftermath {
                phase: Phase::Escalated {
                    reason: reason.clone(),
                },
                attempts: rec.attempts,
                escalate: Some(reason),
            }
        }
        other => {
            let attempts = rec.attempts + 1;
            if max_attempts > 0 && attempts >= max_attempts {
                let reason = format!(
                    "`{}` failed {attempts} times (last: {})",
                    rec.state,
                    other.describe()
                );
                return Aftermath {
                    phase: Phase::Escalated {
                        reason: reason.clone(),
                    },
                    attempts,
                    escalate: Some(reason),
                };
            }
            // A run cut short by a daemon crash is retried at once: the agent did not fail.
            let delay = if matches!(other, RunStatus::Interrupted) {
                Duration::ZERO
            } else {
                backoff(attempts, max_backoff, jitter)
            };
            let due_at = now + chrono::Duration::from_std(delay).unwrap_or_default();
            let error = match other {
                RunStatus::Failed { reason } => reason.clone(),
                _ => other.label().to_string(),
            };
            Aftermath {
                phase: Phase::RetryWaiting {
                    attempt: attempts + 1,
                    due_at,
                    error,
                },
                attempts,
                escalate: None,
            }
        }
    }
}
