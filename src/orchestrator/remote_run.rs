//! A run's task on a cluster's lease holder: the run is queued for any node to claim
//! (`cluster::queue`), and what its claimant reports is recorded here, as a local run
//! task records it (events through the shared [`Recorder`], activity to the live row,
//! the end as the same [`RunDone`]). The holder stays the chain's only writer.
//!
//! A stop asks the claimant to stop the agent (or takes the run off the queue when no
//! node claimed it yet); a claimant that stops beating has had its agents killed by
//! their guards, and the run ends `interrupted`, to be retried on another node.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::engine::RunDone;
use super::live::Activity;
use super::recorder::Recorder;
use super::run_task::{failed_outcome, interrupted_outcome};
use crate::agent::RunOutcome;
use crate::cluster::plan::{Report, RunPlan};
use crate::cluster::queue;
use crate::cluster::relay::{Relayed, RemoteRuns};
use crate::domain::RunStatus;
use crate::store::{EventKind, NewEvent};

/// `unstarted`: the `run_started` to record when the run ends without its node having
/// reported one (never claimed, or its node failed or died before), so every finished
/// run was started in the record, as a local run's task ensures.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn remote_run(
    remote: RemoteRuns,
    plan: RunPlan,
    unstarted: NewEvent,
    recorder: Recorder,
    cancel: CancellationToken,
    done_tx: mpsc::Sender<String>,
    activity_tx: mpsc::Sender<Activity>,
) -> RunDone {
    let mut run = Relaying {
        id: plan.snapshot.identifier.clone(),
        run_id: plan.run_id.clone(),
        remote: &remote,
        recorder: &recorder,
        activity_tx: &activity_tx,
        started: false,
    };
    let mut rx = remote.route(&run.run_id);
    let done = match queue::enqueue(&remote.pool, remote.term, &remote.digest, &plan).await {
        Ok(()) => run.until_done(&mut rx, &cancel).await,
        Err(e) => run.end(failed_outcome(format!("cannot queue the run: {e}"))),
    };
    let (id, run_id) = (&run.id, &run.run_id);
    remote.unroute(run_id);
    if !run.started
        && let Err(e) = recorder.record(vec![unstarted]).await
    {
        warn!(ticket = %id, run = %run_id, error = %e, "cannot record the run's start");
    }
    if let Err(e) = queue::remove(&remote.pool, run_id).await {
        warn!(ticket = %id, run = %run_id, error = %e, "cannot remove the run's queue row; the next term removes it");
    }
    let _ = done_tx.send(run_id.clone()).await;
    done
}

/// One queued run, relayed from its node into the record.
struct Relaying<'a> {
    id: String,
    run_id: String,
    remote: &'a RemoteRuns,
    recorder: &'a Recorder,
    activity_tx: &'a mpsc::Sender<Activity>,
    /// Its node reported `run_started`.
    started: bool,
}

impl Relaying<'_> {
    /// The run ends with an outcome of the holder's own (no agent result to show).
    fn end(&self, outcome: RunOutcome) -> RunDone {
        RunDone::without_agent(&self.id, &self.run_id, outcome)
    }

    async fn until_done(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Relayed>,
        cancel: &CancellationToken,
    ) -> RunDone {
        let queued = std::time::Instant::now();
        let mut asked_to_stop = false;
        loop {
            let msg = tokio::select! {
                m = rx.recv() => m,
                () = cancel.cancelled(), if !asked_to_stop => {
                    asked_to_stop = true;
                    if self.stop().await {
                        return self.end(RunOutcome {
                            status: RunStatus::Cancelled {
                                reason: "stopped before a node claimed it".into(),
                            },
                            ..failed_outcome(String::new())
                        });
                    }
                    continue;
                }
            };
            let (id, run_id) = (&self.id, &self.run_id);
            match msg {
                Some(Relayed::Report(Report::Events(events))) => self.record(events).await,
                Some(Relayed::Report(Report::Activity(list))) => {
                    for event in list {
                        let _ = self.activity_tx.try_send(Activity {
                            identifier: id.clone(),
                            run_id: run_id.clone(),
                            event,
                        });
                    }
                }
                Some(Relayed::Report(Report::Done(done))) => {
                    info!(ticket = %id, run = %run_id, node = %done.node, "the run's node reported its end");
                    return done.into_done(id, run_id);
                }
                Some(Relayed::Lost { node }) => {
                    warn!(ticket = %id, run = %run_id, %node, "the node running the agent stopped answering (its agents are stopped by their guards): the run is retried");
                    return self.end(interrupted_outcome(queued.elapsed()));
                }
                // The term ended: nothing more can be recorded.
                None => return self.end(failed_outcome("the lease holder's term ended".into())),
            }
        }
    }

    /// Ask for the run to stop; `true` when no node had claimed it (it is off the queue).
    async fn stop(&self) -> bool {
        match queue::cancel(&self.remote.pool, &self.run_id, "stopped by karajan").await {
            Ok(gone) => gone,
            Err(e) => {
                warn!(ticket = %self.id, run = %self.run_id, error = %e, "cannot ask the run's node to stop it; its term's end will");
                false
            }
        }
    }

    async fn record(&mut self, events: Vec<crate::cluster::plan::WireEvent>) {
        let events: Vec<NewEvent> = events.into_iter().map(Into::into).collect();
        self.started |= events
            .iter()
            .any(|e| matches!(e.kind, EventKind::RunStarted { .. }));
        if let Err(e) = self.recorder.record(events).await {
            warn!(ticket = %self.id, run = %self.run_id, error = %e, "cannot record what the run's node reported");
        }
    }
}

impl super::engine::Engine {
    /// On a cluster, every node removes its copy of the ticket's workspace (see
    /// `cluster::claimant`); the holder's own goes through the ticket's chain.
    pub(crate) fn announce_removal(&self, id: &str) {
        let Some(remote) = &self.remote else {
            return;
        };
        let (pool, id) = (remote.pool.clone(), id.to_string());
        tokio::spawn(async move {
            if let Err(e) = queue::announce_removal(&pool, &id).await {
                warn!(ticket = %id, error = %e, "cannot tell the other nodes to remove the ticket's workspace");
            }
        });
    }
}
