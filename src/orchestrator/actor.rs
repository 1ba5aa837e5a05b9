//! The actor loop and its handle.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::engine::Engine;
use super::gates::{GateDecision, GateError, GateOutcome};
use super::live::LiveEvent;
use super::tick::TickError;
use super::view::StatusView;
use crate::store::{EventKind, NewEvent, StoreError, VerifyReport};

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// One tick, then wait for the runs it started, then stop.
    pub once: bool,
    /// Watch the workflow and prompt files and reload them on change.
    pub watch: bool,
    /// Cancelled to stop the daemon gracefully.
    pub shutdown: CancellationToken,
}

/// Messages to the actor.
pub(crate) enum Control {
    Refresh,
    /// A webhook said these tickets changed (empty: it could not say which).
    Nudge(Vec<String>),
    Pause(bool),
    Gate {
        identifier: String,
        decision: GateDecision,
        actor: String,
        reply: oneshot::Sender<Result<GateOutcome, GateError>>,
    },
}

/// The answer to a refresh request.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RefreshAck {
    pub queued: bool,
    /// A refresh was already queued; this one joined it.
    pub coalesced: bool,
    pub requested_at: DateTime<Utc>,
    pub operations: Vec<&'static str>,
}

/// A cloneable way to talk to the orchestrator.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Control>,
    view: watch::Receiver<Arc<StatusView>>,
    live: broadcast::Sender<LiveEvent>,
    refresh_pending: Arc<AtomicBool>,
}

impl Handle {
    /// The latest read model.
    pub fn status(&self) -> Arc<StatusView> {
        self.view.borrow().clone()
    }

    /// A receiver that sees every new read model.
    pub fn watch_status(&self) -> watch::Receiver<Arc<StatusView>> {
        self.view.clone()
    }

    /// The live feed of recorded events and agent activity.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.live.subscribe()
    }

    /// Queue an immediate poll and reconcile. Repeats while one is queued coalesce.
    pub async fn refresh(&self) -> RefreshAck {
        let coalesced = self.refresh_pending.swap(true, Ordering::SeqCst);
        let queued = coalesced || self.tx.send(Control::Refresh).await.is_ok();
        RefreshAck {
            queued,
            coalesced,
            requested_at: Utc::now(),
            operations: vec!["poll", "reconcile"],
        }
    }

    /// A webhook delivery says `identifiers` changed in the tracker (empty: some
    /// ticket did, it could not say which): reconcile now instead of at the next poll.
    pub async fn nudge(&self, identifiers: Vec<String>) -> bool {
        self.tx.send(Control::Nudge(identifiers)).await.is_ok()
    }

    /// Pause (`true`) or resume (`false`) dispatch; running agents go on.
    pub async fn pause(&self, paused: bool) -> bool {
        self.tx.send(Control::Pause(paused)).await.is_ok()
    }

    /// Approve or send back a ticket waiting at a gate, on behalf of `actor`.
    pub async fn gate(
        &self,
        identifier: &str,
        decision: GateDecision,
        actor: &str,
    ) -> Result<GateOutcome, GateError> {
        let (reply, rx) = oneshot::channel();
        let msg = Control::Gate {
            identifier: identifier.to_string(),
            decision,
            actor: actor.to_string(),
            reply,
        };
        self.tx
            .send(msg)
            .await
            .map_err(|_| GateError::Unavailable)?;
        rx.await.map_err(|_| GateError::Unavailable)?
    }
}

/// Start the orchestrator task.
pub fn spawn(engine: Engine, opts: Options) -> (Handle, JoinHandle<Result<(), StoreError>>) {
    let (tx, rx) = mpsc::channel(64);
    let handle = Handle {
        tx,
        view: engine.view_tx.subscribe(),
        live: engine.live_tx.clone(),
        refresh_pending: engine.refresh_pending.clone(),
    };
    let task = tokio::spawn(run(engine, opts, rx));
    (handle, task)
}

async fn tick_or_fail(engine: &mut Engine) -> Result<(), StoreError> {
    engine.refresh_pending.store(false, Ordering::SeqCst);
    let started = Instant::now();
    let result = match engine.tick().await {
        Ok(()) => Ok(()),
        Err(TickError::Store(e)) => Err(e),
        Err(TickError::Tracker(e)) => {
            error!(error = %e, "tick failed");
            Ok(())
        }
    };
    engine
        .metrics
        .tick_seconds
        .observe(started.elapsed().as_secs_f64());
    result?;
    engine.note_recorded_columns().await?;
    engine.publish().await
}

