//! The actor loop and its handle.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How long shutdown waits for pending notifications (the stop's own included).
const NOTIFY_GRACE: Duration = Duration::from_secs(15);

use super::engine::Engine;
use super::gates::{GateDecision, GateError, GateOutcome};
use super::inbox::TaskMsg;
use super::live::LiveEvent;
use super::verifying::{Verification, Verifier};
use super::view::StatusView;
use crate::store::{EventKind, NewEvent, StoreError};

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
    /// A webhook delivered this ticket's change with the ticket's data (the tracker's
    /// payload of it).
    Delivered {
        identifier: String,
        data: serde_json::Value,
    },
    /// A webhook said a project's item changed: the issue's node id, and the project's.
    NudgeItem {
        issue: String,
        project: Option<String>,
    },
    /// A webhook said these pull requests (by number or head commit) changed.
    PrNudge {
        numbers: Vec<u64>,
        shas: Vec<String>,
    },
    Pause(bool),
    Gate {
        identifier: String,
        decision: GateDecision,
        actor: String,
        reply: oneshot::Sender<Result<GateOutcome, GateError>>,
    },
    /// Verify the chain now (beside the actor) and answer with the result.
    Verify {
        reply: oneshot::Sender<super::verifying::Outcome>,
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
    live: super::live::LiveFeed,
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
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
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

    /// A webhook delivery carries the ticket `identifier` after its change (`data`,
    /// the tracker's own payload): act on it as on a read where it can stand for one,
    /// else read the ticket now.
    pub async fn deliver(&self, identifier: String, data: serde_json::Value) -> bool {
        self.tx
            .send(Control::Delivered { identifier, data })
            .await
            .is_ok()
    }

    /// A webhook delivery says the item of the issue with node id `issue` on the
    /// project `project` changed (a GitHub project names nothing else): read that
    /// ticket now if karajan knows it, else poll now; an item of another project than
    /// the tracker's board is nothing to karajan.
    pub async fn nudge_item(&self, issue: String, project: Option<String>) -> bool {
        self.tx
            .send(Control::NudgeItem { issue, project })
            .await
            .is_ok()
    }

    /// Read the waiting tickets' pull requests these numbers or head commits name now.
    pub async fn nudge_pull_requests(&self, numbers: Vec<u64>, shas: Vec<String>) -> bool {
        self.tx
            .send(Control::PrNudge { numbers, shas })
            .await
            .is_ok()
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

    /// Verify the chain now, beside the actor, and wait for the result (a verification
    /// already running is joined). The result is also published in the read model.
    pub async fn verify_now(&self) -> Result<Verification, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Control::Verify { reply })
            .await
            .map_err(|_| "karajan is shutting down".to_string())?;
        rx.await
            .map_err(|_| "karajan is not verifying (shutting down, or a single pass)".to_string())?
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

/// A poll: the owed writes go to their chains and the read to its task; the answer
/// comes back as a message.
async fn tick(engine: &mut Engine) -> Result<(), StoreError> {
    engine.tick().await
}

/// Handle a task's report, and every report already waiting behind it: the outcomes of
/// chains are recorded together, in one transaction per batch.
async fn on_tasks(
    engine: &mut Engine,
    first: TaskMsg,
    rx: &mut mpsc::UnboundedReceiver<TaskMsg>,
) -> Result<(), StoreError> {
    let mut msgs = vec![first];
    while msgs.len() < 512 {
        match rx.try_recv() {
            Ok(m) => msgs.push(m),
            Err(_) => break,
        }
    }
    let mut effects = vec![];
    for msg in msgs {
        let msg = match msg {
            TaskMsg::Effect {
                identifier,
                events,
                moved_to,
            } => {
                effects.push((identifier, events, moved_to));
                continue;
            }
            other => other,
        };
        if !effects.is_empty() {
            engine.on_effects(std::mem::take(&mut effects)).await?;
        }
        match msg {
            TaskMsg::Effect { .. } => {}
            TaskMsg::ChainEnded {
                identifier,
                blocked,
            } => {
                if engine.on_chain_ended(&identifier, blocked) {
                    engine.advance(&identifier).await?;
                }
            }
            TaskMsg::Observed { seq, result } => engine.on_observed(seq, result).await?,
            TaskMsg::Swept { result } => engine.on_swept(result).await?,
            TaskMsg::Refreshed { identifier, result } => {
                engine.on_refreshed(&identifier, result).await?;
            }
            TaskMsg::Feedback {
                snapshot,
                state,
                entered_at,
                result,
            } => {
                engine
                    .on_feedback(snapshot, state, entered_at, result)
                    .await?;
            }
            TaskMsg::PrStatus {
                identifier,
                state,
                entered_at,
                result,
            } => {
                engine
                    .on_pr_status(identifier, state, entered_at, result)
                    .await?;
            }
            TaskMsg::GateSnapshot {
                identifier,
                decision,
                actor,
                snapshot,
                reply,
            } => match snapshot {
                Some(snap) => {
                    engine
                        .answer_gate(&identifier, decision, &actor, snap, reply)
                        .await?;
                }
                None => {
                    let _ = reply.send(Err(GateError::NotFound(identifier)));
                }
            },
        }
    }
    if !effects.is_empty() {
        engine.on_effects(effects).await?;
    }
    Ok(())
}

async fn run(
    mut engine: Engine,
    opts: Options,
    mut rx: mpsc::Receiver<Control>,
) -> Result<(), StoreError> {
    let mut done_rx = engine.take_done_rx();
    let mut tasks_rx = engine.take_tasks_rx();
    let wf = engine.workflow.clone();
    engine.start_notifier();
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
    engine.polls_continue = !opts.once;
    let result = if opts.once {
        once(&mut engine, &mut done_rx, &mut tasks_rx, &opts).await
    } else {
        daemon(&mut engine, &mut done_rx, &mut tasks_rx, &mut rx, &opts).await
    };
    let reason = match &result {
        Ok(()) => "stopped".to_string(),
        Err(e) => format!("store failure: {e}"),
    };
    let stopped = match shutdown(&mut engine, &mut tasks_rx).await {
        Ok(()) => engine
            .record(vec![NewEvent::global(EventKind::DaemonStopped { reason })])
            .await
            .map(drop),
        Err(e) => Err(e),
    };
    if let Err(e) = stopped {
        // Every run is stopped (see `shutdown`); what could not be recorded (a cluster
        // node whose lease is gone may write nothing more) is found by the next
        // holder's or start's recovery.
        engine.store.close().await;
        return Err(result.err().unwrap_or(e));
    }
    // The stop (and anything still queued) is announced before the store closes.
    if let Some(n) = engine.notifier.take() {
        n.finish(NOTIFY_GRACE).await;
    }
    let _ = engine.publish().await;
    // Closing checkpoints the WAL into the database file, so readers afterwards see a
    // quiescent store.
    engine.store.close().await;
    result
}

/// One poll, then everything it set going (runs, chains, the terminal sweep), then stop.
async fn once(
    engine: &mut Engine,
    done_rx: &mut mpsc::Receiver<String>,
    tasks_rx: &mut mpsc::UnboundedReceiver<TaskMsg>,
    opts: &Options,
) -> Result<(), StoreError> {
    let mut activity_rx = engine.take_activity_rx();
    tick(engine).await?;
    let mut swept = false;
    loop {
        if engine.observing.is_none()
            && engine.reading.is_empty()
            && engine.watching.is_empty()
            && !engine.deferred_behind_chains()
            && !swept
        {
            // The poll (and the rework feedback and pull requests it read) has
            // dispatched what it could, including the tickets it deferred because
            // their chain was out (a write owed from before, drained by this tick;
            // decided when it ends): no new runs from now on.
            swept = true;
            engine.draining = true;
            engine.start_sweep();
        }
        if swept && engine.quiet() && engine.live_runs() == 0 {
            break;
        }
        tokio::select! {
            Some(run_id) = done_rx.recv() => engine.on_run_done(&run_id).await?,
            Some(msg) = tasks_rx.recv() => on_tasks(engine, msg, tasks_rx).await?,
            Some(a) = activity_rx.recv() => engine.on_activity(a),
            () = opts.shutdown.cancelled() => break,
        }
    }
    engine.publish().await
}

/// How often the daemon re-verifies the chain in the background.
const VERIFY_EVERY: Duration = Duration::from_secs(3600);

async fn daemon(
    engine: &mut Engine,
    done_rx: &mut mpsc::Receiver<String>,
    tasks_rx: &mut mpsc::UnboundedReceiver<TaskMsg>,
    rx: &mut mpsc::Receiver<Control>,
    opts: &Options,
) -> Result<(), StoreError> {
    let mut activity_rx = engine.take_activity_rx();
    let mut period = engine.workflow.poll_period();
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep_every = sweep_interval(period, engine.tracker.sweep_every());
    let mut verify_every = tokio::time::interval(VERIFY_EVERY);
    let (mut verifier, mut verified_rx) = Verifier::new();
    let mut config_watch = super::reload::ConfigWatch::new(&engine.workflow, opts.watch);
    // Task reports come in bursts: the read model is rebuilt once per burst.
    let mut publish_at: Option<tokio::time::Instant> = None;
    // Started: what start-up alone ran need not stay mapped (see `resident`).
    crate::resident::release_startup_pages();
    // Freed heap pages go back to the kernel after work (see `heap_trim`).
    let mut heap = super::heap_trim::HeapTrim::new();
    loop {
        tokio::select! {
            _ = interval.tick() => tick(engine).await?,
            _ = sweep_every.tick() => engine.start_sweep(),
            () = heap.due() => heap.run(),
            Some(msg) = tasks_rx.recv() => {
                on_tasks(engine, msg, tasks_rx).await?;
                heap.after_work();
                publish_at.get_or_insert_with(|| {
                    tokio::time::Instant::now() + PUBLISH_EVERY
                });
            }
            () = publish_due(publish_at) => {
                publish_at = None;
                engine.publish().await?;
            }
            Some(run_id) = done_rx.recv() => {
                engine.on_run_done(&run_id).await?;
                heap.after_work();
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
                Control::Refresh => tick(engine).await?,
                // A webhook named tickets: read and decide just those now. One that
                // names none (a project item) brings the whole poll forward.
                Control::Nudge(identifiers) if identifiers.is_empty() => {
                    interval.reset_immediately();
                }
                Control::Nudge(identifiers) => engine.nudge(identifiers),
                Control::NudgeItem { issue, project } => {
                    if engine.nudge_item(&issue, project.as_deref()) {
                        interval.reset_immediately();
                    }
                }
                Control::Delivered { identifier, data } => {
                    engine.on_delivery(identifier, &data).await?;
                }
                Control::PrNudge { numbers, shas } => {
                    engine.nudge_pull_requests(&numbers, &shas).await?;
                }
                Control::Pause(p) => {
                    info!(paused = p, "dispatch pause changed");
                    engine.paused = p;
                    engine.publish().await?;
                }
                Control::Gate { identifier, decision, actor, reply } => {
                    engine.gate(&identifier, decision, &actor, reply).await?;
                }
                Control::Verify { reply } => verifier.start(&engine.store, Some(reply)),
            },
            // Verification reads the whole chain: it runs beside the actor.
            _ = verify_every.tick() => verifier.start(&engine.store, None),
            Some(outcome) = verified_rx.recv() => {
                // Published before anyone hears of it: a reader asking right after sees it.
                if let Ok(v) = &outcome {
                    engine.on_verified(v.clone());
                    engine.publish().await?;
                }
                verifier.finished(&outcome);
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

/// How long a burst of task reports may go before the read model shows it.
const PUBLISH_EVERY: Duration = Duration::from_millis(50);

async fn publish_due(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
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

/// How long shutdown waits for chains in flight to report (their intents are recorded:
/// what does not finish is retried, read back first, at the next start).
const CHAINS_GRACE: Duration = Duration::from_secs(10);

/// Stop every live run (SIGTERM → grace → SIGKILL), all at once, and record each; the
/// next start dispatches them again. Then let the chains in flight finish.
async fn shutdown(
    engine: &mut Engine,
    tasks_rx: &mut mpsc::UnboundedReceiver<TaskMsg>,
) -> Result<(), StoreError> {
    engine.draining = true;
    // Signal every run first, so all agents get SIGTERM at once and their grace periods
    // overlap; then collect and record them one by one (each is already stopping).
    for l in engine.live.values() {
        l.cancel.cancel();
    }
    let ids: Vec<String> = engine.live.keys().cloned().collect();
    // A failed record does not leave the other runs unwaited: every agent is stopped
    // before this returns, recorded or not.
    let mut failed = None;
    for id in ids {
        let Some(live) = engine.live.remove(&id) else {
            continue;
        };
        info!(ticket = %id, run = %live.run_id, "stopping run: daemon shutdown");
        let done = match live.task.await {
            Ok(done) => done,
            Err(e) => super::engine::RunDone::without_agent(
                &id,
                &live.run_id,
                super::run_task::failed_outcome(format!("run task failed: {e}")),
            ),
        };
        if let Err(e) = engine.finish_run(done).await {
            warn!(ticket = %id, error = %e, "could not record the stopped run");
            failed.get_or_insert(e);
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let deadline = tokio::time::Instant::now() + CHAINS_GRACE;
    while !engine.chains.is_empty() {
        let msg = tokio::select! {
            Some(msg) = tasks_rx.recv() => msg,
            () = tokio::time::sleep_until(deadline) => break,
        };
        match msg {
            TaskMsg::Effect {
                identifier,
                events,
                moved_to,
            } => {
                engine
                    .on_effects(vec![(identifier, events, moved_to)])
                    .await?
            }
            TaskMsg::ChainEnded {
                identifier,
                blocked,
            } => {
                engine.on_chain_ended(&identifier, blocked);
            }
            // Polls and reads answering now are not acted on: the daemon is stopping.
            _ => {}
        }
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
