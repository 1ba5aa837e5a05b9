//! Every node runs agents: for its whole life, standby or lease holder, a node claims
//! queued runs up to its `agent.max_concurrent` (`queue::claim`) and runs them
//! (`orchestrator::run_claimed`), when the holder wakes it (`wake`) and at least every
//! [`CLAIM_POLL`].
//!
//! It also watches the rows of the runs it holds: a run the holder asked to stop, a run
//! the holder gave up (its row is gone), and every run of a term that ended (the lease
//! changed hands: the new holder retries what was interrupted, as after a restart) are
//! stopped, with the agent's normal grace. A stopped run of an ended term has its row
//! removed here, since no holder relays it; the new holder waits for those rows
//! (`queue::old_term_rows`) before it recovers.
//!
//! When a ticket ends, the holder announces its workspaces' removal; every node removes
//! its own copy (not while it runs the ticket, nor with unpushed commits).
//!
//! The workflow is read again every [`RELOAD_EVERY`]: a node claims only runs planned
//! with its own workflow's digest, so after an edit it follows the holder's reload.
//! A stop of the node stops its runs, lets each report its end, then returns.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::queue;
use crate::orchestrator::{ClaimCtx, run_claimed};

/// How often a node looks for runs to claim and checks the runs it holds without being
/// woken (the holder wakes every node when it queues or stops a run and when its term
/// starts: see `wake`).
pub const CLAIM_POLL: Duration = Duration::from_secs(1);

/// How often a node reads its workflow again (see the module doc).
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

struct Held {
    issue: String,
    cancel: CancellationToken,
    term: i64,
    /// Stopped because its term ended: remove its row once it has.
    stale: bool,
}

/// Claim and run until `shutdown`; `running` tells the node's heartbeat how many
/// agents it runs. `ttl`: the lease ttl (a session's node is waited for that long).
pub async fn serve(
    mut ctx: ClaimCtx,
    max: usize,
    ttl: Duration,
    running: Arc<AtomicUsize>,
    shutdown: CancellationToken,
) {
    let mut held: HashMap<String, Held> = HashMap::new();
    let mut tasks = Tasks::default();
    let mut reloaded = tokio::time::Instant::now();
    let mut said_stopping = false;
    let mut said_foreign: HashSet<String> = HashSet::new();
    let mut removed_since: Option<f64> = None;
    let mut wake = super::wake::Wake::listen(&ctx.pool).await;
    loop {
        while let Some(run_id) = tasks.try_next() {
            settle(&ctx, &mut held, &run_id).await;
        }
        running.store(held.len(), Ordering::Relaxed);
        if shutdown.is_cancelled() {
            if held.is_empty() || tasks.set.is_empty() {
                return;
            }
            if !said_stopping {
                said_stopping = true;
                info!(node = %ctx.node, runs = held.len(), "node stopping: stopping the agents it runs");
            }
            for h in held.values() {
                h.cancel.cancel();
            }
            if let Some(run_id) = tasks.next().await {
                settle(&ctx, &mut held, &run_id).await;
            }
            continue;
        }
        if reloaded.elapsed() >= RELOAD_EVERY {
            reloaded = tokio::time::Instant::now();
            reload(&mut ctx).await;
            sweep(&ctx, &held, &mut removed_since).await;
            if held.len() < max {
                say_foreign(&ctx, &mut said_foreign).await;
            }
        }
        match queue::watch(&ctx.pool, &ctx.instance).await {
            Ok(w) => {
                stop_what_ended(&ctx, &mut held, &w);
                // Rows of ended terms whose runs ended here: nobody relays them.
                for (run_id, term, _) in &w.rows {
                    if *term != w.token && !held.contains_key(run_id) {
                        let _ = queue::drop_claim(&ctx.pool, run_id, &ctx.instance).await;
                    }
                }
                let free = max.saturating_sub(held.len());
                if free > 0 {
                    claim(&ctx, free, ttl, &mut held, &mut tasks).await;
                }
            }
            Err(e) => warn!(node = %ctx.node, error = %e, "cannot read the run queue; retrying"),
        }
        running.store(held.len(), Ordering::Relaxed);
        tokio::select! {
            () = wake.wait(CLAIM_POLL) => {}
            () = shutdown.cancelled() => {}
            Some(run_id) = tasks.next(), if !tasks.set.is_empty() => {
                settle(&ctx, &mut held, &run_id).await;
            }
        }
    }
}

/// The claimed runs' tasks, each known by its run even if it panicked (its slot must
/// come back).
#[derive(Default)]
struct Tasks {
    set: JoinSet<()>,
    runs: HashMap<tokio::task::Id, String>,
}

impl Tasks {
    fn ended(
        &mut self,
        r: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
    ) -> Option<String> {
        let id = match r {
            Ok((id, ())) => id,
            Err(e) => {
                warn!(error = %e, "a claimed run's task failed");
                e.id()
            }
        };
        self.runs.remove(&id)
    }

    fn try_next(&mut self) -> Option<String> {
        let r = self.set.try_join_next_with_id()?;
        self.ended(r)
    }

