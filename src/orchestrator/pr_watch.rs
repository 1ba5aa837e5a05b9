//! Gates decided by the ticket's pull request (`checks:`, `reviews: pull_request|either`).
//!
//! After each poll, every ticket waiting at such a gate with an unmerged pull request
//! (and nothing else in flight for it) gets one read of its pull request
//! (`GithubApi::pull_request_status`), in a task: the owner never awaits GitHub. At
//! most one read per ticket is in flight, so at most one per tick. The answer comes
//! back as `TaskMsg::PrStatus`; if the ticket is still waiting at the same visit of the
//! gate, `pr_verdict` says what the pull request means and the owner acts on it:
//! approvals and reworks go through `gate_action` (recorded with their actor
//! `github:checks` or `github:<login>`, rework limits and merge-first apply, the
//! feedback reaches the rework run's prompt); a checks timeout escalates like any
//! escalation. A read that fails is logged and tried again after the next poll.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::{debug, info, warn};

use super::engine::Engine;
use super::gates::{GateDecision, GateError};
use super::inbox::TaskMsg;
use super::pr_verdict::{Verdict, verdict};
use crate::domain::{IssueRecord, Phase, PrWatch, StateSpec};
use crate::forge::PrStatus;
use crate::store::StoreError;
use crate::tracker::TrackerError;

/// The gate's watch, when `rec` waits at a gate that reads its unmerged pull request.
fn watched<'m>(machine: &'m crate::domain::Machine, rec: &IssueRecord) -> Option<&'m PrWatch> {
    let Some(StateSpec::Gate {
        watch: Some(watch), ..
    }) = machine.state(&rec.state)
    else {
        return None;
    };
    let pr = rec.pull_request.as_ref()?;
    (rec.phase == Phase::Waiting && rec.pending_intents == 0 && !pr.merged).then_some(watch)
}

impl Engine {
    /// Start a read of the pull request of every ticket in `records` waiting at a gate
    /// that reads it.
    pub(crate) fn watch_pull_requests(&mut self, records: &HashMap<String, Arc<IssueRecord>>) {
        let Some(Ok(api)) = self.forge.as_ref().map(|f| f.github()) else {
            return;
        };
        let machine = self.workflow.machine.clone();
        // A reason shown for a visit of a gate the ticket has left goes.
        self.pr_waiting.retain(|id, (at, _)| {
            records
                .get(id)
                .is_none_or(|r| r.entered_at == *at && watched(&machine, r).is_some())
        });
        // A ticket that left its gate starts afresh at its next one.
        self.pr_pace.retain(|id| {
            records
                .get(id)
                .is_none_or(|r| watched(&machine, r).is_some())
        });
        let now = tokio::time::Instant::now();
        let approved = &machine.columns.approved;
        let rework = &machine.columns.rework;
        for (id, rec) in records {
            if watched(&machine, rec).is_none()
                || !self.pr_pace.due(id, now)
                || self.in_flight(id)
                || self.watching.contains(id)
                || self.live.contains_key(id)
            {
                continue;
            }
            // A column decision is being taken (a rework reads its feedback first, an
            // approval merges first): the tracker's word is not overtaken.
            match self.snapshots.get(id) {
                Some(s) if s.column == *rework => continue,
                Some(s) if s.column == *approved && self.column_approves(rec) => continue,
                Some(_) => {}
                None => continue,
            }
            let Some(pr) = rec.pull_request.as_ref() else {
                continue;
            };
            if api.repo() != pr.repo {
                continue; // the forge changed: not this pull request's repository
            }
            self.watching.insert(id.clone());
            let api = api.clone();
            let tx = self.tasks_tx.clone();
            let (identifier, state, entered_at, number) =
                (id.clone(), rec.state.clone(), rec.entered_at, pr.number);
            tokio::spawn(async move {
                let result = api.pull_request_status(number).await;
                let _ = tx.send(TaskMsg::PrStatus {
                    identifier,
                    state,
                    entered_at,
                    result,
                });
            });
        }
    }

