//! A run this node claimed from the cluster's queue (`cluster::claimant`), run with the
//! same task body as a local run (`run_task`): the workspace, hooks and prompt on this
//! host, the agent supervised here (its guard fed by this node's heartbeats). What the
//! task would record goes to the lease holder instead (a relaying [`Recorder`]), and so
//! does the agent's live activity and the run's end.
//!
//! With a forge, this node pushes the ticket's branch itself when the run committed:
//! the holder's host does not have the commits. The holder then records the push as
//! already done (or failed, with git's reason) with the run's end.
//!
//! A run that resumes an agent session held by another node (the queue let this node
//! take it after waiting for that node) starts a fresh session instead and says so, as
//! a resume the CLI no longer knows does.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::live::Activity;
use super::prepare::Prep;
use super::recorder::{Recorder, Relay};
use super::run_task::{failed_outcome, run_task};
use crate::agent::RunEvent;
use crate::cluster::plan::{RemoteDone, Report};
use crate::cluster::queue::{self, Claimed};
use crate::config::Workflow;
use crate::domain::RunStatus;
use crate::redact::Redactor;
use crate::store::{NewEvent, StoreError};
use crate::tracker::Tracker;
use crate::workspace::Workspaces;

/// How often a claimed run's live activity is sent to the holder.
const ACTIVITY_EVERY: Duration = Duration::from_millis(500);

/// What this node runs claimed runs with: its own workflow, tracker (for reads),
/// workspaces, forge and secrets.
#[derive(Clone)]
pub struct ClaimCtx {
    pub pool: PgPool,
    pub node: String,
    pub instance: String,
    pub workflow: Arc<Workflow>,
    tracker: Arc<dyn Tracker>,
    workspaces: Workspaces,
    forge: Option<crate::forge::Forge>,
    redactor: Arc<Redactor>,
}

impl ClaimCtx {
    pub fn new(
        pool: PgPool,
        node: &str,
        instance: &str,
        workflow: Arc<Workflow>,
        tracker: Arc<dyn Tracker>,
    ) -> Self {
        ClaimCtx {
            workspaces: super::engine::workspaces_of(&workflow),
            forge: workflow
                .forge
                .as_ref()
                .map(|f| crate::forge::Forge::sharing(f, tracker.github_http())),
            redactor: Arc::new(Redactor::new(crate::redact::secrets_of(&workflow))),
            pool,
            node: node.to_string(),
            instance: instance.to_string(),
            workflow,
            tracker,
        }
    }
}

impl ClaimCtx {
    /// The same node with another (reloaded) workflow.
    pub fn with_workflow(&self, workflow: Arc<Workflow>) -> Self {
        ClaimCtx::new(
            self.pool.clone(),
            &self.node,
            &self.instance,
            workflow,
            self.tracker.clone(),
        )
    }
}

impl ClaimCtx {
    /// The ticket ended (the holder announced its workspaces' removal): remove this
    /// node's copy, with the `before_remove` hook, as the holder does its own, unless
    /// its branch holds commits that are not pushed (kept, and said so).
    pub async fn remove_workspace(&self, id: &str) {
        let path = self.workspaces.path_for(id);
        if !path.is_dir() {
            return;
        }
        if let Some(forge) = &self.forge {
            let why = match forge.unpushed(&path).await {
                Ok(None) => None,
                Ok(Some(u)) => Some(format!(
                    "its branch {} has commits that are not on {}",
                    u.branch,
                    forge.remote()
                )),
                Err(e) => Some(format!(
                    "whether its branch is pushed could not be checked: {e}"
                )),
            };
            if let Some(why) = why {
                let why = self.redactor.raw(&why).into_owned();
                warn!(node = %self.node, ticket = %id, path = %path.display(), %why, "workspace kept: nothing an agent committed is deleted unpushed");
                return;
            }
        }
        if let Some(script) = &self.workflow.hooks.set.before_remove {
            let spec = super::hooks::hook_spec(&self.workflow, id, "", "before_remove", script);
            let _ = spec.run(id).await;
        }
        match self.workspaces.remove(id).await {
            Ok(true) => {
                info!(node = %self.node, ticket = %id, "removed this node's workspace of an ended ticket")
            }
            Ok(false) => {}
            Err(e) => {
                warn!(node = %self.node, ticket = %id, error = %e, "cannot remove the workspace")
            }
        }
    }
}

/// Reports a claimed run's events to the holder.
struct ToHolder {
    pool: PgPool,
    run_id: String,
    instance: String,
}

#[async_trait::async_trait]
impl Relay for ToHolder {
    async fn relay(&self, events: Vec<NewEvent>) -> Result<(), StoreError> {
        let report = Report::Events(events.into_iter().map(Into::into).collect());
        match queue::report(&self.pool, &self.run_id, &self.instance, &report).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(StoreError::Connect(
                "the lease holder gave this run up".into(),
            )),
            Err(e) => Err(StoreError::Db(e)),
        }
    }
}

