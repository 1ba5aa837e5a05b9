//! `karajan run`: the daemon, one tick (`--once`), or a plan (`--dry-run`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::Exit;
use crate::orchestrator::{Engine, Options};
use crate::store::Location;
use crate::store::Store;
use crate::store::reset::{OpenError, Opened, open_checked_at};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The workflow file or its folder (see -w/--workflow for the default).
    #[arg(value_name = "WORKFLOW")]
    pub workflow: Option<PathBuf>,
    /// Run one tick, wait for the runs it started, then exit.
    #[arg(long)]
    pub once: bool,
    /// Print what would happen per candidate ticket; write nothing anywhere.
    #[arg(long, conflicts_with = "once")]
    pub dry_run: bool,
    /// Do not watch the workflow and prompts for changes.
    #[arg(long)]
    pub no_watch: bool,
    /// Serve the dashboard and JSON API on this port (0 = any free port); overrides
    /// `server.port`.
    #[arg(long)]
    pub port: Option<u16>,
    /// Start even though the store is missing or behind its checkpoint file (deleted,
    /// restored from an older backup, cut back): the store is accepted as it is and the
    /// old checkpoint file is kept as `<checkpoints>.reset-<time>`.
    #[arg(long, conflicts_with = "dry_run")]
    pub accept_store_reset: bool,
    /// This node's name in a cluster (`store.cluster: true`); default: the host name and
    /// the process id.
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
}

pub async fn run(workflow: &Path, args: RunArgs) -> Exit {
    let wf = match super::load_or_report(workflow) {
        Ok(wf) => wf,
        Err(code) => return code,
    };
    if args.dry_run {
        return super::dry_run::run(&wf).await;
    }
    let location = Location::from(&wf.store);
    if let (Some(cluster), Location::Postgres(url)) = (wf.store.cluster.clone(), &location) {
        return super::run_cluster::run(wf, url, cluster, args).await;
    }
    if args.node.is_some() {
        eprintln!(
            "karajan: --node names a cluster node: set `store.cluster: true` (on a postgres:// store.url)"
        );
        return Exit::Config;
    }
    // One writer per store: refused at once when the store's folder exists, else
    // decided once the folder is created; always before the store is opened. A
    // Postgres store is locked on the server (an advisory lock), at once.
    let (early_lock, advisory) = match &location {
        Location::Sqlite(db) => match crate::store::lock::acquire_existing(db) {
            Ok(lock) => (lock, None),
            Err(e) => {
                eprintln!("karajan: {e}");
                return Exit::Failure;
            }
        },
        Location::Postgres(url) => match crate::store::pg_lock::acquire(url).await {
            Ok(lock) => {
                // A cluster's store is not a single daemon's (see `cluster::exclusion`).
                if let Ok(Some(node)) = crate::cluster::exclusion::cluster_holder(url).await {
                    eprintln!(
                        "karajan: this store belongs to a cluster (node {node} holds its tracker \
                         lease): set `store.cluster: true` to run this daemon as a node of it"
                    );
                    lock.release().await;
                    return Exit::Failure;
                }
                (None, Some(lock))
            }
            Err(e) => {
                eprintln!("karajan: {e}");
                return Exit::Failure;
            }
        },
    };
    let tracker = match prepare(&wf).await {
        Ok(t) => t,
        Err(code) => return code,
    };
    let _lock = match (&advisory, early_lock) {
        (Some(_), _) => None,
        (None, Some(lock)) => Some(lock),
        (None, None) => match crate::store::lock::acquire(&wf.store.path) {
            Ok(lock) => Some(lock),
            Err(e) => {
                eprintln!("karajan: {e}");
                return Exit::Failure;
            }
        },
    };
    let _advisory = advisory;
    let shutdown = CancellationToken::new();
    let wf = Arc::new(wf);
    match serve(&wf, &location, &args, tracker, shutdown, None).await {
        Served::Exit(code) => code,
        Served::Failed(e) => {
            error!(error = %e, "karajan stopped on a store failure");
            Exit::Failure
        }
    }
}

/// What every daemon does before it opens the store: adopt its agents' orphans, build
/// the tracker and check its columns, create the store's folders.
pub(crate) async fn prepare(
    wf: &crate::config::Workflow,
) -> Result<Arc<dyn crate::tracker::Tracker>, Exit> {
    crate::agent::reap::become_subreaper();
    crate::agent::reap::spawn_orphan_reaper();
    super::stall::start();
    let tracker = match crate::tracker::from_config(wf) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("karajan: {e}");
            return Err(Exit::Tracker);
        }
    };
    // A column the tracker does not have (a renamed board option, a missing label)
    // would silently starve dispatch: refuse to start. An unreachable tracker is only
    // logged; the ticks retry it.
    let mut columns = wf.machine.columns.watched();
    columns.extend(wf.machine.columns.terminal_all());
    match tracker.check(&columns).await {
        Ok(check) if !check.errors.is_empty() => {
            for e in &check.errors {
                eprintln!("karajan: tracker: {e}");
            }
            return Err(Exit::Tracker);
        }
        Ok(_) => {}
        Err(e) if e.is_retryable() => {
            tracing::warn!(error = %e, "tracker check failed at start; the ticks will retry")
        }
        Err(e) => {
            eprintln!("karajan: tracker check failed: {e}");
            return Err(Exit::Tracker);
        }
    }
    for dir in [
        wf.store.path.parent(),
        wf.store.checkpoints.parent(),
        Some(wf.store.logs.as_path()),
    ]
    .into_iter()
    .flatten()
    {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("karajan: cannot create {}: {e}", dir.display());
            return Err(Exit::Failure);
        }
    }
    Ok(tracker)
}