async fn run(
    mut engine: Engine,
    opts: Options,
    mut rx: mpsc::Receiver<Control>,
) -> Result<(), StoreError> {
    let mut done_rx = engine.take_done_rx();
    let wf = engine.workflow.clone();
    engine
        .record(vec![
            NewEvent::global(EventKind::DaemonStarted {
                version: env!("CARGO_PKG_VERSION").to_string(),
                pid: std::process::id(),
            }),
            NewEvent::global(EventKind::ConfigApplied {
                path: wf.path.display().to_string(),
                digest: wf.digest.clone(),
            }),
        ])
        .await?;
    engine.recover().await?;
    engine.restore_runner_pauses().await?;
    engine.note_recorded_columns().await?;
    let result = if opts.once {
        once(&mut engine, &mut done_rx, &opts).await
    } else {
        daemon(&mut engine, &mut done_rx, &mut rx, &opts).await
    };
    let reason = match &result {
        Ok(()) => "stopped".to_string(),
        Err(e) => format!("store failure: {e}"),
    };
    shutdown(&mut engine).await?;
    engine
        .record(vec![NewEvent::global(EventKind::DaemonStopped { reason })])
        .await?;
    let _ = engine.publish().await;
    // Closing checkpoints the WAL into the database file, so readers afterwards see a
    // quiescent store.
    engine.store.close().await;
    result
}

async fn once(
    engine: &mut Engine,
    done_rx: &mut mpsc::Receiver<String>,
    opts: &Options,
) -> Result<(), StoreError> {
    let mut activity_rx = engine.take_activity_rx();
    tick_or_fail(engine).await?;
    engine.sweep_or_fail().await?;
    engine.draining = true;
    while engine.live_runs() > 0 {
        tokio::select! {
            Some(run_id) = done_rx.recv() => engine.on_run_done(&run_id).await?,
            Some(a) = activity_rx.recv() => engine.on_activity(a),
            () = opts.shutdown.cancelled() => break,
        }
    }
    Ok(())
}

/// How often the daemon re-verifies the chain in the background.
const VERIFY_EVERY: Duration = Duration::from_secs(3600);

async fn daemon(
    engine: &mut Engine,
    done_rx: &mut mpsc::Receiver<String>,
    rx: &mut mpsc::Receiver<Control>,
    opts: &Options,
) -> Result<(), StoreError> {
    let mut activity_rx = engine.take_activity_rx();
    let mut period = engine.workflow.poll_period();
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep_every = sweep_interval(period, engine.tracker.sweep_every());
    let mut verify_every = tokio::time::interval(VERIFY_EVERY);
    let (verified_tx, mut verified_rx) = mpsc::channel::<(DateTime<Utc>, VerifyReport)>(1);
    let mut config_watch = super::reload::ConfigWatch::new(&engine.workflow, opts.watch);
    loop {
        tokio::select! {
            _ = interval.tick() => tick_or_fail(engine).await?,
            _ = sweep_every.tick() => engine.sweep_or_fail().await?,
            Some(run_id) = done_rx.recv() => {
                engine.on_run_done(&run_id).await?;
                if engine.backlog {
                    // A slot is free and tickets wait for one: poll now. Brought
                    // forward rather than run here, so completions arriving together
                    // share one poll.
                    interval.reset_immediately();
                }
                engine.publish().await?;
            }
            Some(a) = activity_rx.recv() => engine.on_activity(a),
            () = pause_ends(engine.next_pause_end()) => {
                // A runner's usage limit reset: take its waiting tickets now.
                if engine.resume_due_runners().await? {
                    interval.reset_immediately();
                }
                engine.publish().await?;
            }
            Some(msg) = rx.recv() => match msg {
                Control::Refresh => tick_or_fail(engine).await?,
                // For now a nudge brings the next poll forward (nudges arriving
                // together share it); the identifiers are for a targeted reconcile.
                Control::Nudge(_identifiers) => interval.reset_immediately(),
                Control::Pause(p) => {
                    info!(paused = p, "dispatch pause changed");
                    engine.paused = p;
                    engine.publish().await?;
                }
                Control::Gate { identifier, decision, actor, reply } => {
                    let result = engine.gate_action(&identifier, decision, &actor).await;
                    if let Err(GateError::Store(e)) = &result {
                        let fatal = e.to_string();
                        let _ = reply.send(result);
                        return Err(StoreError::Corrupt(fatal));
                    }
                    let _ = reply.send(result);
                }
            },
            _ = verify_every.tick() => {
                // Verification reads the whole chain: do it beside the actor.
                let store = engine.store.clone();
                let tx = verified_tx.clone();
                tokio::spawn(async move {
                    match store.verify().await {
                        Ok(report) => { let _ = tx.send((Utc::now(), report)).await; }
                        Err(e) => warn!(error = %e, "background verification failed to run"),
                    }
                });
            }
            Some((at, report)) = verified_rx.recv() => {
                if report.is_ok() {
                    info!(events = report.events, "chain verified");
                } else {
                    let first = report
                        .breaks
                        .first()
                        .map_or_else(String::new, |b| format!("seq {}: {}", b.seq, b.problem));
                    error!(breaks = report.breaks.len(), first = %first, "the event chain is broken: run `karajan verify`");
                }
                engine.verified = Some((at, report.is_ok()));
                engine.publish().await?;
            }
            Some(()) = config_watch.changed() => {
                // Debounced by the watcher: one edit, one signal.
                let applied = engine.reload(&mut config_watch).await?;
                if applied {
                    if engine.workflow.poll_period() != period {
                        period = engine.workflow.poll_period();
                        interval = tokio::time::interval(period);
                        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    }
                    sweep_every = sweep_interval(period, engine.tracker.sweep_every());
                }
                engine.publish().await?;
            }
            () = opts.shutdown.cancelled() => break,
        }
    }
    drop(config_watch);
    Ok(())
}