/// Run `claimed` here until it ends or `cancel` stops it, reporting everything to the
/// holder.
pub async fn run_claimed(ctx: ClaimCtx, claimed: Claimed, cancel: CancellationToken) {
    let mut plan = claimed.plan;
    let (id, run_id) = (plan.snapshot.identifier.clone(), plan.run_id.clone());
    // A session held by another node cannot be resumed here.
    let mut fell_back = None;
    if let (Some(session), Some(holder)) = (&plan.resume_session, &claimed.session_node)
        && holder != &ctx.node
    {
        warn!(ticket = %id, run = %run_id, %session, node = %holder, "the session this run resumes is held by another node: starting a fresh session here");
        fell_back = plan.resume_session.take();
        plan.resume_usage = None;
    }
    let relay: Arc<dyn Relay> = Arc::new(ToHolder {
        pool: ctx.pool.clone(),
        run_id: run_id.clone(),
        instance: ctx.instance.clone(),
    });
    let recorder = Recorder::relaying(relay, ctx.redactor.clone());
    let (activity_tx, activity_rx) = mpsc::channel(1024);
    let activity = tokio::spawn(send_activity(
        ctx.pool.clone(),
        run_id.clone(),
        ctx.instance.clone(),
        activity_rx,
    ));
    let prep = Prep::from_plan(
        plan,
        ctx.workflow.clone(),
        ctx.tracker.clone(),
        ctx.workspaces.clone(),
    );
    let mut done = match prep {
        Ok(prep) => {
            // The task reports its end on this channel too; nobody here needs it.
            let (done_tx, _done_rx) = mpsc::channel(1);
            run_task(prep, recorder, cancel, done_tx, activity_tx).await
        }
        Err(reason) => {
            drop(activity_tx);
            super::engine::RunDone::without_agent(&id, &run_id, failed_outcome(reason))
        }
    };
    let _ = activity.await;
    if let Some(evidence) = &mut done.evidence {
        evidence.node = Some(ctx.node.clone());
    }
    if fell_back.is_some() && done.outcome.resume_fallback.is_none() {
        done.outcome.resume_fallback = fell_back;
    }
    done.heads.pushed = push(&ctx, &done).await;
    if let Some(session) = &done.outcome.session_id
        && let Err(e) = queue::remember_session(&ctx.pool, session, &ctx.node).await
    {
        warn!(ticket = %id, run = %run_id, error = %e, "cannot record which node holds the run's session");
    }
    let report = Report::Done(Box::new(RemoteDone::new(&ctx.node, done)));
    // The holder waits for this report while this node beats: a failed attempt is tried
    // again (a node that cannot reach the database stops beating, and the holder then
    // gives the run up by itself).
    for attempt in 1.. {
        match queue::report(&ctx.pool, &run_id, &ctx.instance, &report).await {
            Ok(true) => {
                info!(ticket = %id, run = %run_id, "run ended; reported to the lease holder");
                return;
            }
            Ok(false) => {
                info!(ticket = %id, run = %run_id, "run ended; the lease holder had given it up");
                return;
            }
            Err(e) if attempt < DONE_ATTEMPTS => {
                warn!(ticket = %id, run = %run_id, error = %e, attempt, "cannot report the run's end yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                warn!(ticket = %id, run = %run_id, error = %e, "cannot report the run's end; the lease holder retries the run once this node is silent");
                return;
            }
        }
    }
}

/// How many times a run's end is reported before the node gives up (a second apart).
const DONE_ATTEMPTS: u32 = 60;

/// With a forge, push what a successful run committed (see the module doc).
async fn push(ctx: &ClaimCtx, done: &super::engine::RunDone) -> Option<Result<(), String>> {
    let forge = ctx.forge.as_ref()?;
    let remote = &ctx.workflow.forge.as_ref()?.remote;
    let (branch, commit) = (done.heads.branch.as_ref()?, done.heads.after.as_ref()?);
    if !matches!(done.outcome.status, RunStatus::Succeeded)
        || done.heads.before.as_ref() == Some(commit)
    {
        return None;
    }
    let workspace = ctx.workspaces.path_for(&done.identifier);
    let pushed = forge.push(&workspace, remote, branch, commit).await;
    Some(pushed.map_err(|e| ctx.redactor.raw(&e.to_string()).into_owned()))
}

/// Send the agent's live activity to the holder in batches (its JSON lines are
/// recorded as events anyway, so they are left out).
async fn send_activity(
    pool: PgPool,
    run_id: String,
    instance: String,
    mut rx: mpsc::Receiver<Activity>,
) {
    let mut batch: Vec<RunEvent> = vec![];
    let mut open = true;
    while open {
        let deadline = tokio::time::sleep(ACTIVITY_EVERY);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                a = rx.recv() => match a {
                    Some(a) if !matches!(a.event, RunEvent::Json { .. }) => batch.push(a.event),
                    Some(_) => {}
                    None => { open = false; break; }
                },
                () = &mut deadline => break,
            }
        }
        if !batch.is_empty() {
            let report = Report::Activity(std::mem::take(&mut batch));
            let _ = queue::report(&pool, &run_id, &instance, &report).await;
        }
    }
}
