//! Gate decisions taken by an operator (the dashboard or the API) instead of by moving
//! the ticket in the tracker. They go through exactly the same path as a tracker move:
//! `decide` on the ticket as if it sat in the `approved` or `rework` column, then the
//! usual intents move the ticket in the tracker. The transition records who did it.
//! The ticket's pull request decides through the same path (`pr_watch`: its checks as
//! `github:checks`, a review as `github:<login>`).

use serde::Serialize;

use tokio::sync::oneshot;

use super::engine::Engine;
use super::execute::Origin;
use super::inbox::TaskMsg;
use crate::domain::{Action, Phase, StateSpec, TicketSnapshot};
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub enum GateDecision {
    Approve,
    Rework { feedback: String },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GateOutcome {
    pub identifier: String,
    pub from: String,
    /// The state entered, if the decision led to a transition.
    pub to: Option<String>,
    /// The rework limit was exceeded: the ticket was escalated instead.
    pub escalated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("no ticket `{0}` is known to karajan")]
    NotFound(String),
    #[error("`{identifier}` is in `{state}` ({phase}), not waiting for a human decision")]
    NotAtGate {
        identifier: String,
        state: String,
        phase: String,
    },
    #[error("the orchestrator is not running")]
    Unavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Engine {
    /// Who a decision taken again after a merge comes from: the approval it carries out
    /// was `gate_action`'s, by the actor remembered then.
    pub(crate) fn approval_origin(&mut self, id: &str, actions: &[Action]) -> Origin {
        let approves = actions.iter().any(|a| {
            matches!(
                a,
                Action::Enter {
                    cause: crate::domain::Cause::Approved { .. },
                    ..
                }
            )
        });
        let actor = if approves {
            self.approved_by.remove(id)
        } else {
            None
        };
        Origin {
            actor,
            ..Default::default()
        }
    }

    /// An operator's gate decision. Answered at once when the ticket's snapshot is
    /// known; otherwise a task reads it and the decision comes back as a message.
    pub(crate) async fn gate(
        &mut self,
        id: &str,
        decision: GateDecision,
        actor: &str,
        reply: oneshot::Sender<Result<GateOutcome, GateError>>,
    ) -> Result<(), StoreError> {
        let snap = self.snapshots.get(id).map(|s| (**s).clone());
        match snap {
            Some(snap) => self.answer_gate(id, decision, actor, snap, reply).await,
            None => {
                let tracker = self.tracker.clone();
                let tx = self.tasks_tx.clone();
                let (identifier, actor) = (id.to_string(), actor.to_string());
                tokio::spawn(async move {
                    let snapshot = tracker
                        .fetch_by_identifiers(std::slice::from_ref(&identifier))
                        .await
                        .ok()
                        .and_then(|mut v| v.pop());
                    let _ = tx.send(TaskMsg::GateSnapshot {
                        identifier,
                        decision,
                        actor,
                        snapshot,
                        reply,
                    });
                });
                Ok(())
            }
        }
    }

    /// Take the decision and reply; a store failure is also returned, to stop the daemon.
    pub(crate) async fn answer_gate(
        &mut self,
        id: &str,
        decision: GateDecision,
        actor: &str,
        snap: TicketSnapshot,
        reply: oneshot::Sender<Result<GateOutcome, GateError>>,
    ) -> Result<(), StoreError> {
        let result = self
            .gate_action(id, decision, &format!("dashboard:{actor}"), snap)
            .await;
        if let Err(GateError::Store(e)) = &result {
            let fatal = e.to_string();
            let _ = reply.send(result);
            return Err(StoreError::Corrupt(fatal));
        }
        let _ = reply.send(result);
        Ok(())
    }

    /// A gate decision taken by `actor` (recorded with the transition), not by moving the
    /// ticket in the tracker.
    pub(crate) async fn gate_action(
        &mut self,
        id: &str,
        decision: GateDecision,
        actor: &str,
        mut snap: TicketSnapshot,
    ) -> Result<GateOutcome, GateError> {
        let rec = self
            .store
            .record(id)
            .await?
            .ok_or_else(|| GateError::NotFound(id.to_string()))?;
        // Decided as an operator: the approved column approves even a gate that a
        // human's tracker move does not (`reviews: pull_request`).
        let machine = self.workflow.machine.for_gate_action();
        let waiting = matches!(machine.state(&rec.state), Some(StateSpec::Gate { .. }))
            && matches!(rec.phase, Phase::Waiting | Phase::Held { .. });
        let stopping = self.live.get(id).is_some_and(|l| l.stopping.is_some());
        if !(waiting || matches!(rec.phase, Phase::Escalated { .. })) || stopping {
            return Err(GateError::NotAtGate {
                identifier: id.to_string(),
                state: rec.state.clone(),
                phase: rec.phase.label().to_string(),
            });
        }
        let (column, feedback) = match &decision {
            GateDecision::Approve => (machine.columns.approved.clone(), None),
            GateDecision::Rework { feedback } => {
                (machine.columns.rework.clone(), Some(feedback.clone()))
            }
        };
        let shown = std::mem::replace(&mut snap.column, column);
        // Writes still owed for the ticket (its gate comment, a slow tracker) do not
        // hold the operator: this decision's writes queue behind them in the ticket's
        // chain, so the tracker sees them in order.
        let mut decided_on = rec.clone();
        decided_on.pending_intents = 0;
        let mut actions = crate::domain::decide(&snap, Some(&decided_on), &machine, self.now());
        // An approval that merges first takes effect once merged, decided again on the
        // ticket as the tracker shows it: so the tracker shows the approval meanwhile.
        let merging = actions
            .iter()
            .any(|a| matches!(a, Action::MergePullRequest { .. }));
        if merging {
            self.approved_by.insert(id.to_string(), actor.to_string());
        }
        if merging && shown != machine.columns.approved {
            actions.insert(
                0,
                Action::Move {
                    column: machine.columns.approved.clone(),
                },
            );
        }
        let to = actions.iter().find_map(|a| match a {
            Action::Enter { to, .. } => Some(to.clone()),
            _ => None,
        });
        let escalated = actions.iter().any(|a| matches!(a, Action::Escalate { .. }));
        let origin = Origin {
            actor: Some(actor.to_string()),
            feedback,
            tracker_feedback: None,
        };
        if let Some(w) = self.execute(&snap, Some(&rec), actions, &origin).await? {
            self.dispatch(vec![w]).await?;
        }
        self.publish().await?;
        Ok(GateOutcome {
            identifier: id.to_string(),
            from: rec.state,
            to,
            escalated,
        })
    }
}