/// Sleeps until a usage-limit pause ends (a little after, so that the wall clock has
/// passed it too); never when no runner is paused.
async fn pause_ends(until: Option<DateTime<Utc>>) {
    let Some(until) = until else {
        return std::future::pending().await;
    };
    let left = (until - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(20)).await;
}

/// The terminal sweep's cadence: the tracker's own setting (Linear's
/// `tracker.terminal_sweep`), else every `SWEEP_EVERY_TICKS` polls; first one period
/// after start (the first tick has just read everything).
fn sweep_interval(period: Duration, tracker_says: Option<Duration>) -> tokio::time::Interval {
    let every = tracker_says
        .filter(|d| !d.is_zero())
        .unwrap_or(period * super::sweep::SWEEP_EVERY_TICKS);
    let mut i = tokio::time::interval_at(tokio::time::Instant::now() + period, every);
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}

/// Stop every live run (SIGTERM → grace → SIGKILL), all at once, and record each; the
/// next start dispatches them again.
async fn shutdown(engine: &mut Engine) -> Result<(), StoreError> {
    engine.draining = true;
    let live: Vec<(String, String)> = engine
        .live
        .iter()
        .map(|(id, l)| (id.clone(), l.run_id.clone()))
        .collect();
    // Signal every run first, so all agents get SIGTERM at once and their grace periods
    // overlap; then collect and record them one by one (each is already stopping).
    for l in engine.live.values() {
        l.cancel.cancel();
    }
    for (id, run_id) in live {
        engine.stop_run(&id, &run_id, "daemon shutdown").await?;
    }
    Ok(())
}

/// Where the workflow and its prompts live, for the watcher.
pub(crate) fn watched_paths(wf: &crate::config::Workflow) -> Vec<PathBuf> {
    let mut paths = vec![wf.path.clone()];
    if let Some(g) = &wf.prompts.global {
        paths.push(g.path.clone());
    }
    for name in wf.states.keys() {
        if let Some(a) = wf.agent_state(name) {
            paths.push(a.prompt.path.clone());
        }
    }
    paths.sort();
    paths.dedup();
    paths
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::sweep_interval;

    #[tokio::test]
    async fn the_sweep_follows_the_tracker_else_every_few_polls() {
        let poll = Duration::from_secs(30);
        let linear = sweep_interval(poll, Some(Duration::from_secs(600)));
        assert_eq!(linear.period(), Duration::from_secs(600));
        let default = sweep_interval(poll, None);
        assert_eq!(
            default.period(),
            poll * super::super::sweep::SWEEP_EVERY_TICKS
        );
        let zero = sweep_interval(poll, Some(Duration::ZERO));
        assert_eq!(
            zero.period(),
            default.period(),
            "a zero setting never spins"
        );
    }
}
