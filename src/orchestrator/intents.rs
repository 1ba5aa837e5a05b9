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
//! A failed *move* stays in the outbox (retried every tick) unless the ticket is gone or
//! closed: until it lands, the ticket's column differs from the store only because
//! karajan's own write did not go through, and `decide` (rule 2) takes nothing from it —
//! it is never read as a human's move, so the ticket is neither held nor restarted.

use tracing::{info, warn};

use super::engine::Engine;
use crate::domain::TicketRef;
use crate::store::{EventKind, IntentOp, NewEvent, StoreError};
use crate::tracker::TrackerError;

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
    });
    format!(
        "{}{} -->",
        crate::domain::ticket::COMMENT_MARKER_PREFIX,
        json
    )
}

impl Engine {
    /// Perform one intent and return the outcome event. `retry` asks the tracker first
    /// whether the write already happened.
    pub(crate) async fn perform(&self, intent: &Intent, retry: bool) -> NewEvent {
        let mut result = self.try_perform(intent, retry).await;
        if let Err(TrackerError::Unconfirmed(reason)) = &result {
            info!(ticket = %intent.identifier, intent = %intent.intent_id, %reason, "tracker write unconfirmed; reading the tracker back before trying again");
            result = self.try_perform(intent, true).await;
        }
        let kind = match result {
            Ok(already_done) => EventKind::IntentCompleted {
                intent_id: intent.intent_id.clone(),
                already_done,
            },
            Err(e) => {
                let retryable = match (&intent.op, &e) {
                    (_, TrackerError::NotFound(_) | TrackerError::Closed(_)) => false,
                    // karajan owes this move: it stays in the outbox until it lands.
                    (IntentOp::Move { .. }, _) => true,
                    _ => e.is_retryable(),
                };
                warn!(ticket = %intent.identifier, intent = %intent.intent_id, retryable, error = %e, "tracker write failed");
                EventKind::IntentFailed {
                    intent_id: intent.intent_id.clone(),
                    error: e.to_string(),
                    retryable,
                }
            }
        };
        NewEvent::for_issue(&intent.identifier, kind)
    }

    async fn try_perform(&self, intent: &Intent, retry: bool) -> Result<bool, TrackerError> {
        match &intent.op {
            IntentOp::Move { tracker_id, column } => {
                let ticket = TicketRef {
                    id: tracker_id.clone(),
                    identifier: intent.identifier.clone(),
                };
                if retry {
                    let now = self
                        .tracker
                        .fetch_by_identifiers(std::slice::from_ref(&intent.identifier))
                        .await?;
                    if now.first().is_some_and(|t| &t.column == column) {
                        return Ok(true);
                    }
                }
                self.tracker.move_ticket(&ticket, column).await?;
                info!(ticket = %intent.identifier, column = %column, "moved ticket");
                Ok(false)
            }
            IntentOp::Comment { tracker_id, body } => {
                let ticket = TicketRef {
                    id: tracker_id.clone(),
                    identifier: intent.identifier.clone(),
                };
                if retry {
                    let needle = format!("\"intent\":\"{}\"", intent.intent_id);
                    let existing = self.tracker.comments(&ticket).await?;
                    if existing.iter().any(|c| c.body.contains(&needle)) {
                        return Ok(true);
                    }
                }
                // Blank secrets a comment may quote (a failure reason, an agent's
                // summary) before it leaves for the tracker.
                let body = self.redactor.raw(body);
                self.tracker.comment(&ticket, &body).await?;
                Ok(false)
            }
        }
    }

    /// Retry every pending intent, oldest first. A ticket whose write fails keeps its
    /// later intents pending too, so their order is kept.
    pub(crate) async fn drain_outbox(&self) -> Result<(), StoreError> {
        let pending = self.store.pending_intents().await?;
        let mut blocked: Vec<String> = vec![];
        for p in pending {
            if blocked.contains(&p.identifier) {
                continue;
            }
            let intent = Intent {
                intent_id: p.intent_id,
                identifier: p.identifier.clone(),
                op: p.op,
            };
            let outcome = self.perform(&intent, true).await;
            if matches!(
                outcome.kind,
                EventKind::IntentFailed {
                    retryable: true,
                    ..
                }
            ) {
                blocked.push(p.identifier);
            }
            self.record(vec![outcome]).await?;
        }
        Ok(())
    }
}