    /// A webhook named pull requests (by number, or by head commit): the waiting
    /// tickets whose pull request it is are read now, whatever their pace.
    pub(crate) async fn nudge_pull_requests(
        &mut self,
        numbers: &[u64],
        shas: &[String],
    ) -> Result<(), StoreError> {
        let Some(Ok(api)) = self.forge.as_ref().map(|f| f.github()) else {
            return Ok(());
        };
        let repo = api.repo();
        let records: HashMap<String, Arc<IssueRecord>> = self
            .store
            .active_shared()
            .await?
            .into_iter()
            .filter(|r| {
                r.pull_request.as_ref().is_some_and(|pr| {
                    pr.repo == repo
                        && (numbers.contains(&pr.number)
                            || pr.head.as_ref().is_some_and(|h| shas.contains(h)))
                })
            })
            .map(|r| (r.identifier.clone(), r))
            .collect();
        for id in records.keys() {
            self.pr_pace.reset(id);
        }
        debug!(tickets = ?records.keys().collect::<Vec<_>>(), "a webhook named their pull requests");
        self.watch_pull_requests(&records);
        Ok(())
    }

    fn column_approves(&self, rec: &IssueRecord) -> bool {
        watched(&self.workflow.machine, rec).is_none_or(|w| w.column_approves())
    }

    /// A pull request was read: act on it if the ticket still waits at that visit of
    /// the gate.
    pub(crate) async fn on_pr_status(
        &mut self,
        id: String,
        state: String,
        entered_at: DateTime<Utc>,
        result: Result<PrStatus, TrackerError>,
    ) -> Result<(), StoreError> {
        self.watching.remove(&id);
        let status = match result {
            Ok(s) => s,
            Err(e) => {
                warn!(ticket = %id, error = %e, "could not read the ticket's pull request; tried again after a pause");
                let poll = self.workflow.poll_period();
                self.pr_pace
                    .unchanged(&id, tokio::time::Instant::now(), poll);
                return Ok(());
            }
        };
        let Some(rec) = self.store.record(&id).await? else {
            return Ok(());
        };
        let machine = self.workflow.machine.clone();
        let Some(watch) = watched(&machine, &rec) else {
            return Ok(());
        };
        let Some(snap) = self.snapshots.get(&id).map(|s| (**s).clone()) else {
            return Ok(());
        };
        if rec.state != state || rec.entered_at != entered_at || self.in_flight(&id) {
            return Ok(()); // moved on meanwhile
        }
        let head = rec.pull_request.as_ref().and_then(|p| p.head.as_deref());
        let decision = match verdict(&status, watch, head, rec.entered_at, self.now()) {
            Verdict::Wait(why) => {
                debug!(ticket = %id, gate = %state, %why, "the pull request keeps the gate waiting");
                let shown = (rec.entered_at, why);
                if self.pr_waiting.get(&id) == Some(&shown) {
                    // Nothing new: read it less often (a webhook or a change resets).
                    let poll = self.workflow.poll_period();
                    self.pr_pace
                        .unchanged(&id, tokio::time::Instant::now(), poll);
                    return Ok(());
                }
                self.pr_pace.reset(&id);
                self.pr_waiting.insert(id, shown);
                return self.publish().await;
            }
            Verdict::Escalate { reason } => {
                info!(ticket = %id, gate = %state, %reason, "escalating");
                self.pr_waiting.remove(&id);
                let actions = crate::domain::decide::escalate(&machine, &snap.column, reason);
                let origin = super::execute::Origin {
                    actor: Some(super::pr_verdict::CHECKS_ACTOR.to_string()),
                    ..Default::default()
                };
                self.execute(&snap, Some(&rec), actions, &origin).await?;
                self.publish().await?;
                return Ok(());
            }
            Verdict::Approve { actor } => (GateDecision::Approve, actor),
            Verdict::Rework { actor, feedback } => (GateDecision::Rework { feedback }, actor),
        };
        self.pr_waiting.remove(&id);
        let (decision, actor) = decision;
        info!(ticket = %id, gate = %state, %actor, ?decision, "the pull request decides the gate");
        match self.gate_action(&id, decision, &actor, snap).await {
            Ok(_) => Ok(()),
            Err(GateError::Store(e)) => Err(e),
            Err(e) => {
                warn!(ticket = %id, error = %e, "the pull request's decision was not taken");
                Ok(())
            }
        }
    }
}
