//! Two slow-path hooks every tracker may use (`Tracker::note_recorded_column`,
//! `Tracker::terminal_sweep`; both default to nothing).
//!
//! - **Recorded columns.** The store, not the tracker, says where a ticket is in the
//!   machine. Adapters that can see an ambiguous record (GitHub labels mode: an issue
//!   with two state labels after a crash between "add" and "remove") repair it to the
//!   column karajan recorded, so after recovery and after every tick the engine tells
//!   the tracker the column of each ticket it is responsible for.
//! - **Terminal sweep.** The poll reads only candidates; a ticket karajan still holds
//!   that a human finished may leave the candidate filter (a closed issue, a completed
//!   Linear state). Every `SWEEP_EVERY_TICKS` polls the engine reads the terminal
//!   columns and decides those tickets like a poll would, so they end in their terminal
//!   state and their workspace is cleaned.

use std::collections::HashMap;

use tracing::{debug, warn};

use super::engine::Engine;
use super::tick::TickError;
use crate::domain::{IssueRecord, Phase};
use crate::store::StoreError;

/// Polls between two terminal sweeps.
pub(crate) const SWEEP_EVERY_TICKS: u32 = 10;

impl Engine {
    /// Tells the tracker the column of every ticket karajan is responsible for.
    pub(crate) async fn note_recorded_columns(&self) -> Result<(), StoreError> {
        for rec in self.store.records().await? {
            if matches!(rec.phase, Phase::Done) {
                continue;
            }
            if let Some(spec) = self.workflow.machine.state(&rec.state) {
                self.tracker
                    .note_recorded_column(&rec.identifier, spec.column())
                    .await;
            }
        }
        Ok(())
    }

    /// The terminal sweep; a tracker failure is logged (the next sweep retries), a
    /// store failure stops the daemon.
    pub(crate) async fn sweep_or_fail(&mut self) -> Result<(), StoreError> {
        match self.sweep_terminal().await {
            Ok(()) => Ok(()),
            Err(TickError::Store(e)) => Err(e),
            Err(TickError::Tracker(e)) => {
                warn!(error = %e, "terminal sweep failed; the next one retries");
                Ok(())
            }
        }
    }

    async fn sweep_terminal(&mut self) -> Result<(), TickError> {
        let fetched = self.tracker.terminal_sweep().await?;
        if fetched.tickets.is_empty() {
            return Ok(());
        }
        let records: HashMap<String, IssueRecord> = self
            .store
            .records()
            .await?
            .into_iter()
            .map(|r| (r.identifier.clone(), r))
            .collect();
        let wf = self.workflow.clone();
        let now = self.now();
        for snap in fetched.tickets {
            let Some(rec) = records.get(&snap.identifier) else {
                continue;
            };
            if matches!(rec.phase, Phase::Done) {
                continue;
            }
            let actions = crate::domain::decide(&snap, Some(rec), &wf.machine, now);
            if actions.is_empty() {
                continue;
            }
            debug!(ticket = %snap.identifier, ?actions, "terminal sweep decided");
            // A ticket in a terminal column asks for no run: nothing to dispatch.
            self.execute(
                &snap,
                Some(rec),
                actions,
                &super::execute::Origin::default(),
            )
            .await?;
            self.snapshots.insert(snap.identifier.clone(), snap);
        }
        Ok(())
    }
}
