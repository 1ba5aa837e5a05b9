//! A writable SQLite store's pending intents in memory, kept exact by its appends: the
//! outbox the owner drains at every tick without asking SQLite.
//!
//! At each tick, and before a decision that writes for a ticket that still owes writes,
//! the owner lists the pending intents to hand them to their tickets' chains. Reading
//! the `pending_intents` table each time was a request to SQLite's worker thread and
//! back per tick, and a read that grows with the outbox: a tracker down for an hour
//! leaves hundreds of writes pending, all read again at every tick (issue 11). A
//! writable SQLite store is its database's only writer (the store lock), and each
//! event says exactly what the projection does with the table (`projection::apply_rows`):
//!
//! - `intent_recorded` with a ticket adds the intent (0 attempts, no error, recorded at
//!   the event's time), after every intent recorded before it;
//! - `intent_completed`, and `intent_failed` that cannot be retried, remove it;
//! - `intent_failed` that can be retried counts an attempt and keeps its error.
//!
//! So the store loads the table once when it opens (before any append) and folds each
//! committed append into it, under its append lock, in commit order, as `cache` does for
//! the ticket records. A Postgres store reads the table: a cluster's nodes share it.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::event::{EventKind, NewEvent};
use super::{PendingIntent, StoredEvent};

pub(super) struct Outbox {
    /// In the order recorded (the table's `recorded_seq`).
    pending: Mutex<Vec<PendingIntent>>,
}

impl Outbox {
    /// The outbox as the database holds it, oldest first.
    pub fn new(pending: Vec<PendingIntent>) -> Outbox {
        Outbox {
            pending: Mutex::new(pending),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<PendingIntent>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every pending intent, oldest first.
    pub fn pending(&self) -> Vec<PendingIntent> {
        self.lock().clone()
    }

    /// How many intents `identifier` has pending.
    pub fn count(&self, identifier: &str) -> u32 {
        let n = self
            .lock()
            .iter()
            .filter(|p| p.identifier == identifier)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// What a committed append did to the outbox (`stored[i]` is `events[i]` as
    /// stored).
    pub fn apply(&self, events: &[NewEvent], stored: &[StoredEvent]) {
        let mut pending = self.lock();
        for (event, row) in events.iter().zip(stored) {
            match (&event.kind, event.issue.as_deref()) {
                (EventKind::IntentRecorded { intent_id, op }, Some(issue)) => {
                    pending.push(PendingIntent {
                        intent_id: intent_id.clone(),
                        identifier: issue.to_string(),
                        op: op.clone(),
                        attempts: 0,
                        last_error: None,
                        recorded_at: row.at,
                    });
                }
                (EventKind::IntentCompleted { intent_id, .. }, _)
                | (
                    EventKind::IntentFailed {
                        intent_id,
                        retryable: false,
                        ..
                    },
                    _,
                ) => pending.retain(|p| p.intent_id != *intent_id),
                (
                    EventKind::IntentFailed {
                        intent_id,
                        error,
                        retryable: true,
                    },
                    _,
                ) => {
                    if let Some(p) = pending.iter_mut().find(|p| p.intent_id == *intent_id) {
                        p.attempts += 1;
                        p.last_error = Some(error.clone());
                    }
                }
                _ => {}
            }
        }
    }
}
