//! Stopping and finishing runs, and moving the ticket on afterwards.

use tracing::{info, warn};

use super::engine::{Engine, RunDone};
use crate::agent::RunOutcome;
use crate::domain::RunStatus;
use crate::domain::retry::after_run;
use crate::store::{EventKind, NewEvent, StoreError};

/// How a process ended, in words: `code 1`, `signal 9`, or `none` (never started).
fn exit_text(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(c), _) => format!("code {c}"),
        (None, Some(s)) => format!("signal {s}"),
        (None, None) => "none".to_string(),
    }
}

/// A stand-in snapshot built from the record, for when the tracker's is unknown.
pub(super) fn placeholder_snapshot(
    rec: &crate::domain::IssueRecord,
) -> crate::domain::TicketSnapshot {
    crate::domain::TicketSnapshot {
        id: rec.tracker_id.clone(),
        identifier: rec.identifier.clone(),
        title: String::new(),
        description: String::new(),
        url: None,
        labels: vec![],
        priority: None,
        column: String::new(),
        blocked_by: vec![],
        branch_name: None,
        created_at: rec.entered_at,
        updated_at: rec.entered_at,
    }
}

impl Engine {
    /// Stop a live run (SIGTERM → grace → SIGKILL on its group) and record it.
    pub(crate) async fn stop_run(
        &mut self,
        id: &str,
        run_id: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let done = match self.live.remove(id) {
            Some(live) if live.run_id == run_id => {
                info!(ticket = %id, run = %run_id, %reason, "stopping run");
                live.cancel.cancel();
                match live.task.await {
                    Ok(done) => done,
                    Err(e) => RunDone {
                        identifier: id.to_string(),
                        run_id: run_id.to_string(),
                        outcome: super::run_task::failed_outcome(format!("run task failed: {e}")),
                    },
                }
            }
            other => {
                if let Some(live) = other {
                    self.live.insert(id.to_string(), live);
                }
                RunDone {
                    identifier: id.to_string(),
                    run_id: run_id.to_string(),
                    outcome: RunOutcome {
                        status: RunStatus::Cancelled {
                            reason: reason.to_string(),
                        },
                        ..super::run_task::failed_outcome(String::new())
                    },
                }
            }
        };
        self.finish_run(done).await
    }

    /// A run task reported completion.
    pub(crate) async fn on_run_done(&mut self, run_id: &str) -> Result<(), StoreError> {
        let Some(id) = self
            .live
            .iter()
            .find(|(_, l)| l.run_id == run_id)
            .map(|(k, _)| k.clone())
        else {
            return Ok(()); // already stopped and recorded
        };
        let Some(live) = self.live.remove(&id) else {
            return Ok(());
        };
        let done = match live.task.await {
            Ok(done) => done,
            Err(e) => RunDone {
                identifier: id.clone(),
                run_id: run_id.to_string(),
                outcome: super::run_task::failed_outcome(format!("run task failed: {e}")),
            },
        };
        if matches!(done.outcome.status, RunStatus::BudgetExceeded { .. }) {
            let limit = live.cost_cap.unwrap_or(0.0);
            let spent = done.outcome.cost_usd.unwrap_or(0.0);
            self.budget_event(Some(&id), "run", limit, spent, "stopped_run", None)
                .await?;
        }
        self.finish_run(done).await?;
        self.advance(&id).await
    }

