//! Gate decisions taken by an operator (the dashboard or the API) instead of by moving
//! the ticket in the tracker. They go through exactly the same path as a tracker move:
//! `decide` on the ticket as if it sat in the `approved` or `rework` column, then the
//! usual intents move the ticket in the tracker. The transition records who did it.

use serde::Serialize;

use super::engine::Engine;
use super::execute::Origin;
use crate::domain::{Action, Phase, StateSpec};
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
    pub(crate) async fn gate_action(
        &mut self,
        id: &str,
        decision: GateDecision,
        actor: &str,
    ) -> Result<GateOutcome, GateError> {
        let rec = self
            .store
            .record(id)
            .await?
            .ok_or_else(|| GateError::NotFound(id.to_string()))?;
        let machine = self.workflow.machine.clone();
        let waiting = matches!(machine.state(&rec.state), Some(StateSpec::Gate { .. }))
            && matches!(rec.phase, Phase::Waiting | Phase::Held { .. });
        if !(waiting || matches!(rec.phase, Phase::Escalated { .. })) || rec.pending_intents > 0 {
            return Err(GateError::NotAtGate {
                identifier: id.to_string(),
                state: rec.state.clone(),
                phase: rec.phase.label().to_string(),
            });
        }
        let mut snap = match self.snapshots.get(id) {
            Some(s) => s.clone(),
            None => self
                .tracker
                .fetch_by_identifiers(&[id.to_string()])
                .await
                .ok()
                .and_then(|mut v| v.pop())
                .ok_or_else(|| GateError::NotFound(id.to_string()))?,
        };
        let (column, feedback) = match &decision {
            GateDecision::Approve => (machine.columns.approved.clone(), None),
            GateDecision::Rework { feedback } => {
                (machine.columns.rework.clone(), Some(feedback.clone()))
            }
        };
        snap.column = column;
        let actions = crate::domain::decide(&snap, Some(&rec), &machine, self.now());
        let to = actions.iter().find_map(|a| match a {
            Action::Enter { to, .. } => Some(to.clone()),
            _ => None,
        });
        let escalated = actions.iter().any(|a| matches!(a, Action::Escalate { .. }));
        let origin = Origin {
            actor: Some(format!("dashboard:{actor}")),
            feedback,
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
