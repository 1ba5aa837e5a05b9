//! Usage limits: when an agent CLI reports that its plan or quota limit is hit, every
//! run of that runner would fail the same way until the limit resets. So the run is not
//! a failed attempt (`RunStatus::UsageLimited`: the ticket waits, same attempt, until
//! the reset), and dispatch for that runner pauses until then while other runners go
//! on. The pause and its end are events (`runner_paused`, `runner_resumed`), so a
//! restarted daemon rebuilds it from the store, and the read model shows it.
//!
//! The reset time is the CLI's own when it gives one (Claude Code's `resetsAt`);
//! otherwise `agent.usage_limit_pause` from now. A reset time already past (a stale
//! clock, a window that just reset) also falls back to the default pause, so that a
//! CLI that keeps refusing cannot spin runs that count as nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::engine::Engine;
use crate::domain::RunStatus;
use crate::store::{EventKind, NewEvent, Store, StoreError};

/// A runner whose dispatch is paused by a usage limit.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RunnerPause {
    pub until: DateTime<Utc>,
    pub reason: String,
}

/// How many recent pause events are read at start to rebuild the pauses.
const RESTORE_EVENTS: i64 = 500;

/// The pauses still open after folding `paused` and `resumed` events `(seq, runner,
/// pause)`, in any order.
pub(crate) fn fold_pauses(
    paused: Vec<(i64, String, RunnerPause)>,
    resumed: Vec<(i64, String)>,
) -> BTreeMap<String, RunnerPause> {
    let mut all: Vec<(i64, String, Option<RunnerPause>)> = paused
        .into_iter()
        .map(|(seq, r, p)| (seq, r, Some(p)))
        .chain(resumed.into_iter().map(|(seq, r)| (seq, r, None)))
        .collect();
    all.sort_by_key(|(seq, ..)| *seq);
    let mut open = BTreeMap::new();
    for (_, runner, pause) in all {
        match pause {
            Some(p) => {
                open.insert(runner, p);
            }
            None => {
                open.remove(&runner);
            }
        }
    }
    open
}

/// The pauses the store's events leave open (ended or not: a pause whose time has
/// passed ends with the next `runner_resumed` the daemon records).
pub(crate) async fn recorded_pauses(
    store: &Store,
) -> Result<BTreeMap<String, RunnerPause>, StoreError> {
    let paused = store
        .recent_of_kind("runner_paused", RESTORE_EVENTS)
        .await?
        .into_iter()
        .filter_map(|e| {
            let runner = e.payload.get("runner")?.as_str()?.to_string();
            let until = e.payload.get("until")?.as_str()?.parse().ok()?;
            let reason = e
                .payload
                .get("reason")
                .and_then(|r| r.as_str())
                .unwrap_or("")
                .to_string();
            Some((e.seq, runner, RunnerPause { until, reason }))
        })
        .collect();
    let resumed = store
        .recent_of_kind("runner_resumed", RESTORE_EVENTS)
        .await?
        .into_iter()
        .filter_map(|e| Some((e.seq, e.payload.get("runner")?.as_str()?.to_string())))
        .collect();
    Ok(fold_pauses(paused, resumed))
}

impl Engine {
    /// The runner (profile name) that runs agent state `state`.
    pub(crate) fn runner_of(&self, state: &str) -> Option<String> {
        self.workflow
            .agent_state(state)
            .map(|a| a.runner.name.clone())
    }

    /// Whether dispatch for the runner of `state` is paused by a usage limit.
    pub(crate) fn state_runner_paused(&self, state: &str) -> bool {
        self.runner_of(state)
            .is_some_and(|r| self.runner_pauses.contains_key(&r))
    }

    /// A usage-limited status with its reset time settled (see the module doc).
    pub(crate) fn settle_usage_limit(&self, status: RunStatus) -> RunStatus {
        match status {
            RunStatus::UsageLimited { until, reason } => {
                let now = self.now();
                let until = until.filter(|t| *t > now).unwrap_or_else(|| {
                    now + chrono::Duration::from_std(self.workflow.agent.usage_limit_pause)
                        .unwrap_or_else(|_| chrono::Duration::minutes(15))
                });
                RunStatus::UsageLimited {
                    until: Some(until),
                    reason,
                }
            }
            other => other,
        }
    }

    /// Pause dispatch for `runner` until `until` (recorded once; a later reset time
    /// extends the pause, an earlier one changes nothing).
    pub(crate) async fn pause_runner(
        &mut self,
        runner: &str,
        until: DateTime<Utc>,
        reason: &str,
        run_id: Option<&str>,
    ) -> Result<(), StoreError> {
        if self
            .runner_pauses
            .get(runner)
            .is_some_and(|p| p.until >= until)
        {
            return Ok(());
        }
        warn!(%runner, %until, %reason, "usage limit: dispatch for this runner pauses until the limit resets; other runners go on");
        self.record(vec![NewEvent::global(EventKind::RunnerPaused {
            runner: runner.to_string(),
            until,
            reason: reason.to_string(),
            run_id: run_id.map(str::to_string),
        })])
        .await?;
        self.runner_pauses.insert(
            runner.to_string(),
            RunnerPause {
                until,
                reason: reason.to_string(),
            },
        );
        Ok(())
    }

    /// End the pauses whose time has come; returns whether any ended.
    pub(crate) async fn resume_due_runners(&mut self) -> Result<bool, StoreError> {
        let now = self.now();
        let due: Vec<String> = self
            .runner_pauses
            .iter()
            .filter(|(_, p)| p.until <= now)
            .map(|(r, _)| r.clone())
            .collect();
        for runner in &due {
            info!(%runner, "usage limit reset: dispatch for this runner resumes");
            self.record(vec![NewEvent::global(EventKind::RunnerResumed {
                runner: runner.clone(),
            })])
            .await?;
            self.runner_pauses.remove(runner);
        }
        Ok(!due.is_empty())
    }

    /// The earliest end of a pause, for the actor's timer.
    pub(crate) fn next_pause_end(&self) -> Option<DateTime<Utc>> {
        self.runner_pauses.values().map(|p| p.until).min()
    }

    /// Rebuild the open pauses from the store (at start): a pause survives a restart.
    pub(crate) async fn restore_runner_pauses(&mut self) -> Result<(), StoreError> {
        self.runner_pauses = recorded_pauses(&self.store).await?;
        for (runner, p) in &self.runner_pauses {
            info!(%runner, until = %p.until, "a usage-limit pause recorded before the restart still holds");
        }
        self.resume_due_runners().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pause(min: i64) -> RunnerPause {
        RunnerPause {
            until: DateTime::from_timestamp(1_771_390_800 + min * 60, 0).unwrap(),
            reason: "limit".into(),
        }
    }

    #[test]
    fn the_latest_event_per_runner_wins() {
        let open = fold_pauses(
            vec![
                (5, "claude".into(), pause(1)),
                (2, "codex".into(), pause(2)),
                (9, "gemini".into(), pause(3)),
            ],
            vec![
                (7, "claude".into()),
                (1, "codex".into()),
                (8, "gemini".into()),
            ],
        );
        // claude resumed after its pause; codex and gemini paused again after resuming.
        assert_eq!(open.len(), 2);
        assert_eq!(open["codex"], pause(2));
        assert_eq!(open["gemini"], pause(3));
    }
}
