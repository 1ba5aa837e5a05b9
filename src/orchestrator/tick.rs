//! One tick: drain the outbox, read the tracker, reconcile, decide, dispatch.

use std::collections::HashMap;

use tracing::{debug, error, warn};

use super::dispatch::Decision;
use super::engine::Engine;
use crate::domain::priority::dispatch_order;
use crate::domain::{IssueRecord, Phase, TicketSnapshot};
use crate::store::{EventKind, NewEvent, StoreError};
use crate::tracker::TrackerError;

/// Why a tick could not complete.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    /// The store failed: the daemon cannot safely go on.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The tracker failed: logged and recorded; the next tick tries again.
    #[error(transparent)]
    Tracker(#[from] TrackerError),
}

impl Engine {
    pub(crate) async fn tick(&mut self) -> Result<(), TickError> {
        self.drain_outbox().await?;
        match self.observe().await {
            Ok(()) => Ok(()),
            Err(TickError::Tracker(e)) => {
                error!(error = %e, "tracker read failed; will retry next tick");
                self.record(vec![NewEvent::global(EventKind::TrackerError {
                    error: e.to_string(),
                })])
                .await?;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn observe(&mut self) -> Result<(), TickError> {
        let wf = self.workflow.clone();
        let machine = &wf.machine;
        let fetched = self
            .tracker
            .fetch_candidates(&machine.columns.watched())
            .await?;
        for s in &fetched.skipped {
            warn!(source = %s.source, error = %s.error, "skipped a ticket the tracker could not read");
        }
        let records: HashMap<String, IssueRecord> = self
            .store
            .records()
            .await?
            .into_iter()
            .map(|r| (r.identifier.clone(), r))
            .collect();
        let mut snaps: HashMap<String, TicketSnapshot> = fetched
            .tickets
            .into_iter()
            .map(|t| (t.identifier.clone(), t))
            .collect();
        // Tickets karajan is responsible for that left the watched columns (finished
        // by a human, parked elsewhere): refresh them by id in one batched read.
        let missing: Vec<String> = records
            .values()
            .filter(|r| !matches!(r.phase, Phase::Done) && !snaps.contains_key(&r.identifier))
            .map(|r| r.identifier.clone())
            .collect();
        if !missing.is_empty() {
            for t in self.tracker.fetch_by_identifiers(&missing).await? {
                snaps.insert(t.identifier.clone(), t);
            }
        }
        // A live run whose ticket vanished from the tracker is stopped and held.
        let vanished: Vec<(String, String)> = self
            .live
            .iter()
            .filter(|(id, _)| !snaps.contains_key(*id))
            .map(|(id, l)| (id.clone(), l.run_id.clone()))
            .collect();
        for (id, run_id) in vanished {
            warn!(ticket = %id, "ticket vanished from the tracker; stopping its run");
            self.stop_run(&id, &run_id, "ticket vanished").await?;
            self.record(vec![NewEvent::for_issue(
                &id,
                EventKind::Held {
                    column: "(missing)".into(),
                },
            )])
            .await?;
        }
        let mut ordered: Vec<TicketSnapshot> = snaps.values().cloned().collect();
        ordered.sort_by(dispatch_order);
        self.snapshots = snaps;
        let now = self.now();
        let mut decisions = vec![];
        for snap in ordered {
            let rec = records.get(&snap.identifier);
            let actions = crate::domain::decide(&snap, rec, machine, now);
            if actions.is_empty() {
                continue;
            }
            debug!(ticket = %snap.identifier, ?actions, "decided");
            decisions.push(Decision {
                snapshot: snap,
                record: rec,
                actions,
            });
        }
        // Only what can run now leaves its column; the rest waits, untouched.
        let left = self.execute_decisions(decisions).await?;
        self.backlog = left > 0;
        Ok(())
    }
}
