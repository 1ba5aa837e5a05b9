//! Forge writes that failed for good: a push, a pull request or a merge that GitHub (or
//! the remote) refused. None is retried in a loop, and the ticket never moves on as if
//! its work had landed: it is escalated to a human with the reason (who approves it as
//! it is, or asks for rework), or, for a merge of a gate with `merge_failure: rework`,
//! sent to the gate's rework target with the reason as the agent's feedback (a merge
//! conflict the agent can resolve).

use super::engine::Engine;
use super::gates::GateDecision;
use crate::domain::StateSpec;
use crate::store::{EventKind, IntentOp, NewEvent, StoreError};

/// One forge write that failed for good.
pub(crate) struct ForgeFailure {
    pub identifier: String,
    pub reason: String,
    /// Send the ticket to its gate's rework target instead of escalating it.
    pub rework: bool,
}

impl Engine {
    /// The forge writes among the chains' outcomes that have just failed for good.
    /// Asked before the outcomes are recorded (the failure takes the intent out of the
    /// outbox, and with it what it was).
    pub(crate) async fn failed_forge_writes(
        &self,
        done: &[(String, Vec<NewEvent>, Option<super::inbox::MoveLanded>)],
    ) -> Result<Vec<ForgeFailure>, StoreError> {
        let failed: Vec<(&str, &str)> = done
            .iter()
            .flat_map(|(_, events, _)| events)
            .filter_map(|e| match &e.kind {
                EventKind::IntentFailed {
                    intent_id,
                    error,
                    retryable: false,
                } => Some((intent_id.as_str(), error.as_str())),
                _ => None,
            })
            .collect();
        if failed.is_empty() {
            return Ok(vec![]);
        }
        let pending = self.store.pending_intents().await?;
        let mut out = vec![];
        for (id, error) in failed {
            let Some(p) = pending.iter().find(|p| p.intent_id == id) else {
                continue;
            };
            let (reason, rework) = match &p.op {
                IntentOp::Push { branch, .. } => (
                    format!("the agent's work on `{branch}` could not be pushed ({error})"),
                    false,
                ),
                IntentOp::PullRequest { branch, repo, .. } => (
                    format!(
                        "the pull request for `{branch}` could not be opened on {repo} ({error})"
                    ),
                    false,
                ),
                IntentOp::Merge { number, repo, .. } => (
                    format!("pull request #{number} of {repo} could not be merged ({error})"),
                    self.merge_reworks(&p.identifier).await?,
                ),
                // A draft left in draft, or a verdict not shown on the pull request,
                // is no reason to stop the ticket: the failure is recorded (and the
                // verdict is in the record and the ticket's comment).
                IntentOp::Move { .. }
                | IntentOp::Comment { .. }
                | IntentOp::Attach { .. }
                | IntentOp::ReadyForReview { .. }
                | IntentOp::PostReview { .. } => continue,
            };
            out.push(ForgeFailure {
                identifier: p.identifier.clone(),
                reason,
                rework,
            });
        }
        Ok(out)
    }

    /// Whether the gate the ticket waits at sends a failed merge back for rework.
    async fn merge_reworks(&self, identifier: &str) -> Result<bool, StoreError> {
        let Some(rec) = self.store.record(identifier).await? else {
            return Ok(false);
        };
        Ok(matches!(
            self.workflow.machine.state(&rec.state),
            Some(StateSpec::Gate { merge: Some(m), .. }) if m.rework_on_failure
        ))
    }

    /// Hand a failed forge write to a human, or to the gate's rework target.
    pub(crate) async fn on_forge_failure(&mut self, f: ForgeFailure) -> Result<(), StoreError> {
        let Some(rec) = self.store.record(&f.identifier).await? else {
            return Ok(());
        };
        let snap = match self.snapshots.get(&f.identifier) {
            Some(s) => (**s).clone(),
            None => super::finish::placeholder_snapshot(&rec),
        };
        if f.rework {
            let decision = GateDecision::Rework { feedback: f.reason };
            return match self
                .gate_action(&f.identifier, decision, "karajan", snap)
                .await
            {
                Ok(_) => Ok(()),
                Err(super::gates::GateError::Store(e)) => Err(e),
                Err(e) => {
                    tracing::warn!(ticket = %f.identifier, error = %e, "could not send the ticket back after a failed merge");
                    Ok(())
                }
            };
        }
        let actions =
            crate::domain::decide::escalate(&self.workflow.machine, &snap.column, f.reason);
        Box::pin(self.execute(
            &snap,
            Some(&rec),
            actions,
            &super::execute::Origin::default(),
        ))
        .await?;
        Ok(())
    }
}
