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
use super::inbox::TaskMsg;
use crate::domain::{IssueRecord, Phase};
use crate::store::StoreError;
use crate::tracker::{Fetched, TrackerError};

/// Polls between two terminal sweeps.
pub(crate) const SWEEP_EVERY_TICKS: u32 = 10;

impl Engine {
    /// Tells the tracker the column of every ticket karajan is responsible for.
    pub(crate) async fn note_recorded_columns(&self) -> Result<(), StoreError> {
        if !self.tracker.wants_recorded_columns() {
            return Ok(());
        }
        // The active records are those not done.
        for rec in self.store.active_shared().await? {
            if let Some(spec) = self.workflow.machine.state(&rec.state) {
                self.tracker
                    .note_recorded_column(&rec.identifier, spec.column())
                    .await;
            }
        }
        Ok(())
    }

    /// Start the terminal sweep in a task (one at a time); its answer comes back as
    /// `on_swept`.
    pub(crate) fn start_sweep(&mut self) {
        if self.sweeping {
            return;
        }
        self.sweeping = true;
        let tracker = self.tracker.clone();
        let tx = self.tasks_tx.clone();
        tokio::spawn(async move {
            let result = tracker.terminal_sweep().await;
            let _ = tx.send(TaskMsg::Swept { result });
        });
    }

    /// The sweep answered; a tracker failure is logged (the next sweep retries), a
    /// store failure stops the daemon.
    pub(crate) async fn on_swept(
        &mut self,
        result: Result<Fetched, TrackerError>,
    ) -> Result<(), StoreError> {
        self.sweeping = false;
        let fetched = match result {
            Ok(f) => f,
            Err(e) => {
                warn!(error = %e, "terminal sweep failed; the next one retries");
                return Ok(());
            }
        };
        if fetched.tickets.is_empty() {
            return Ok(());
        }
        let records: HashMap<String, IssueRecord> = self
            .store
            .active_records()
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
            if matches!(rec.phase, Phase::Done) || self.in_flight(&snap.identifier) {
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
