//! The one way the orchestrator records events: append them to the store in one
//! transaction, then announce each on the live feed.
//!
//! The actor and the run tasks (which record `run_spawned`, agent events and the
//! `after_run` hook beside the actor) share this, so the live feed (the dashboard's
//! Server-Sent Events) sees every recorded event, whoever recorded it. It is also where
//! secrets are blanked from what gets recorded (an agent's output, a hook's tail, a
//! failure reason, a comment body), so the chain never holds one.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::live::LiveEvent;
use crate::redact::Redactor;
use crate::store::{NewEvent, Store, StoreError, StoredEvent};

/// A cloneable handle on the store and the live feed.
#[derive(Clone)]
pub(crate) struct Recorder {
    store: Store,
    live_tx: broadcast::Sender<LiveEvent>,
    redactor: Arc<Redactor>,
}

impl Recorder {
    pub fn new(
        store: Store,
        live_tx: broadcast::Sender<LiveEvent>,
        redactor: Arc<Redactor>,
    ) -> Self {
        Recorder {
            store,
            live_tx,
            redactor,
        }
    }

    /// The secrets' redactor, for what the caller hands on outside the record.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Append events in one transaction, then announce them on the live feed (a feed
    /// without subscribers, or a lagging one, loses nothing: the store has the record).
    pub async fn record(&self, mut events: Vec<NewEvent>) -> Result<Vec<StoredEvent>, StoreError> {
        if events.is_empty() {
            return Ok(vec![]);
        }
        for e in &mut events {
            self.redactor.scrub_in_place(&mut e.kind);
        }
        let stored = self.store.append(events).await?;
        for e in &stored {
            let _ = self.live_tx.send(LiveEvent::from_stored(e));
        }
        Ok(stored)
    }
}
