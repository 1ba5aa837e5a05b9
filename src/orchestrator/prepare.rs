//! Getting a run ready, in its own task: the workspace (a clone on first use) and its
//! hooks, the ticket's recent comments (from its snapshot when the read brought them,
//! else one tracker read), the prompt and the log directory. This is the slow,
//! I/O-bound part of starting a run, so the owner never awaits it: it decides the run,
//! hands everything resolved to the run's task ([`Prep`]) and goes on. The task records
//! what it does (workspace created, hooks) and then `run_started`, before the agent
//! exists, as the owner used to.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::info;

use super::effects::HookSpec;
use super::hooks::{hook_spec, stage_enter_spec};
use super::recorder::Recorder;
use crate::agent::{AgentRunner, RunRequest};
use crate::cluster::plan::RunPlan;
use crate::config::{AgentState, Workflow};
use crate::store::{EventKind, NewEvent};
use crate::tracker::Tracker;
use crate::workspace::{Workspaces, sanitize_key};

/// Everything a run's task needs to get the run ready, resolved by the owner.
pub(crate) struct Prep {
    /// What the owner decided (on a cluster, possibly on another node).
    pub plan: RunPlan,
    pub workflow: Arc<Workflow>,
    pub agent: AgentState,
    pub runner: Arc<dyn AgentRunner>,
    pub tracker: Arc<dyn Tracker>,
    pub workspaces: Workspaces,
    pub log_dir: PathBuf,
    pub after_create: Option<HookSpec>,
    pub stage_enter: Option<HookSpec>,
    pub before_run: Option<HookSpec>,
    /// Runs after the agent, recorded (in `run_task`); fatal to the run only with
    /// `after_run_must_pass`.
    pub after_run: Option<HookSpec>,
    pub after_run_must_pass: bool,
    /// A review state's run: where its agent writes its verdict (in the run's log
    /// folder, outside the repository), `KARAJAN_VERDICT_FILE`.
    pub verdict_file: Option<PathBuf>,
}

/// A run ready to start (see [`Prep::ready`]).
pub(crate) struct Ready {
    pub req: RunRequest,
    /// The prompt's digest.
    pub digest: String,
    /// The workspace's commit as `Workspaces::ensure` read it, when nothing ran in the
    /// workspace since (a hook may commit); `None`: read it again.
    pub head: Option<Option<String>>,
}

/// Why a run could not be got ready: the attempt fails (recorded as a failed run, so
/// backoff and escalation apply), or it was stopped first.
pub(crate) enum NotReady {
    Failed(String),
    Stopped,
}

impl Prep {
    /// A run's preparation from its plan, on this host: the runner, hooks, log folder
    /// and environment follow from `workflow` (on a cluster node, its own copy of the
    /// workflow the plan was made with), never from the host that planned it.
    pub(crate) fn from_plan(
        plan: RunPlan,
        workflow: Arc<Workflow>,
        tracker: Arc<dyn Tracker>,
        workspaces: Workspaces,
    ) -> Result<Prep, String> {
        let agent = workflow
            .agent_state(&plan.state)
            .cloned()
            .ok_or_else(|| format!("the workflow has no agent state `{}`", plan.state))?;
        let runner = crate::agent::runner_for(&agent.runner).map_err(|e| e.to_string())?;
        let id = plan.snapshot.identifier.clone();
        let log_dir = workflow
            .store
            .logs
            .join(sanitize_key(&id))
            .join(&plan.run_id);
        let review = matches!(
            workflow.machine.state(&plan.state),
            Some(crate::domain::StateSpec::Agent {
                review: Some(_),
                ..
            })
        );
        let hook = |name: &str, script: &Option<String>| {
            script
                .as_ref()
                .map(|s| hook_spec(&workflow, &id, &plan.state, name, s))
        };
        Ok(Prep {
            after_create: hook("after_create", &agent.hooks.after_create),
            stage_enter: stage_enter_spec(&workflow, &id, &plan.state),
            before_run: hook("before_run", &agent.hooks.before_run),
            after_run: hook("after_run", &agent.hooks.after_run),
            after_run_must_pass: agent.after_run_must_pass,
            verdict_file: review.then(|| log_dir.join(crate::domain::verdict::FILE_NAME)),
            log_dir,
            workflow: workflow.clone(),
            agent,
            runner,
            tracker,
            workspaces,
            plan,
        })
    }

