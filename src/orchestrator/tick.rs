//! One tick: drain the outbox, read the tracker, reconcile, decide, dispatch.
//!
//! The tick is split at its slow part. `tick` launches the outbox's owed writes as
//! chains and starts the poll as a task; the owner goes on receiving messages; when the
//! poll's answer arrives (`on_observed`), the owner decides every ticket that is not
//! busy and executes the decisions. One poll is in flight at a time; asking for another
//! meanwhile starts it as soon as the first answers.

use std::collections::HashMap;
use std::sync::Arc;

use tracing::{debug, error, warn};

use super::dispatch::Decision;
use super::engine::Engine;
use super::inbox::{Observation, TaskMsg};
use crate::domain::priority::dispatch_order;
use crate::domain::{IssueRecord, TicketSnapshot};
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
    /// Launch the owed writes and start a poll (or queue one behind the poll in flight).
    pub(crate) async fn tick(&mut self) -> Result<(), StoreError> {
        self.drain_outbox().await?;
        self.start_observe(None);
        Ok(())
    }

    /// Reconcile just these tickets now (a webhook named them): one read by id, then
    /// the same decisions a poll makes, for them alone. Queued behind a poll in flight.
    pub(crate) fn nudge(&mut self, identifiers: Vec<String>) {
        if self.observing.is_some() {
            self.nudged.extend(identifiers);
            return;
        }
        self.start_observe(Some(identifiers));
    }

    /// A project's item changed (a GitHub delivery names it by node ids only): read
    /// the ticket whose issue has node id `issue` alone, when karajan holds its
    /// snapshot. `true`: it does not (an issue new to the board, or to the columns
    /// karajan watches), and the whole poll should come forward. An item of a project
    /// that is known not to be the tracker's board is nothing to karajan.
    pub(crate) fn nudge_item(&mut self, issue: &str, project: Option<&str>) -> bool {
        if let (Some(project), Some(board)) = (project, self.tracker.board_id())
            && project != board
        {
            debug!(%project, %board, "a delivery about another project's item: ignored");
            return false;
        }
        match self.snapshots.values().find(|s| s.id == issue) {
            Some(known) => {
                let identifier = known.identifier.clone();
                self.nudge(vec![identifier]);
                false
            }
            None => true,
        }
    }

    /// Start a read: the whole poll (`scope` none) or the named tickets.
    pub(crate) fn start_observe(&mut self, scope: Option<Vec<String>>) {
        if self.observing.is_some() {
            self.observe_again = true;
            return;
        }
        if scope.is_none() {
            // Every refresh asked for until now (those that waited behind a read in
            // flight included) is served by this read; one asked for from here on is not.
            self.refresh_pending
                .store(false, std::sync::atomic::Ordering::SeqCst);
        }
        self.fetch_seq += 1;
        let seq = self.fetch_seq;
        self.observing = Some((seq, tokio::time::Instant::now()));
        let tracker = self.tracker.clone();
        let store = self.store.clone();
        let columns = self.workflow.machine.columns.watched();
        let tx = self.tasks_tx.clone();
        tokio::spawn(async move {
            let result = match scope {
                None => read(tracker.as_ref(), &store, &columns).await,
                Some(ids) => read_some(tracker.as_ref(), ids).await,
            };
            let result = result.map_err(|e| match e {
                TickError::Tracker(e) => e,
                TickError::Store(e) => TrackerError::Fatal(format!("store: {e}")),
            });
            let _ = tx.send(TaskMsg::Observed { seq, result });
        });
    }

    /// The poll answered: decide every ticket that is not busy.
    pub(crate) async fn on_observed(
        &mut self,
        seq: u64,
        result: Result<Observation, TrackerError>,
    ) -> Result<(), StoreError> {
        let started = self.observing.take().map(|(_, at)| at);
        let outcome = match result {
            Ok(obs) => {
                if obs.scope.is_none() {
                    self.polled_at = Some(tokio::time::Instant::now());
                }
                self.decide_observed(seq, obs).await
            }
            Err(e) => {
                error!(error = %e, "tracker read failed; will retry next tick");
                self.record(vec![NewEvent::global(EventKind::TrackerError {
                    error: e.to_string(),
                })])
                .await
                .map(|_| ())
            }
        };
        debug!(seq, "poll handled");
        self.landed.clear();
        if let Some(at) = started {
            self.metrics
                .tick_seconds
                .observe(at.elapsed().as_secs_f64());
        }
        outcome?;
        self.note_recorded_columns().await?;
        if std::mem::take(&mut self.observe_again) {
            self.nudged.clear();
            self.tick().await?;
        } else {
            self.read_nudged();
        }
        Ok(())
    }

    /// Read the tickets named while a read was out (or by a decision that wants them
    /// read again), in one read, unless one is out: then after it.
    pub(crate) fn read_nudged(&mut self) {
        if self.observing.is_none() && !self.nudged.is_empty() {
            // A sorted set: the read names them in order.
            let ids: Vec<String> = std::mem::take(&mut self.nudged).into_iter().collect();
            self.start_observe(Some(ids));
        }
    }

    pub(crate) async fn decide_observed(
        &mut self,
        seq: u64,
        obs: Observation,
    ) -> Result<(), StoreError> {
        let wf = self.workflow.clone();
        let machine = &wf.machine;
        for s in &obs.fetched.skipped {
            warn!(source = %s.source, error = %s.error, "skipped a ticket the tracker could not read");
        }
        // The snapshots are shared with the tracker's answer (and, for a tracker that
        // keeps its candidates, with its cache): nothing here copies a ticket.
        let mut snaps: HashMap<String, Arc<TicketSnapshot>> = obs
            .fetched
            .tickets
            .into_iter()
            .chain(obs.refreshed.into_iter().map(Arc::new))
            .map(|t| (t.identifier.clone(), t))
            .collect();
        self.keep_delivered(seq, obs.scope.as_deref(), &mut snaps);
        let records: HashMap<String, Arc<IssueRecord>> = {
            let asked: Vec<&str> = snaps.keys().map(String::as_str).collect();
            if obs.scope.is_none() {
                self.store.retain_known(&asked);
            }
            self.store.records_for(&asked).await?
        };
        // A read of named tickets speaks for them alone: every other ticket keeps the
        // snapshot it has and is not decided.
        let whole = obs.scope.is_none();
        let in_scope = |id: &str| obs.scope.as_ref().is_none_or(|s| s.iter().any(|x| x == id));
        if obs.scope.is_some() {
            for (id, old) in &self.snapshots {
                if !in_scope(id) {
                    snaps.entry(id.clone()).or_insert_with(|| old.clone());
                }
            }
        }
        // The poll may have read a ticket before karajan's own move landed: the move
        // is the later word. A ticket with work in flight keeps the owner's snapshot
        // (it follows karajan's writes as they land).
        // A read showing neither the column the move left nor the one it made saw a
        // human's move, made before or after karajan's: unless the tracker's clock
        // tells (a read of the ticket changed after the move's answer: the human's move
        // came later, and stands), the move stands for now and the ticket is read again
        // at once.
        for (id, landed) in &self.landed {
            if let Some(s) = snaps.get_mut(id)
                && s.column != landed.to
                && !landed.read_later(s)
            {
                if landed.from.as_ref() != Some(&s.column) && in_scope(id) {
                    debug!(ticket = %id, read = %s.column, moved = %landed.to, "a read out during karajan's move shows another column: reading again");
                    self.nudged.insert(id.clone());
                }
                Arc::make_mut(s).column = landed.to.clone();
            }
        }
        for (id, old) in &self.snapshots {
            if self.in_flight(id) {
                if let Some(fresh) = snaps.get(id)
                    && in_scope(id)
                    && fresh.column != old.column
                    && !self
                        .moving
                        .get(id)
                        .is_some_and(|to| to.contains(&fresh.column))
                {
                    debug!(ticket = %id, read = %fresh.column, "a read while karajan's work was out shows a change: settled when the work ends");
                    self.reread.insert(id.clone(), fresh.clone());
                }
                snaps.insert(id.clone(), old.clone());
            }
        }
        // A live run whose ticket vanished from the tracker is stopped and held.
        let vanished: Vec<(String, String)> = self
            .live
            .iter()
            .filter(|(id, _)| !snaps.contains_key(*id) && !self.in_flight(id))
            .map(|(id, l)| (id.clone(), l.run_id.clone()))
            .collect();
        for (id, run_id) in vanished {
            warn!(ticket = %id, "ticket vanished from the tracker; stopping its run");
            let then = self
                .snapshots
                .get(&id)
                .map(|snapshot| super::engine::AfterStop {
                    snapshot: (**snapshot).clone(),
                    actions: vec![crate::domain::Action::Hold {
                        column: "(missing)".into(),
                    }],
                    origin: super::execute::Origin::default(),
                });
            self.stop_run(&id, &run_id, "ticket vanished", then).await?;
        }
        // A ticket with work in flight is decided again when that work ends.
        let now = self.now();
        let mut decisions = vec![];
        // Every slot is taken: a decision that would start a run (for a ticket without
        // one) could only wait, untouched; it is counted as waiting without being built
        // (for a ticket without a record, without even calling `decide`).
        let full = self.slots_taken(0);
        let mut waiting = 0;
        // Decisions are independent of each other, so only the tickets something
        // happens to are copied into a decision and sorted into dispatch order (a total
        // order: the same order as sorting every ticket first).
        for snap in snaps.values() {
            if !in_scope(&snap.identifier) {
                continue;
            }
            if let Some(live) = self.live.get_mut(&snap.identifier)
                && seq > live.started_seq
            {
                live.seen = true;
            }
            if self.in_flight(&snap.identifier) {
                debug!(ticket = %snap.identifier, chain = self.chains.contains_key(&snap.identifier), "work in flight: decided when it ends");
                self.redecide.insert(snap.identifier.clone());
                continue;
            }
            self.reread.remove(&snap.identifier);
            let rec = records.get(&snap.identifier).map(|r| &**r);
            let starts = |actions: &[crate::domain::Action]| {
                actions
                    .iter()
                    .any(|a| matches!(a, crate::domain::Action::StartRun { .. }))
            };
            if full
                && rec.is_none()
                && !self.live.contains_key(&snap.identifier)
                && crate::domain::decide::picks_into_run(snap, machine)
            {
                waiting += 1;
                continue;
            }
            let actions = crate::domain::decide(snap, rec, machine, now);
            if actions.is_empty() {
                continue;
            }
            if full && !self.live.contains_key(&snap.identifier) && starts(&actions) {
                waiting += 1;
                continue;
            }
            debug!(ticket = %snap.identifier, ?actions, "decided");
            decisions.push(Decision {
                snapshot: (**snap).clone(),
                record: rec,
                actions,
                origin: super::execute::Origin::default(),
            });
        }
        decisions.sort_by(|a, b| dispatch_order(&a.snapshot, &b.snapshot));
        self.snapshots = snaps;
        // Only what can run now leaves its column; the rest waits, untouched.
        let left = self.execute_decisions(decisions).await? + waiting;
        self.watch_pull_requests(&records);
        if whole {
            self.backlog = left > 0;
        } else {
            self.backlog |= left > 0;
        }
        Ok(())
    }
}