/// How serving the store ended.
pub(crate) enum Served {
    /// With this exit code (the orchestrator ended, or something failed before it ran).
    Exit(Exit),
    /// The orchestrator stopped on a store failure (a cluster node's rejected append
    /// among them: `StoreError::Fenced`).
    Failed(crate::store::StoreError),
}

/// What a cluster node's term adds to serving: the store's fence, where the term's
/// handle goes (for the node's heartbeat), and the run queue the term's runs go to.
pub(crate) struct NodeTerm<'a> {
    pub fence: crate::store::Fence,
    pub handle_to: &'a std::sync::OnceLock<crate::orchestrator::Handle>,
    pub remote: crate::cluster::relay::RemoteRuns,
}

/// Open the store (appending under the term's fence, for a cluster node), then run the
/// orchestrator and the dashboard on it until `shutdown` or a failure. A daemon does
/// this once; a cluster node once per term as the tracker lease's holder.
pub(crate) async fn serve(
    wf: &Arc<crate::config::Workflow>,
    location: &Location,
    args: &RunArgs,
    tracker: Arc<dyn crate::tracker::Tracker>,
    shutdown: CancellationToken,
    term: Option<NodeTerm<'_>>,
) -> Served {
    let (fence, handle_to, remote) = match term {
        Some(t) => (Some(t.fence), Some(t.handle_to), Some(t.remote)),
        None => (None, None, None),
    };
    let checkpoints = &wf.store.checkpoints;
    let store = match open_checked_at(location, checkpoints, args.accept_store_reset).await {
        Ok((s, Opened::Consistent)) => s,
        Ok((s, Opened::Accepted { refusal, kept })) => {
            warn!(%refusal, kept = %kept.display(), "store reset accepted (--accept-store-reset)");
            s
        }
        Err(OpenError::Refused(refusal)) => {
            eprintln!("karajan: {refusal}");
            return Served::Exit(Exit::Failure);
        }
        Err(OpenError::Store(e)) => {
            eprintln!("karajan: cannot open the store {location}: {e}");
            return Served::Exit(Exit::Failure);
        }
    };
    let store = match &fence {
        Some(f) => store.fenced(f.clone()),
        None => store,
    };
    // Signed from the first write on (the key is created on the first start).
    if let Err(code) = super::key::arm(&store, &wf.store.signing_key).await {
        store.close().await;
        return Served::Exit(code);
    }
    // The dashboard binds before anything runs, so a refused bind starts nothing.
    let web = match super::dashboard::bind(wf, args.port).await {
        Ok(b) => b,
        Err(code) => return Served::Exit(code),
    };
    // A cluster node listens for signals for its whole life, across terms.
    if fence.is_none() {
        spawn_signal_handler(shutdown.clone());
    }
    info!(workflow = %wf.path.display(), digest = %wf.digest, once = args.once, "karajan starting");
    // `--once` reports what this invocation did: the events after the current head.
    let start_seq = match store.head().await {
        Ok((seq, _)) => seq,
        Err(e) => {
            eprintln!("karajan: cannot read the store: {e}");
            return Served::Exit(Exit::Failure);
        }
    };
    let web_store = store.clone();
    // The database file removed or replaced under us stops the daemon (exit 1).
    let store_lost = crate::store::file_id::watch(store.clone(), shutdown.clone());
    let engine = Engine::new(wf.clone(), tracker, store).running_on(remote);
    let opts = Options {
        once: args.once,
        watch: !args.once && !args.no_watch,
        shutdown: shutdown.clone(),
    };
    let (handle, task) = crate::orchestrator::spawn(engine, opts);
    if let Some(cell) = handle_to {
        let _ = cell.set(handle.clone());
    }
    let web = web.map(|b| super::dashboard::serve(b, wf, handle, web_store, shutdown.clone()));
    let result = task.await;
    shutdown.cancel();
    if let Some(w) = web {
        w.finish().await;
    }
    if let Some(e) = store_lost.get() {
        eprintln!("karajan: {e}");
        return Served::Exit(Exit::Failure);
    }
    match result {
        Ok(Ok(())) if args.once => Served::Exit(once_summary(wf, start_seq).await),
        Ok(Ok(())) => Served::Exit(Exit::Ok),
        Ok(Err(e)) => Served::Failed(e),
        Err(e) => {
            error!(error = %e, "karajan's orchestrator task failed");
            Served::Exit(Exit::Failure)
        }
    }
}

/// Print what `--once` did; `Exit::RunFailed` when a run failed or a ticket escalated.
async fn once_summary(wf: &crate::config::Workflow, start_seq: i64) -> Exit {
    let summary = match Store::open_read_only_at(&Location::from(&wf.store)).await {
        Ok(Some(store)) => crate::orchestrator::summary::Summary::since(&store, start_seq).await,
        Ok(None) => Ok(Default::default()),
        Err(e) => Err(e),
    };
    match summary {
        Ok(s) => {
            print!("{s}");
            if s.is_clean() {
                Exit::Ok
            } else {
                Exit::RunFailed
            }
        }
        Err(e) => {
            eprintln!("karajan: cannot summarize the run: {e}");
            Exit::Failure
        }
    }
}

/// SIGINT and SIGTERM stop the daemon gracefully (runs are stopped and recorded).
pub(crate) fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        info!("signal received; shutting down");
        shutdown.cancel();
    });
}