    /// `run_started` for this run. `ready`: the request and prompt digest it starts with
    /// (none when the attempt ended before its agent could start).
    /// `head`: the workspace's commit before the agent runs.
    pub(crate) fn started_event(
        &self,
        ready: Option<(&RunRequest, &str)>,
        head: Option<String>,
    ) -> NewEvent {
        let (command, prompt_digest, prompt_bytes, workspace, log_dir, resume) = match ready {
            Some((req, digest)) => (
                self.runner.command_line(req),
                digest.to_string(),
                req.prompt.len() as u64,
                req.workspace.display().to_string(),
                req.log_dir.display().to_string(),
                req.resume_session.clone(),
            ),
            None => (vec![], String::new(), 0, String::new(), String::new(), None),
        };
        NewEvent::for_issue(
            &self.plan.snapshot.identifier,
            EventKind::RunStarted {
                run_id: self.plan.run_id.clone(),
                state: self.plan.state.clone(),
                run_number: self.plan.run_number,
                attempt: self.plan.attempt,
                runner: self.agent.runner.kind.as_str().to_string(),
                command,
                config_digest: self.workflow.digest.clone(),
                prompt_digest,
                prompt_bytes,
                workspace,
                log_dir,
                resume_session: resume,
                head,
            },
        )
    }

    /// Get the run ready: workspace and hooks, comments, prompt, log directory.
    ///
    /// The workspace's creation is left in `held` for the caller to record with the
    /// run's `run_started` (or its failure to start), one append where it took two,
    /// unless a hook runs first: a hook's event is recorded at once, after what is held.
    /// A crash before that append leaves the workspace on disk unrecorded, as a crash
    /// between the clone and its record always could; the next attempt takes it over.
    pub(crate) async fn ready(
        &self,
        recorder: &Recorder,
        cancel: &CancellationToken,
        held: &mut Vec<NewEvent>,
    ) -> Result<Ready, NotReady> {
        let id = self.plan.snapshot.identifier.as_str();
        let fail = |s: String| NotReady::Failed(s);
        let record = |held: &mut Vec<NewEvent>, event: NewEvent| {
            let mut events = std::mem::take(held);
            events.push(event);
            async move {
                recorder
                    .record(events)
                    .await
                    .map(|_| ())
                    .map_err(|e| NotReady::Failed(format!("store: {e}")))
            }
        };
        let ws = self
            .workspaces
            .ensure(id, &self.plan.branch)
            .await
            .map_err(|e| fail(format!("workspace: {e}")))?;
        // A hook may commit: the head `ensure` read stands only while none ran.
        let mut head = Some(ws.head.clone());
        if ws.created {
            held.push(NewEvent::for_issue(
                id,
                EventKind::WorkspaceCreated {
                    path: ws.path.display().to_string(),
                    branch: ws.branch.clone(),
                },
            ));
            if let Some(hook) = &self.after_create {
                head = None;
                let (ok, event) = hook.run(id).await;
                record(held, event).await?;
                if !ok {
                    let _ = self.workspaces.remove(id).await;
                    return Err(fail("after_create hook failed".into()));
                }
            }
        }
        // The state's entry hook runs here when the run's own decision entered the
        // state, or when the state was entered before its workspace existed (now made).
        if let Some(hook) = &self.stage_enter
            && (ws.created || self.plan.entered)
        {
            head = None;
            let event = hook.run(id).await.1;
            record(held, event).await?;
        }
        self.workspaces
            .check_contained(&ws.path)
            .map_err(|e| fail(format!("workspace: {e}")))?;
        if cancel.is_cancelled() {
            return Err(NotReady::Stopped);
        }
        if let Some(hook) = &self.before_run {
            head = None;
            let (ok, event) = hook.run(id).await;
            record(held, event).await?;
            if !ok {
                return Err(fail("before_run hook failed".into()));
            }
        }
        // The read the run started from brought the recent human comments (Linear, the
        // local folder): no request. Otherwise ask (GitHub, a stand-in snapshot).
        let comments = match &self.plan.snapshot.recent_comments {
            Some(recent) => recent.clone(),
            None => self
                .tracker
                .comments(&self.plan.snapshot.ticket_ref())
                .await
                .unwrap_or_default(),
        };
        let rendered =
            crate::prompt::render(&self.workflow, &self.plan.state, &self.plan.ctx, &comments)
                .map_err(|e| fail(format!("prompt: {e}")))?;
        std::fs::create_dir_all(&self.log_dir)
            .map_err(|e| fail(format!("log dir {}: {e}", self.log_dir.display())))?;
        let _ = std::fs::write(self.log_dir.join("prompt.md"), &rendered.text);
        if cancel.is_cancelled() {
            return Err(NotReady::Stopped);
        }
        info!(ticket = %id, state = %self.plan.state, run = %self.plan.run_id, attempt = self.plan.attempt, "run ready");
        Ok(Ready {
            req: self.request(&ws, rendered.text),
            digest: rendered.digest,
            head,
        })
    }

