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
    let id = plan.snapshot.identifier.clone();
    let run_id = plan.run_id.clone();
    let mut rx = remote.route(&run_id);
    let mut started = false;
    let done = match queue::enqueue(&remote.pool, remote.term, &remote.digest, &plan).await {
        Ok(()) => {
            let ends = Ends {
                id: &id,
                run_id: &run_id,
            };
            relay(
                &remote,
                &mut rx,
                &recorder,
                &cancel,
                &activity_tx,
                ends,
                &mut started,
            )
            .await
        }
        Err(e) => Ends {
            id: &id,
            run_id: &run_id,
        }
        .with(failed_outcome(format!("cannot queue the run: {e}"))),
    };
    remote.unroute(&run_id);
    if !started && let Err(e) = recorder.record(vec![unstarted]).await {
        warn!(ticket = %id, run = %run_id, error = %e, "cannot record the run's start");
    }
    if let Err(e) = queue::remove(&remote.pool, &run_id).await {
        warn!(ticket = %id, run = %run_id, error = %e, "cannot remove the run's queue row; the next term removes it");
    }
    let _ = done_tx.send(run_id.clone()).await;
    done
}

/// The run's ticket and id, to end it with an outcome of the holder's own.
#[derive(Clone, Copy)]
struct Ends<'a> {
    id: &'a str,
    run_id: &'a str,
}

impl Ends<'_> {
    fn with(self, outcome: RunOutcome) -> RunDone {
        RunDone::without_agent(self.id, self.run_id, outcome)
    }
}

async fn relay(
    remote: &RemoteRuns,
    rx: &mut mpsc::UnboundedReceiver<Relayed>,
    recorder: &Recorder,
    cancel: &CancellationToken,
    activity_tx: &mpsc::Sender<Activity>,
    ends: Ends<'_>,
    started: &mut bool,
) -> RunDone {
    let (id, run_id) = (ends.id, ends.run_id);
    let end = |outcome| ends.with(outcome);
    let queued = std::time::Instant::now();
    let mut asked_to_stop = false;
    loop {
        let msg = tokio::select! {
            m = rx.recv() => m,
            () = cancel.cancelled(), if !asked_to_stop => {
                asked_to_stop = true;
                match queue::cancel(&remote.pool, run_id, "stopped by karajan").await {
                    Ok(true) => {
                        return end(RunOutcome {
                            status: RunStatus::Cancelled {
                                reason: "stopped before a node claimed it".into(),
                            },
                            ..failed_outcome(String::new())
                        });
                    }
                    Ok(false) => {}
                    Err(e) => warn!(ticket = %id, run = %run_id, error = %e, "cannot ask the run's node to stop it; its term's end will"),
                }
                continue;
            }
        };
        match msg {
            Some(Relayed::Report(Report::Events(events))) => {
                let events: Vec<NewEvent> = events.into_iter().map(Into::into).collect();
                *started |= events
                    .iter()
                    .any(|e| matches!(e.kind, EventKind::RunStarted { .. }));
                if let Err(e) = recorder.record(events).await {
                    warn!(ticket = %id, run = %run_id, error = %e, "cannot record what the run's node reported");
                }
            }
            Some(Relayed::Report(Report::Activity(list))) => {
                for event in list {
                    let _ = activity_tx.try_send(Activity {
                        identifier: id.to_string(),
                        run_id: run_id.to_string(),
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
                return end(interrupted_outcome(queued.elapsed()));
            }
            // The term ended: nothing more can be recorded.
            None => return end(failed_outcome("the lease holder's term ended".into())),
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