    async fn next(&mut self) -> Option<String> {
        let r = self.set.join_next_with_id().await?;
        self.ended(r)
    }
}

/// Stop the runs the holder no longer wants run here (see the module doc).
fn stop_what_ended(ctx: &ClaimCtx, held: &mut HashMap<String, Held>, w: &queue::Watch) {
    let rows: HashMap<&str, (i64, Option<&str>)> = w
        .rows
        .iter()
        .map(|(r, t, c)| (r.as_str(), (*t, c.as_deref())))
        .collect();
    for (run_id, h) in held.iter_mut() {
        if h.cancel.is_cancelled() {
            continue;
        }
        let why = match rows.get(run_id.as_str()) {
            None => Some("the lease holder gave the run up".to_string()),
            Some((term, _)) if *term != w.token => {
                h.stale = true;
                Some(format!(
                    "the tracker lease changed hands (term {} → {})",
                    h.term, w.token
                ))
            }
            Some((_, Some(reason))) => Some(format!("the lease holder stopped it: {reason}")),
            Some(_) => None,
        };
        if let Some(why) = why {
            info!(node = %ctx.node, run = %run_id, %why, "stopping a claimed run");
            h.cancel.cancel();
        }
    }
}

async fn claim(
    ctx: &ClaimCtx,
    free: usize,
    ttl: Duration,
    held: &mut HashMap<String, Held>,
    tasks: &mut Tasks,
) {
    let claimed = queue::claim(
        &ctx.pool,
        &ctx.node,
        &ctx.instance,
        &ctx.workflow.digest,
        free,
        ttl,
        ttl,
    )
    .await;
    let claimed = match claimed {
        Ok(c) => c,
        Err(e) => {
            warn!(node = %ctx.node, error = %e, "cannot claim queued runs; retrying");
            return;
        }
    };
    for c in claimed {
        let run_id = c.plan.run_id.clone();
        info!(node = %ctx.node, ticket = %c.plan.snapshot.identifier, run = %run_id, state = %c.plan.state, "claimed a run");
        let cancel = CancellationToken::new();
        held.insert(
            run_id.clone(),
            Held {
                issue: c.plan.snapshot.identifier.clone(),
                cancel: cancel.clone(),
                term: c.term,
                stale: false,
            },
        );
        let ctx = ctx.clone();
        let id = tasks.set.spawn(run_claimed(ctx, c, cancel)).id();
        tasks.runs.insert(id, run_id);
    }
}

/// A run's task ended: forget it, and remove its row when no holder relays it.
async fn settle(ctx: &ClaimCtx, held: &mut HashMap<String, Held>, run_id: &str) {
    if let Some(h) = held.remove(run_id)
        && h.stale
        && let Err(e) = queue::drop_claim(&ctx.pool, run_id, &ctx.instance).await
    {
        warn!(node = %ctx.node, run = %run_id, error = %e, "cannot remove an ended term's run row; the next holder does once this node is silent");
    }
}

/// Remove this node's workspaces of tickets that ended (announced by the holder), but
/// not one a run here is using. Each removal (its `before_remove` hook may take up to
/// the hooks' timeout) is a task of its own: this loop must go on stopping and claiming.
async fn sweep(ctx: &ClaimCtx, held: &HashMap<String, Held>, since: &mut Option<f64>) {
    let Ok(removals) = queue::removals_since(&ctx.pool, *since).await else {
        return;
    };
    for (issue, at) in removals {
        *since = Some(at);
        if !held.values().any(|h| h.issue == issue) {
            let ctx = ctx.clone();
            tokio::spawn(async move { ctx.remove_workspace(&issue).await });
        }
    }
}

/// Warn (once per workflow digest) about queued runs this node leaves because they
/// were planned with another workflow text.
async fn say_foreign(ctx: &ClaimCtx, said: &mut HashSet<String>) {
    let Ok(foreign) = queue::foreign_digests(&ctx.pool, &ctx.workflow.digest, RELOAD_EVERY).await
    else {
        return;
    };
    for (digest, runs) in foreign {
        if said.insert(digest.clone()) {
            warn!(node = %ctx.node, runs, their_digest = %digest, our_digest = %ctx.workflow.digest, "queued runs were planned with another workflow.yaml (or prompts) than this node's: it leaves them to nodes with the same text; give every node the same workflow");
        }
    }
}

/// Read the workflow again (on the blocking pool: the daemon has one runtime thread); a
/// new digest (a valid edit) replaces what claimed runs use.
async fn reload(ctx: &mut ClaimCtx) {
    let path = ctx.workflow.path.clone();
    let loaded = tokio::task::spawn_blocking(move || crate::workflow_load::load(&path)).await;
    match loaded {
        Ok(Ok(wf)) if wf.digest != ctx.workflow.digest => {
            info!(node = %ctx.node, digest = %wf.digest, "workflow changed: claiming runs planned with it from now on");
            *ctx = ctx.with_workflow(Arc::new(wf));
        }
        // Unchanged; or a rejected edit, which the holder logs: this node keeps the last
        // good workflow.
        _ => {}
    }
}