    /// Record `run_finished` with what it means for the ticket.
    pub(crate) async fn finish_run(&mut self, done: RunDone) -> Result<(), StoreError> {
        let Some(rec) = self.store.record(&done.identifier).await? else {
            return Ok(());
        };
        let rec_before = rec.clone();
        let wf = self.workflow.clone();
        let o = &done.outcome;
        // A usage limit gets its reset time now (the CLI's, or the configured pause).
        let run_status = self.settle_usage_limit(o.status.clone());
        let after = after_run(
            &rec,
            &done.run_id,
            &run_status,
            wf.machine.max_attempts,
            wf.agent.max_retry_backoff,
            self.now(),
            rand::random::<f64>(),
        );
        *self
            .metrics
            .runs
            .entry(rec.state.clone())
            .or_default()
            .entry(run_status.label().to_string())
            .or_default() += 1;
        let exit = exit_text(o.exit_code, o.signal);
        let status = run_status.label();
        let reason = match &run_status {
            RunStatus::Failed { reason }
            | RunStatus::Cancelled { reason }
            | RunStatus::BudgetExceeded { reason }
            | RunStatus::UsageLimited { reason, .. } => reason.as_str(),
            _ => "",
        };
        // A run that did not do its work is a warning; a stop karajan made is not.
        if matches!(o.status, RunStatus::Succeeded | RunStatus::Cancelled { .. }) {
            info!(ticket = %done.identifier, state = %rec.state, run = %done.run_id, status = %status, exit = %exit, reason = %reason, "run finished");
        } else {
            warn!(ticket = %done.identifier, state = %rec.state, run = %done.run_id, status = %status, exit = %exit, reason = %reason, "run finished");
        }
        self.record(vec![NewEvent::for_issue(
            &done.identifier,
            EventKind::RunFinished {
                run_id: done.run_id.clone(),
                status: run_status.clone(),
                exit_code: o.exit_code,
                signal: o.signal,
                duration_ms: u64::try_from(o.duration.as_millis()).unwrap_or(u64::MAX),
                tokens: o.tokens,
                cost_usd: o.cost_usd,
                turns: o.turns,
                session_id: o.session_id.clone(),
                phase_after: after.phase,
                attempts_after: after.attempts,
                accounting: Some(o.accounting.clone()),
                resume_fallback: o.resume_fallback.clone(),
            },
        )])
        .await?;
        if let RunStatus::UsageLimited {
            until: Some(until),
            reason,
        } = &run_status
        {
            if let Some(runner) = self.runner_of(&rec_before.state) {
                self.pause_runner(&runner, *until, reason, Some(&done.run_id))
                    .await?;
            }
        }
        if o.accounting.is_inexact() {
            warn!(ticket = %done.identifier, run = %done.run_id, note = %o.accounting.note(), "the run's figures are not exact");
        }
        if let Some(asked) = &o.resume_fallback {
            self.comment_resume_fallback(&done.identifier, &rec_before, asked, o)
                .await?;
        }
        if let Some(reason) = after.escalate {
            // The snapshot may be unknown (recovery at start): the move is then always
            // recorded, since an escalated agent state must leave its column.
            let rec = self.store.record(&done.identifier).await?;
            let snap = match self.snapshots.get(&done.identifier) {
                Some(s) => s.clone(),
                None => placeholder_snapshot(&rec_before),
            };
            let actions = crate::domain::decide::escalate(&wf.machine, &snap.column, reason);
            Box::pin(self.execute(
                &snap,
                rec.as_ref(),
                actions,
                &super::execute::Origin::default(),
            ))
            .await?;
        }
        Ok(())
    }

    /// After a run: decide again on a fresh snapshot so a finished agent state moves on
    /// at once instead of waiting for the next poll.
    pub(crate) async fn advance(&mut self, id: &str) -> Result<(), StoreError> {
        let fresh = match self.tracker.fetch_by_identifiers(&[id.to_string()]).await {
            Ok(mut v) => v.pop(),
            Err(e) => {
                warn!(ticket = %id, error = %e, "could not refresh ticket after its run; the next tick will");
                return Ok(());
            }
        };
        let Some(snap) = fresh else { return Ok(()) };
        self.snapshots.insert(id.to_string(), snap.clone());
        let rec = self.store.record(id).await?;
        let actions =
            crate::domain::decide(&snap, rec.as_ref(), &self.workflow.machine, self.now());
        let decision = super::dispatch::Decision {
            snapshot: snap,
            record: rec.as_ref(),
            actions,
        };
        if Box::pin(self.execute_decisions(vec![decision])).await? > 0 {
            self.backlog = true;
        }
        Ok(())
    }
}
