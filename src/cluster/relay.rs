//! The lease holder's side of the run queue: one task per term ([`RemoteRuns::serve`])
//! takes the claimants' reports and hands each to the task of its run (registered with
//! [`RemoteRuns::route`]), tells a run's task when its claimant died, and keeps the
//! cluster's capacity (the slots of the live nodes) for dispatch.
//!
//! One query per tick for every run's reports (not one per run), every
//! [`REPORT_POLL`] while runs are in flight (none otherwise); liveness and capacity
//! every [`LIVENESS_POLL`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::plan::Report;
use super::queue;

/// How often the holder takes the claimants' reports.
pub const REPORT_POLL: Duration = Duration::from_millis(100);

/// How often the holder checks that claimants are alive, and the cluster's slots.
pub const LIVENESS_POLL: Duration = Duration::from_secs(1);

/// What a run's task on the holder hears.
#[derive(Debug)]
pub enum Relayed {
    Report(Report),
    /// The claimant stopped beating (or stopped): its agents are dead; the run is lost.
    Lost {
        node: String,
    },
}

/// The holder's handle on the queue for one term. Cheap to clone.
#[derive(Clone)]
pub struct RemoteRuns {
    pub pool: PgPool,
    pub term: i64,
    pub digest: String,
    pub ttl: Duration,
    routes: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Relayed>>>>,
    capacity: Arc<AtomicUsize>,
}

impl RemoteRuns {
    /// The queue of `term`; `slots`: the capacity assumed until the first count.
    pub fn new(pool: PgPool, term: i64, digest: &str, ttl: Duration, slots: usize) -> Self {
        RemoteRuns {
            pool,
            term,
            digest: digest.to_string(),
            ttl,
            routes: Arc::default(),
            capacity: Arc::new(AtomicUsize::new(slots)),
        }
    }

    /// How many agents the cluster may run at once (the live nodes' slots).
    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Where `run_id`'s reports go, from now on.
    pub fn route(&self, run_id: &str) -> mpsc::UnboundedReceiver<Relayed> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.routes().insert(run_id.to_string(), tx);
        rx
    }

    pub fn unroute(&self, run_id: &str) {
        self.routes().remove(run_id);
    }

    fn routes(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<Relayed>>> {
        self.routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn send(&self, run_id: &str, msg: Relayed) {
        if let Some(tx) = self.routes().get(run_id) {
            let _ = tx.send(msg);
        }
    }

    /// Relay until `stop`; then every run's task hears its channel close.
    pub async fn serve(self, stop: CancellationToken) {
        let mut last_check = tokio::time::Instant::now() - LIVENESS_POLL;
        loop {
            // Reports come only for runs in flight: none, no query.
            if !self.routes().is_empty() {
                match queue::take_reports(&self.pool, 500).await {
                    Ok(reports) => {
                        for (run_id, report) in reports {
                            self.send(&run_id, Relayed::Report(report));
                        }
                    }
                    Err(e) => warn!(error = %e, "cannot read the run reports; retrying"),
                }
            }
            if last_check.elapsed() >= LIVENESS_POLL {
                last_check = tokio::time::Instant::now();
                self.check().await;
            }
            tokio::select! {
                () = tokio::time::sleep(REPORT_POLL) => {}
                () = stop.cancelled() => break,
            }
        }
        self.routes().clear();
    }

    async fn check(&self) {
        match queue::lost_claims(&self.pool, self.term, self.ttl).await {
            Ok(lost) => {
                for (run_id, node) in lost {
                    self.send(&run_id, Relayed::Lost { node });
                }
            }
            Err(e) => warn!(error = %e, "cannot check the claimants' heartbeats; retrying"),
        }
        match queue::capacity(&self.pool, self.ttl).await {
            Ok(n) => self.capacity.store(n, Ordering::Relaxed),
            Err(e) => warn!(error = %e, "cannot count the cluster's slots; retrying"),
        }
    }
}
