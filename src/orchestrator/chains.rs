//! Per-ticket effect chains on the owner's side: launching them, queueing what is
//! decided while one runs, recording their outcomes, and knowing which tickets are
//! busy. A poll answer read before a ticket's move landed is corrected by the moves
//! that landed while it was out (`landed`), so karajan's own write is never mistaken
//! for a human's move. See `effects` for the task side.

use std::collections::VecDeque;
use std::sync::Arc;

use super::effects::{ChainCtx, Effect, run_chain};
use super::engine::Engine;
use super::inbox::MoveLanded;
use crate::store::{EventKind, NewEvent, StoreError};

/// A move of karajan's that landed while a read was out.
#[derive(Debug, Clone)]
pub(crate) struct Landed {
    /// The column the owner's snapshot showed before (`None`: it had no snapshot).
    pub from: Option<String>,
    /// The column the move made.
    pub to: String,
    /// The ticket's last-change time after the move, where the tracker's answer said
    /// (Linear). A read showing a later one was made after the move: what it shows is
    /// the later word, a human's move after karajan's, and is acted on as read.
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Landed {
    /// Whether `read` (the ticket as a read showed it) was provably made after this
    /// move landed.
    pub(crate) fn read_later(&self, read: &crate::domain::TicketSnapshot) -> bool {
        self.updated_at.is_some_and(|moved| read.updated_at > moved)
    }
}

impl Engine {
    /// Hand a ticket's effects to its chain: a new task, or behind the one in flight.
    pub(crate) fn launch(&mut self, identifier: &str, effects: Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
        for e in &effects {
            if let Effect::Write { intent, .. } = e
                && let crate::store::IntentOp::Move { column, .. } = &intent.op
            {
                self.moving
                    .entry(identifier.to_string())
                    .or_default()
                    .push(column.clone());
            }
        }
        if let Some(queued) = self.chains.get_mut(identifier) {
            queued.extend(effects);
            return;
        }
        self.chains.insert(identifier.to_string(), VecDeque::new());
        self.chain_moved_at.remove(identifier);
        self.spawn_chain(identifier, effects);
    }

    fn spawn_chain(&self, identifier: &str, effects: Vec<Effect>) {
        let ctx = ChainCtx {
            tracker: self.tracker.clone(),
            redactor: self.redactor.clone(),
            store: self.store.clone(),
            forge: self.forge.clone(),
            workspaces: self.workspaces.clone(),
        };
        tokio::spawn(run_chain(
            ctx,
            identifier.to_string(),
            effects,
            self.tasks_tx.clone(),
        ));
    }

    /// Record what chains did, in one transaction; snapshots follow the moves that
    /// landed.
    pub(crate) async fn on_effects(
        &mut self,
        done: Vec<(String, Vec<NewEvent>, Option<MoveLanded>)>,
    ) -> Result<(), StoreError> {
        let failed = self.failed_forge_writes(&done).await?;
        let mut events = vec![];
        let mut attach = vec![];
        for (identifier, evs, moved_to) in done {
            // A pull request the record does not have yet (opened now, or found after a
            // crash) is attached to its ticket where the tracker can (Linear), recorded
            // with it.
            for e in &evs {
                if let EventKind::PullRequestOpened { url, number, .. } = &e.kind
                    && let Some((recorded, intent)) =
                        self.attach_intent(&identifier, url, *number).await?
                {
                    attach.push((identifier.clone(), recorded, intent));
                }
            }
            // A merge lets the approval that asked for it take effect: decided again
            // when the chain ends.
            if evs
                .iter()
                .any(|e| matches!(e.kind, EventKind::PullRequestMerged { .. }))
            {
                self.redecide.insert(identifier.clone());
            }
            events.extend(evs);
            if let Some(MoveLanded { column, updated_at }) = moved_to {
                if let Some(at) = updated_at {
                    self.chain_moved_at.insert(identifier.clone(), at);
                }
                let from = self
                    .snapshots
                    .get_mut(&identifier)
                    .map(|s| std::mem::replace(&mut Arc::make_mut(s).column, column.clone()));
                if self.observing.is_some() {
                    // The poll in flight may have read the ticket before this move.
                    let from = match self.landed.remove(&identifier) {
                        Some(earlier) => earlier.from,
                        None => from,
                    };
                    self.landed.insert(
                        identifier,
                        Landed {
                            from,
                            to: column,
                            updated_at,
                        },
                    );
                }
            }
        }
        let mut effects = vec![];
        for (identifier, recorded, intent) in attach {
            events.push(recorded);
            effects.push((identifier, intent));
        }
        self.record(events).await?;
        for (identifier, intent) in effects {
            self.launch(
                &identifier,
                vec![Effect::Write {
                    intent,
                    retry: false,
                }],
            );
        }
        for failure in failed {
            self.on_forge_failure(failure).await?;
        }
        Ok(())
    }

    /// A chain ended: start what queued behind it. Writes queued behind one that stayed
    /// owed are held back (pending in the outbox, drained in order by the next tick).
    /// Returns whether the ticket waits for a decision its chain held back (see
    /// `advance`).
    pub(crate) fn on_chain_ended(&mut self, identifier: &str, blocked: bool) -> bool {
        let Some(queued) = self.chains.get_mut(identifier) else {
            return false;
        };
        let mut next: Vec<Effect> = queued.drain(..).collect();
        if blocked {
            next.retain(|e| !e.is_write());
        }
        if next.is_empty() {
            self.chains.remove(identifier);
            self.moving.remove(identifier);
            let again = self.redecide.remove(identifier);
            if !again {
                // Only `advance` (which a decision held back calls next) needs it.
                self.chain_moved_at.remove(identifier);
            }
            return again;
        }
        self.spawn_chain(identifier, next);
        false
    }

    /// Whether a ticket has a chain, a feedback read, a refresh or a stop in flight: a
    /// poll must not decide it (it is decided again when that work ends).
    pub(crate) fn in_flight(&self, identifier: &str) -> bool {
        self.chains.contains_key(identifier)
            || self.reading.contains(identifier)
            || self.refreshing.contains(identifier)
            || self
                .live
                .get(identifier)
                .is_some_and(|l| l.stopping.is_some())
    }

    /// Whether a decision waits for a chain in flight (a poll found its ticket busy with
    /// one; it is decided when the chain ends). An entry of `redecide` whose ticket has
    /// no chain (it was busy with a read or a stop) is decided by that work's end, not
    /// by this, and does not count.
    pub(crate) fn deferred_behind_chains(&self) -> bool {
        self.redecide.iter().any(|id| self.chains.contains_key(id))
    }

    /// Nothing in flight but runs: no poll, chain, feedback read or sweep.
    pub(crate) fn quiet(&self) -> bool {
        self.observing.is_none()
            && self.chains.is_empty()
            && self.reading.is_empty()
            && self.watching.is_empty()
            && self.refreshing.is_empty()
            && !self.sweeping
    }
}
