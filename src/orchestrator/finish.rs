//! Stopping and finishing runs, and moving the ticket on afterwards.

use std::sync::Arc;

use tracing::{info, warn};

use super::effects::Effect;
use super::engine::{AfterStop, Engine, RunDone, Stopping};
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
        recent_comments: None,
    }
}

impl Engine {
    /// Stop a live run (SIGTERM → grace → SIGKILL on its group) without waiting for
    /// it: its task reports the end like any run's, and the owner then records it and
    /// executes `then`, the rest of the decision that stopped it. A run that is not live
    /// is recorded cancelled at once.
    pub(crate) async fn stop_run(
        &mut self,
        id: &str,
        run_id: &str,
        reason: &str,
        then: Option<AfterStop>,
    ) -> Result<(), StoreError> {
        if let Some(live) = self.live.get_mut(id)
            && live.run_id == run_id
        {
            match &mut live.stopping {
                Some(stopping) => {
                    if stopping.then.is_none() {
                        stopping.then = then;
                    }
                }
                None => {
                    info!(ticket = %id, run = %run_id, %reason, "stopping run");
                    live.cancel.cancel();
                    live.stopping = Some(Stopping {
                        reason: reason.to_string(),
                        then,
                    });
                }
            }
            return Ok(());
        }
        let done = RunDone::without_agent(
            id,
            run_id,
            RunOutcome {
                status: RunStatus::Cancelled {
                    reason: reason.to_string(),
                },
                ..super::run_task::failed_outcome(String::new())
            },
        );
        self.finish_run(done).await?;
        if let Some(then) = then {
            self.after_stop(id, then).await?;
        }
        Ok(())
    }

    /// The rest of a decision that stopped a run, now that the run is recorded.
    async fn after_stop(&mut self, id: &str, then: AfterStop) -> Result<(), StoreError> {
        let rec = self.store.record(id).await?;
        let decision = super::dispatch::Decision {
            snapshot: then.snapshot,
            record: rec.as_ref(),
            actions: then.actions,
            origin: then.origin,
        };
        if Box::pin(self.execute_decisions(vec![decision])).await? > 0 {
            self.backlog = true;
        }
        Ok(())
    }

    /// A run task reported completion.
    pub(crate) async fn on_run_done(&mut self, run_id: &str) -> Result<(), StoreError> {
        let Some(id) = self
            .live
            .iter()
            .find(|(_, l)| l.run_id == run_id)
            .map(|(k, _)| k.clone())
        else {
            return Ok(()); // already recorded
        };
        let Some(live) = self.live.remove(&id) else {
            return Ok(());
        };
        let done = match live.task.await {
            Ok(done) => done,
            Err(e) => RunDone::without_agent(
                &id,
                run_id,
                super::run_task::failed_outcome(format!("run task failed: {e}")),
            ),
        };
        if let Some(stopping) = live.stopping {
            info!(ticket = %id, run = %run_id, reason = %stopping.reason, "run stopped");
            self.finish_run(done).await?;
            if let Some(then) = stopping.then {
                self.after_stop(&id, then).await?;
            }
            return Ok(());
        }
        if matches!(done.outcome.status, RunStatus::BudgetExceeded { .. }) {
            let limit = live.cost_cap.unwrap_or(0.0);
            let spent = done.outcome.cost_usd.unwrap_or(0.0);
            self.budget_event(Some(&id), "run", limit, spent, "stopped_run", None)
                .await?;
        }
        // Karajan's own work out for the ticket before this run's push (which is no
        // tracker write, so a read now cannot predate it).
        let busy = self.in_flight(&id);
        self.finish_run(done).await?;
        // With webhooks the tracker tells karajan of a human's change as it happens, so
        // the owner's snapshot is as fresh as a read would be.
        let told = self.workflow.server.webhooks.is_some();
        if live.seen || told || busy || self.polled_lately() {
            // Fresh enough, or karajan's own writes in flight are the latest word (a
            // read now could predate them): decide on the owner's snapshot.
            self.advance(&id).await
        } else {
            // No poll saw the ticket lately (`--once`, or the tracker's reads failing):
            // read it again first, in a task, so a human's move meanwhile is not
            // overwritten.
            self.refresh_ticket(&id);
            Ok(())
        }
    }

