//! The actor loop and its handle.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::engine::Engine;
use super::tick::TickError;
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
    Refresh(oneshot::Sender<()>),
    Pause(bool),
}

/// A cloneable way to talk to the orchestrator.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Control>,
}

impl Handle {
    /// Ask for an immediate tick; resolves when it has run.
    pub async fn refresh(&self) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Control::Refresh(tx)).await.is_err() {
            return false;
        }
        rx.await.is_ok()
    }

    pub async fn pause(&self, paused: bool) -> bool {
        self.tx.send(Control::Pause(paused)).await.is_ok()
    }
}

/// Start the orchestrator task.
pub fn spawn(engine: Engine, opts: Options) -> (Handle, JoinHandle<Result<(), StoreError>>) {
    let (tx, rx) = mpsc::channel(64);
    let task = tokio::spawn(run(engine, opts, rx));
    (Handle { tx }, task)
}

async fn tick_or_fail(engine: &mut Engine) -> Result<(), StoreError> {
    match engine.tick().await {
        Ok(()) => Ok(()),
        Err(TickError::Store(e)) => Err(e),
        Err(TickError::Tracker(e)) => {
            error!(error = %e, "tick failed");
            Ok(())
        }
    }
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
    tick_or_fail(engine).await?;
    engine.draining = true;
    while engine.live_runs() > 0 {
        tokio::select! {
            Some(run_id) = done_rx.recv() => engine.on_run_done(&run_id).await?,
            () = opts.shutdown.cancelled() => break,
        }
    }
    Ok(())
}

async fn daemon(
    engine: &mut Engine,
    done_rx: &mut mpsc::Receiver<String>,
    rx: &mut mpsc::Receiver<Control>,
    opts: &Options,
) -> Result<(), StoreError> {
    let mut period = engine.workflow.polling.interval;
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (reload_tx, mut reload_rx) = mpsc::channel::<()>(8);
    let mut watcher = if opts.watch {
        super::reload::watch(&engine.workflow, reload_tx)
    } else {
        None
    };
    loop {
        tokio::select! {
            _ = interval.tick() => tick_or_fail(engine).await?,
            Some(run_id) = done_rx.recv() => engine.on_run_done(&run_id).await?,
            Some(msg) = rx.recv() => match msg {
                Control::Refresh(reply) => {
                    tick_or_fail(engine).await?;
                    let _ = reply.send(());
                }
                Control::Pause(p) => {
                    info!(paused = p, "dispatch pause changed");
                    engine.paused = p;
                }
            },
            Some(()) = reload_rx.recv() => {
                // Editors write in bursts: let the burst settle, then read once.
                tokio::time::sleep(Duration::from_millis(150)).await;
                while reload_rx.try_recv().is_ok() {}
                if engine.reload().await? && opts.watch {
                    // The prompt files may have changed: watch the new set.
                    let (tx, rx) = mpsc::channel::<()>(8);
                    watcher = super::reload::watch(&engine.workflow, tx);
                    reload_rx = rx;
                }
                if engine.workflow.polling.interval != period {
                    period = engine.workflow.polling.interval;
                    interval = tokio::time::interval(period);
                    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                }
            }
            () = opts.shutdown.cancelled() => break,
        }
    }
    drop(watcher);
    Ok(())
}

/// Stop every live run (SIGTERM → grace → SIGKILL) and record it; the next start
/// dispatches them again.
async fn shutdown(engine: &mut Engine) -> Result<(), StoreError> {
    engine.draining = true;
    let live: Vec<(String, String)> = engine
        .live
        .iter()
        .map(|(id, l)| (id.clone(), l.run_id.clone()))
        .collect();
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