/// The poll itself, in its task: the candidates, then the tickets karajan is
/// responsible for that left the watched columns (finished by a human, parked
/// elsewhere), refreshed by id in one batched read.
async fn read(
    tracker: &dyn crate::tracker::Tracker,
    store: &crate::store::Store,
    columns: &[String],
) -> Result<Observation, TickError> {
    let fetched = tracker.fetch_candidates(columns).await?;
    let seen: std::collections::HashSet<&str> = fetched
        .tickets
        .iter()
        .map(|t| t.identifier.as_str())
        .collect();
    let missing: Vec<String> = store
        .active_shared()
        .await?
        .iter()
        .filter(|r| !seen.contains(r.identifier.as_str()))
        .map(|r| r.identifier.clone())
        .collect();
    let refreshed = if missing.is_empty() {
        vec![]
    } else {
        tracker.fetch_by_identifiers(&missing).await?
    };
    Ok(Observation {
        fetched,
        refreshed,
        scope: None,
    })
}

/// A read of named tickets, in its task.
async fn read_some(
    tracker: &dyn crate::tracker::Tracker,
    identifiers: Vec<String>,
) -> Result<Observation, TickError> {
    let tickets = tracker.fetch_by_identifiers(&identifiers).await?;
    Ok(Observation {
        fetched: crate::tracker::Fetched {
            tickets: tickets.into_iter().map(Arc::new).collect(),
            skipped: vec![],
        },
        refreshed: vec![],
        scope: Some(identifiers),
    })
}