    /// Whether a whole poll answered within the last polling interval: the owner's
    /// snapshot is then as fresh as a long run's is at its end (its last poll is at
    /// most about an interval old), so a short run's ticket is decided on it instead of
    /// being read again (issue 11: that read was one request per run). Not in a
    /// `--once` run, whose only poll came before its runs.
    pub(crate) fn polled_lately(&self) -> bool {
        self.polls_continue
            && self
                .polled_at
                .is_some_and(|at| at.elapsed() <= self.workflow.polling.interval)
    }

    fn refresh_ticket(&mut self, id: &str) {
        if !self.refreshing.insert(id.to_string()) {
            return;
        }
        let tracker = self.tracker.clone();
        let tx = self.tasks_tx.clone();
        let identifier = id.to_string();
        tokio::spawn(async move {
            let result = tracker
                .fetch_by_identifiers(std::slice::from_ref(&identifier))
                .await
                .map(|mut v| v.pop());
            let _ = tx.send(super::inbox::TaskMsg::Refreshed { identifier, result });
        });
    }

    /// The ticket was read again after its run: decide on it.
    pub(crate) async fn on_refreshed(
        &mut self,
        id: &str,
        result: Result<Option<crate::domain::TicketSnapshot>, crate::tracker::TrackerError>,
    ) -> Result<(), StoreError> {
        self.refreshing.remove(id);
        match result {
            Ok(Some(snap)) => {
                self.snapshots.insert(id.to_string(), Arc::new(snap));
                self.advance(id).await
            }
            Ok(None) => Ok(()),
            Err(e) => {
                warn!(ticket = %id, error = %e, "could not refresh ticket after its run; the next tick will");
                Ok(())
            }
        }
    }

    /// Record `run_finished` with what it means for the ticket.
    pub(crate) async fn finish_run(&mut self, mut done: RunDone) -> Result<(), StoreError> {
        // The agent's last lines, first in the transaction (see `RunDone::tail`).
        let tail = std::mem::take(&mut done.tail);
        let Some(rec) = self.store.record(&done.identifier).await? else {
            self.record(tail).await?;
            return Ok(());
        };
        let rec_before = rec.clone();
        let wf = self.workflow.clone();
        let o = &done.outcome;
        // A usage limit gets its reset time now (the CLI's, or the configured pause).
        let run_status = self.settle_usage_limit(o.status.clone());
        let mut after = after_run(
            &rec,
            &done.run_id,
            &run_status,
            wf.machine.max_attempts,
            wf.agent.max_retry_backoff,
            self.now(),
            rand::random::<f64>(),
        );
        // A review's verdict rides in the phase it leaves, so routing on it is recorded
        // with the run.
        if let crate::domain::Phase::Succeeded { verdict, .. } = &mut after.phase {
            *verdict = done.verdict.as_ref().map(|g| g.verdict.clone());
        }
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
        // A run that succeeded and committed owes a push (with a forge): recorded in
        // the same transaction, so no crash can separate the run from its push.
        let push = matches!(run_status, RunStatus::Succeeded)
            .then(|| {
                self.push_intent(
                    &done.identifier,
                    done.heads.branch.as_deref(),
                    done.heads.before.as_deref(),
                    done.heads.after.as_deref(),
                )
            })
            .flatten();
        let mut events = tail;
        events.push(NewEvent::for_issue(
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
                head: done.heads.after.clone(),
            },
        ));
        // What the run did, provably: in the same transaction as its `run_finished`.
        if let Some(evidence) = &done.evidence {
            events.push(NewEvent::for_issue(
                &done.identifier,
                EventKind::RunEvidence(evidence.clone()),
            ));
        }
        // The verdict, in the same transaction as its run.
        if let (RunStatus::Succeeded, Some(given)) = (&run_status, &done.verdict) {
            let v = &given.verdict;
            events.push(NewEvent::for_issue(
                &done.identifier,
                EventKind::Verdict {
                    run_id: done.run_id.clone(),
                    state: rec_before.state.clone(),
                    verdict: v.verdict,
                    summary: v.summary.clone(),
                    findings: u32::try_from(v.findings.len()).unwrap_or(u32::MAX),
                    findings_digest: v.findings_digest(),
                    runner: self.runner_of(&rec_before.state).unwrap_or_default(),
                    model: o.model.clone(),
                    source: given.source,
                },
            ));
        }
        let mut effects = vec![];
        if let Some((recorded, effect)) = push {
            events.push(recorded);
            effects.push(match (&done.heads.pushed, effect) {
                (Some(made), Effect::Write { intent, .. }) => {
                    Effect::Made(Box::new(pushed_elsewhere(&intent, made)))
                }
                (_, effect) => effect,
            });
            // Behind the push, in the same transaction: the pull request of a state
            // that opens one, so it is opened only once its branch is on the forge.
            let snap = match self.snapshots.get(&done.identifier) {
                Some(s) => (**s).clone(),
                None => placeholder_snapshot(&rec_before),
            };
            if let Some(branch) = done.heads.branch.as_deref()
                && !matches!(done.heads.pushed, Some(Err(_)))
                && let Some((recorded, intent)) =
                    self.pull_request_intent(&rec_before, &snap, branch)
            {
                events.push(recorded);
                effects.push(super::effects::Effect::Write {
                    intent,
                    retry: false,
                });
            }
        }
        // The verdict on the ticket's pull request, after this run's push and update.
        if let (RunStatus::Succeeded, Some(given)) = (&run_status, &done.verdict)
            && let Some(op) = self.post_review_op(
                &rec_before,
                &done.run_id,
                &given.verdict,
                done.heads.after.as_deref(),
            )
        {
            let intent = self.intent(&done.identifier, op, &mut events);
            effects.push(super::effects::Effect::Write {
                intent,
                retry: false,
            });
        }
        self.record(events).await?;
        if !effects.is_empty() {
            self.launch(&done.identifier, effects);
        }
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
                Some(s) => (**s).clone(),
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

