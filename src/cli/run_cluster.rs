//! `karajan run` as a node of a cluster (`store.cluster: true`; see `cluster`): register
//! the node, wait in standby for the tracker lease, serve a term while holding it
//! (exactly what a single daemon does, under the lease's fencing token), and go back
//! to standby when the lease is lost.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::Exit;
use super::run::{NodeTerm, RunArgs, Served, prepare, serve, spawn_signal_handler};
use crate::cluster::claimant;
use crate::cluster::fenced_tracker::FencedTracker;
use crate::cluster::lease::{self, TRACKER};
use crate::cluster::nodes::{self, Node};
use crate::cluster::relay::RemoteRuns;
use crate::cluster::term::{self, StandbyEnd, Term};
use crate::config::{ClusterConfig, PgUrl, Workflow};
use crate::orchestrator::ClaimCtx;
use crate::orchestrator::Handle;
use crate::store::{Fence, Location, StoreError};

pub async fn run(wf: Workflow, url: &PgUrl, cluster: ClusterConfig, args: RunArgs) -> Exit {
    let ttl = cluster.lease_ttl;
    let pool = match crate::store::postgres::open_write(url).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("karajan: cannot open the store: {e}");
            return Exit::Failure;
        }
    };
    let node = Node::this(args.node.as_deref(), wf.agent.max_concurrent);
    if let Err(e) = nodes::register(&pool, &node, ttl).await {
        eprintln!("karajan: {e}");
        return Exit::Failure;
    }
    // A killed node's agents must not run on while another node retries their tickets.
    crate::agent::guard::die_with_daemon(term::guard_window(ttl));
    let tracker = match prepare(&wf).await {
        Ok(t) => t,
        Err(code) => return code,
    };
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    // Every node runs agents, standby or holder (see `cluster::claimant`).
    let running = Arc::new(AtomicUsize::new(0));
    let wf = Arc::new(wf);
    let claims = tokio::spawn(claimant::serve(
        ClaimCtx::new(
            pool.clone(),
            &node.name,
            &node.instance,
            wf.clone(),
            tracker.clone(),
        ),
        wf.agent.max_concurrent,
        ttl,
        running.clone(),
        shutdown.clone(),
    ));
    let count = {
        let running = running.clone();
        move || running.load(Ordering::Relaxed)
    };
    info!(
        node = %node.name,
        lease_ttl = ?ttl,
        failover_bound = ?term::failover_bound(ttl),
        "cluster node started"
    );
    let location = Location::Postgres(Box::new(url.clone()));
    let exit = loop {
        let term = match term::standby(&pool, &node, ttl, &count, &shutdown).await {
            StandbyEnd::Leader(t) => t,
            StandbyEnd::Shutdown => break Exit::Ok,
            StandbyEnd::NameTaken => {
                eprintln!("karajan: another process took the node name {}", node.name);
                break Exit::Failure;
            }
        };
        // Never beside a single daemon on this store (see `cluster::exclusion`).
        match crate::cluster::exclusion::single_daemon(url).await {
            Ok(None) => {}
            Ok(Some(holder)) => {
                warn!(node = %node.name, %holder, "a single daemon (not a cluster node) is writing this store; letting the lease go until it stops");
                let _ = lease::release(&pool, TRACKER, &node.name, term.token).await;
                tokio::select! {
                    () = tokio::time::sleep(ttl) => continue,
                    () = shutdown.cancelled() => break Exit::Ok,
                }
            }
            Err(e) => {
                warn!(node = %node.name, error = %e, "cannot check for a single daemon on the store; letting the lease go");
                let _ = lease::release(&pool, TRACKER, &node.name, term.token).await;
                tokio::time::sleep(term::heartbeat_every(ttl)).await;
                continue;
            }
        }
        term.tell_guards();
        // Every node looks at the queue now: the previous term's runs are to stop.
        if let Err(e) = crate::cluster::wake::notify(&pool).await {
            warn!(node = %node.name, error = %e, "cannot wake the other nodes; they notice the new term within a second");
        }
        let keeper_done = CancellationToken::new();
        let keeper = tokio::spawn(term::keep(
            pool.clone(),
            node.clone(),
            ttl,
            term.clone(),
            count.clone(),
            keeper_done.clone(),
        ));
        // The previous term's runs are stopped by their nodes (or died with them) first:
        // a ticket never has two live agents (see `cluster::queue`).
        if !old_runs_gone(&pool, &node, &term, ttl, &shutdown).await {
            keeper_done.cancel();
            let _ = keeper.await;
            let _ = lease::release(&pool, TRACKER, &node.name, term.token).await;
            if shutdown.is_cancelled() {
                break Exit::Ok;
            }
            continue;
        }
        let handle: Arc<OnceLock<Handle>> = Arc::default();
        let fence = Fence {
            lease: TRACKER.into(),
            holder: node.name.clone(),
            token: term.token,
        };
        // The term's engine stops on the daemon's stop or the lease's loss.
        let stop = shutdown.child_token();
        let on_loss = {
            let (lost, stop) = (term.lost.clone(), stop.clone());
            tokio::spawn(async move {
                lost.cancelled().await;
                stop.cancel();
            })
        };
        // The term's runs go to the queue; its relay ends with the term (a lost lease
        // ends it at once: nothing more can be recorded).
        let remote = RemoteRuns::new(
            pool.clone(),
            term.token,
            &wf.digest,
            ttl,
            wf.agent.max_concurrent,
        );
        let relay_stop = term.lost.child_token();
        let relay = tokio::spawn(remote.clone().serve(relay_stop.clone()));
        let fenced = FencedTracker::wrap(tracker.clone(), term.clone());
        let node_term = NodeTerm {
            fence,
            handle_to: &handle,
            remote,
        };
        let served = serve(&wf, &location, &args, fenced, stop, Some(node_term)).await;
        relay_stop.cancel();
        let _ = relay.await;
        keeper_done.cancel();
        let _ = keeper.await;
        on_loss.abort();
        let lost =
            term.lost.is_cancelled() || matches!(served, Served::Failed(StoreError::Fenced { .. }));
        if lost && !shutdown.is_cancelled() && !args.once {
            if let Served::Failed(e) = &served {
                warn!(node = %node.name, error = %e, "the store rejected this node's write");
            }
            info!(node = %node.name, token = term.token, "term ended: its agents are stopped; back to standby");
            continue;
        }
        if let Err(e) = lease::release(&pool, TRACKER, &node.name, term.token).await {
            warn!(node = %node.name, error = %e, "could not release the lease; it expires by itself");
        }
        match served {
            Served::Exit(code) => break code,
            Served::Failed(e) => {
                error!(error = %e, "karajan stopped on a store failure");
                break Exit::Failure;
            }
        }
    };
    // The node's own runs are stopped and reported before it says it stopped.
    shutdown.cancel();
    let _ = claims.await;
    if let Err(e) = nodes::stopped(&pool, &node).await {
        warn!(node = %node.name, error = %e, "could not mark the node stopped");
    }
    pool.close().await;
    exit
}

/// Wait until no run of an earlier term is left (their nodes stop them when they see the
/// new token, or died and their guards killed them: `queue::old_term_rows`). `false`:
/// the term or the daemon ended first.
async fn old_runs_gone(
    pool: &sqlx::PgPool,
    node: &Node,
    term: &Term,
    ttl: Duration,
    shutdown: &CancellationToken,
) -> bool {
    let mut said = false;
    loop {
        match crate::cluster::queue::old_term_rows(pool, term.token, ttl).await {
            Ok(0) => return true,
            Ok(n) if !said => {
                said = true;
                info!(node = %node.name, runs = n, "waiting for the previous term's runs to stop on their nodes");
            }
            Ok(_) => {}
            Err(e) => warn!(node = %node.name, error = %e, "cannot read the run queue; retrying"),
        }
        if !term.valid() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            () = shutdown.cancelled() => return false,
        }
    }
}