    fn request(&self, ws: &crate::workspace::Workspace, prompt: String) -> RunRequest {
        let id = &self.plan.snapshot.identifier;
        let mut meta = vec![
            ("KARAJAN_ISSUE".to_string(), id.clone()),
            ("KARAJAN_STATE".to_string(), self.plan.state.clone()),
            ("KARAJAN_RUN_ID".to_string(), self.plan.run_id.clone()),
            (
                "KARAJAN_RUN_NUMBER".to_string(),
                self.plan.run_number.to_string(),
            ),
            ("KARAJAN_ATTEMPT".to_string(), self.plan.attempt.to_string()),
            (
                "KARAJAN_TITLE".to_string(),
                self.plan.snapshot.title.clone(),
            ),
            (
                "KARAJAN_WORKSPACE".to_string(),
                ws.path.display().to_string(),
            ),
            ("KARAJAN_BRANCH".to_string(), ws.branch.clone()),
            (
                "KARAJAN_LOG_DIR".to_string(),
                self.log_dir.display().to_string(),
            ),
        ];
        if let Some(s) = &self.plan.resume_session {
            meta.push(("KARAJAN_SESSION_ID".to_string(), s.clone()));
        }
        if let Some(f) = &self.verdict_file {
            meta.push(("KARAJAN_VERDICT_FILE".to_string(), f.display().to_string()));
        }
        let limits = &self.workflow.agent;
        let runner = &self.agent.runner;
        RunRequest {
            run_id: self.plan.run_id.clone(),
            identifier: id.clone(),
            state: self.plan.state.clone(),
            run_number: self.plan.run_number,
            attempt: self.plan.attempt,
            prompt,
            workspace: ws.path.clone(),
            log_dir: self.log_dir.clone(),
            env: crate::agent::env::build_env(runner, &meta),
            resume_session: self.plan.resume_session.clone(),
            resume_usage: self.plan.resume_usage,
            stall_timeout: runner.stall_timeout.unwrap_or(limits.stall_timeout),
            turn_timeout: runner.turn_timeout.unwrap_or(limits.turn_timeout),
            grace: limits.kill_grace,
            max_turns: runner.max_turns.unwrap_or(limits.max_turns),
            max_cost_usd: self.plan.max_cost_usd,
        }
    }
}