    /// After a run: decide again at once, on the ticket as the last poll showed it
    /// (and as karajan's own writes since moved it), so a finished agent state moves on
    /// without waiting for the next poll and without reading the tracker again.
    pub(crate) async fn advance(&mut self, id: &str) -> Result<(), StoreError> {
        let moved_at = self.chain_moved_at.remove(id);
        if !self.snapshots.contains_key(id) {
            return Ok(()); // the next poll decides
        }
        if self.in_flight(id) {
            // Its chain is in flight: decided again when the chain ends.
            self.redecide.insert(id.to_string());
            return Ok(());
        }
        if let Some(read) = self.reread.remove(id) {
            // A read while its work was out showed a change karajan did not make. The
            // tracker's clock may tell which came last: a read changed after karajan's
            // last move shows a human's later move, which stands; a read from before
            // it was overwritten by that move, which stands. Otherwise (no time, or the
            // same instant at the tracker's precision) read the ticket again and decide
            // on that, not on the snapshot from before.
            match moved_at {
                Some(moved) if read.updated_at > moved => {
                    self.snapshots.insert(id.to_string(), read);
                }
                Some(moved) if read.updated_at < moved => {}
                _ => {
                    self.nudge(vec![id.to_string()]);
                    return Ok(());
                }
            }
        }
        let Some(snap) = self.snapshots.get(id).map(|s| (**s).clone()) else {
            return Ok(());
        };
        let rec = self.store.record(id).await?;
        let actions =
            crate::domain::decide(&snap, rec.as_ref(), &self.workflow.machine, self.now());
        let origin = self.approval_origin(id, &actions);
        let decision = super::dispatch::Decision {
            snapshot: snap,
            record: rec.as_ref(),
            actions,
            origin,
        };
        if Box::pin(self.execute_decisions(vec![decision])).await? > 0 {
            self.backlog = true;
        }
        Ok(())
    }
}

/// The outcome of a push a cluster node made itself (see `Effect::Made`): done, or
/// failed for good with git's reason (the ticket is escalated, as for a local push).
fn pushed_elsewhere(intent: &super::intents::Intent, made: &Result<(), String>) -> NewEvent {
    let kind = match made {
        Ok(()) => EventKind::IntentCompleted {
            intent_id: intent.intent_id.clone(),
            already_done: true,
        },
        Err(error) => EventKind::IntentFailed {
            intent_id: intent.intent_id.clone(),
            error: error.clone(),
            retryable: false,
        },
    };
    NewEvent::for_issue(&intent.identifier, kind)
}
