//! The outbox: tracker writes recorded as intents, performed, then confirmed.
//!
//! A fresh intent is performed right after the transaction that recorded it. An intent
//! still pending at the start of a tick (the write failed, or the daemon died between
//! recording and confirming) is retried, but first the tracker is asked whether the
//! write already happened: a move checks the ticket's column, a comment looks for its
//! hidden marker. So a retried write is never visible twice.
//!
//! A write whose answer was lost (`TrackerError::Unconfirmed`: the adapter sent it but
//! cannot tell whether the tracker carried it out) is resolved at once the same way:
//! read back, then performed once more only if it did not happen.
//!
//! The writes themselves run in the ticket's chain (`effects`), never in the owner.
//!
//! The push of a ticket's branch to the forge is an intent too (`IntentOp::Push`, see
//! `push`): drained and retried the same way, read back first (is the remote branch
//! already at the commit?), and, while owed, it holds the ticket's decisions like a
//! tracker write.
//!
//! A failed *move* stays in the outbox (retried every tick) unless the ticket is gone or
//! closed: until it lands, the ticket's column differs from the store only because
//! karajan's own write did not go through, and `decide` (rule 2) takes nothing from it —
//! it is never read as a human's move, so the ticket is neither held nor restarted.

use super::effects::Effect;
use super::engine::Engine;
use crate::store::{IntentOp, StoreError};

/// An intent to perform, as recorded.
#[derive(Debug, Clone)]
pub(crate) struct Intent {
    pub intent_id: String,
    pub identifier: String,
    pub op: IntentOp,
}

/// The hidden marker of a comment: karajan's state, its run number and rework count,
/// the run and rework counts of every state (so `karajan recover` can rebuild the
/// record), plus the intent id that makes retries idempotent.
pub(crate) fn comment_marker(
    intent_id: &str,
    state: &str,
    record: Option<&crate::domain::IssueRecord>,
    head: &(i64, String),
) -> String {
    let runs = record.map(|r| r.runs.clone()).unwrap_or_default();
    let reworks = record.map(|r| r.rework.clone()).unwrap_or_default();
    let json = serde_json::json!({
        "intent": intent_id,
        "state": state,
        "run": runs.get(state).copied().unwrap_or(0),
        "rework": reworks.get(state).copied().unwrap_or(0),
        "runs": runs,
        "reworks": reworks,
        // The anchor: the chain head when the comment was composed, kept by the tracker
        // outside karajan's machine (`karajan verify --against-tracker`).
        "head": { "seq": head.0, "hash": head.1 },
    });
    format!(
        "{}{} -->",
        crate::domain::ticket::COMMENT_MARKER_PREFIX,
        json
    )
}

impl Engine {
    /// Hand every pending intent to its ticket's chain, oldest first, asking the
    /// tracker first whether each already happened. A ticket with a chain in flight is
    /// left alone (its writes are in that chain or queued behind it). A ticket whose
    /// write fails keeps its later intents pending too, so their order is kept.
    pub(crate) async fn drain_outbox(&mut self) -> Result<(), StoreError> {
        self.launch_owed(None).await
    }

    /// Launch the owed writes of every ticket (or of `only`) that has no chain in
    /// flight. A decision that writes for a ticket with owed writes calls this first, so
    /// its own writes queue behind them instead of overtaking them.
    pub(crate) async fn launch_owed(&mut self, only: Option<&str>) -> Result<(), StoreError> {
        let pending = self.store.pending_intents().await?;
        let mut by_ticket: indexmap::IndexMap<String, Vec<Effect>> = Default::default();
        for p in pending {
            if self.chains.contains_key(&p.identifier) || only.is_some_and(|id| id != p.identifier)
            {
                continue;
            }
            let effect = Effect::Write {
                intent: Intent {
                    intent_id: p.intent_id,
                    identifier: p.identifier.clone(),
                    op: p.op,
                },
                retry: true,
            };
            by_ticket.entry(p.identifier).or_default().push(effect);
        }
        for (id, effects) in by_ticket {
            self.launch(&id, effects);
        }
        Ok(())
    }
}
