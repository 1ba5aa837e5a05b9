//! Starting a run: workspace, hooks, prompt, `run_started`, then the agent's task.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::budget::RunBudget;
use super::engine::{Engine, LiveRun, RunDone};
use super::execute::Wanted;
use super::ids::new_id;
use super::run_task::{AfterRun, failed_outcome, run_task};
use crate::agent::{AgentRunner, RunOutcome, RunRequest};
use crate::config::{AgentState, SessionMode};
use crate::domain::RunStatus;
use crate::prompt::PromptContext;
use crate::store::{EventKind, NewEvent, StoreError};
use crate::workspace::sanitize_key;

/// A run ready to start.
struct Prepared {
    runner: Arc<dyn AgentRunner>,
    req: RunRequest,
    prompt_digest: String,
}

/// Why a run could not be prepared: the attempt fails, the ticket's budget is spent
/// (never retried), or the store fails (fatal).
enum Abort {
    Attempt(String),
    Budget { limit: f64, spent: f64 },
    Store(StoreError),
}

impl From<StoreError> for Abort {
    fn from(e: StoreError) -> Self {
        Abort::Store(e)
    }
}

impl Engine {
    /// Prepare the workspace, render the prompt, record `run_started`, spawn the agent.
    pub(crate) async fn start_run(&mut self, w: Wanted) -> Result<(), StoreError> {
        let id = w.snapshot.identifier.clone();
        let wf = self.workflow.clone();
        let Some(agent) = wf.agent_state(&w.state).cloned() else {
            return Ok(());
        };
        let Some(rec) = self.store.record(&id).await? else {
            return Ok(());
        };
        let run_id = new_id("r");
        let run_number = rec.next_run_number(&w.state);
        let p = match self.prepare(&w, &agent, &run_id, run_number).await {
            Ok(p) => p,
            Err(Abort::Store(e)) => return Err(e),
            Err(Abort::Attempt(reason)) => {
                let status = RunStatus::Failed { reason };
                return self
                    .abort_attempt(&id, &w, &run_id, run_number, &agent, status)
                    .await;
            }
            Err(Abort::Budget { limit, spent }) => {
                warn!(ticket = %id, state = %w.state, limit, spent, "the ticket's budget is spent: no run; a human decides");
                self.budget_event(Some(&id), "ticket", limit, spent, "refused_run", None)
                    .await?;
                let status = RunStatus::BudgetExceeded {
                    reason: format!("the ticket's budget of ${limit:.2} is spent (${spent:.4})"),
                };
                return self
                    .abort_attempt(&id, &w, &run_id, run_number, &agent, status)
                    .await;
            }
        };
        self.record(vec![NewEvent::for_issue(
            &id,
            EventKind::RunStarted {
                run_id: run_id.clone(),
                state: w.state.clone(),
                run_number,
                attempt: w.attempt,
                runner: agent.runner.kind.as_str().to_string(),
                command: p.runner.command_line(&p.req),
                config_digest: wf.digest.clone(),
                prompt_digest: p.prompt_digest,
                prompt_bytes: p.req.prompt.len() as u64,
                workspace: p.req.workspace.display().to_string(),
                log_dir: p.req.log_dir.display().to_string(),
                resume_session: p.req.resume_session.clone(),
            },
        )])
        .await?;
        info!(ticket = %id, state = %w.state, run = %run_id, attempt = w.attempt, "run started");
        let cancel = CancellationToken::new();
        let cost_cap = p.req.max_cost_usd;
        let after_run = agent.hooks.after_run.clone().map(|script| AfterRun {
            script,
            env: self.hook_env(&id, &w.state, &[]),
            timeout: wf.hooks.timeout,
        });
        // Dispatch latency: from the poll that saw the ticket to the agent's launch.
        let latency = (self.now() - w.observed_at).num_milliseconds().max(0) as f64 / 1000.0;
        self.metrics.dispatch_latency_seconds.observe(latency);
        let task = tokio::spawn(run_task(
            p.runner,
            p.req,
            self.recorder(),
            cancel.clone(),
            self.done_tx.clone(),
            self.activity_tx.clone(),
            after_run,
        ));
        self.live.insert(
            id,
            LiveRun {
                run_id,
                state: w.state,
                runner: agent.runner.name.clone(),
                attempt: w.attempt,
                started_at: self.now(),
                cost_cap,
                cancel,
                task,
                activity: Default::default(),
            },
        );
        Ok(())
    }

    /// Everything that must succeed before the agent may start: the runner, the
    /// workspace and its hooks, the prompt, the log directory. A failure aborts the
    /// attempt (recorded as a failed run, so backoff and escalation apply).
    async fn prepare(
        &mut self,
        w: &Wanted,
        agent: &AgentState,
        run_id: &str,
        run_number: u32,
    ) -> Result<Prepared, Abort> {
        let id = w.snapshot.identifier.clone();
        let wf = self.workflow.clone();
        let max_cost_usd = match self.run_budget(&id).await? {
            RunBudget::Cap(cap) => cap,
            RunBudget::Refused { limit, spent } => return Err(Abort::Budget { limit, spent }),
        };
        let runner =
            crate::agent::runner_for(&agent.runner).map_err(|e| Abort::Attempt(e.to_string()))?;
        let ctx = self.prompt_context(w, run_number).await?;
        let rendered_branch = crate::prompt::render_branch(&wf.workspace.branch, &ctx)
            .map_err(|e| Abort::Attempt(e.to_string()))?;
        // Tracker data may make an invalid ref (`karajan/fix login`): repair it.
        let branch = crate::workspace::branch_name(&rendered_branch);
        if branch != rendered_branch {
            info!(ticket = %id, rendered = %rendered_branch, branch = %branch, "the rendered branch name is not valid in git; using a repaired one");
        }
        let ws = self
            .workspaces
            .ensure(&id, &branch)
            .await
            .map_err(|e| Abort::Attempt(format!("workspace: {e}")))?;
        if ws.created {
            self.record(vec![NewEvent::for_issue(
                &id,
                EventKind::WorkspaceCreated {
                    path: ws.path.display().to_string(),
                    branch: ws.branch.clone(),
                },
            )])
            .await?;
            if let Some(script) = agent.hooks.after_create.clone()
                && !self.hook(&id, &w.state, "after_create", &script).await?
            {
                let _ = self.workspaces.remove(&id).await;
                return Err(Abort::Attempt("after_create hook failed".into()));
            }
            // The state was entered before its workspace existed: its entry hook runs
            // now, in the new workspace.
            self.stage_enter_hook(&id, &w.state).await?;
        }
        self.workspaces
            .check_contained(&ws.path)
            .map_err(|e| Abort::Attempt(format!("workspace: {e}")))?;
        if let Some(script) = agent.hooks.before_run.clone()
            && !self.hook(&id, &w.state, "before_run", &script).await?
        {
            return Err(Abort::Attempt("before_run hook failed".into()));
        }
        let comments = self
            .tracker
            .comments(&w.snapshot.ticket_ref())
            .await
            .unwrap_or_default();
        let rendered = crate::prompt::render(&wf, &w.state, &ctx, &comments)
            .map_err(|e| Abort::Attempt(format!("prompt: {e}")))?;
        let resume_session = match agent.session {
            SessionMode::Inherit => {
                self.store
                    .latest_session(&id, agent.runner.kind.as_str())
                    .await?
            }
            SessionMode::Fresh => None,
        };
        // What the resumed session had reported in total, for CLIs that report a
        // session's cumulative usage (a run records only its own share).
        let resume_usage = match &resume_session {
            Some(s) => super::resume::thread_usage(&self.store.events_for(&id).await?, s),
            None => None,
        };
        let log_dir = wf.store.logs.join(sanitize_key(&id)).join(run_id);
        std::fs::create_dir_all(&log_dir)
            .map_err(|e| Abort::Attempt(format!("log dir {}: {e}", log_dir.display())))?;
        let _ = std::fs::write(log_dir.join("prompt.md"), &rendered.text);
        let mut meta = vec![
            ("KARAJAN_RUN_ID".to_string(), run_id.to_string()),
            ("KARAJAN_RUN_NUMBER".to_string(), run_number.to_string()),
            ("KARAJAN_ATTEMPT".to_string(), w.attempt.to_string()),
            ("KARAJAN_TITLE".to_string(), w.snapshot.title.clone()),
            (
                "KARAJAN_WORKSPACE".to_string(),
                ws.path.display().to_string(),
            ),
            ("KARAJAN_BRANCH".to_string(), ws.branch.clone()),
            ("KARAJAN_LOG_DIR".to_string(), log_dir.display().to_string()),
        ];
        if let Some(s) = &resume_session {
            meta.push(("KARAJAN_SESSION_ID".to_string(), s.clone()));
        }
        let limits = &wf.agent;
        let req = RunRequest {
            run_id: run_id.to_string(),
            identifier: id.clone(),
            state: w.state.clone(),
            run_number,
            attempt: w.attempt,
            prompt: rendered.text,
            workspace: ws.path.clone(),
            log_dir,
            env: self.hook_env(&id, &w.state, &meta),
            resume_session,
            resume_usage,
            stall_timeout: agent.runner.stall_timeout.unwrap_or(limits.stall_timeout),
            turn_timeout: agent.runner.turn_timeout.unwrap_or(limits.turn_timeout),
            grace: limits.kill_grace,
            max_turns: agent.runner.max_turns.unwrap_or(limits.max_turns),
            max_cost_usd,
        };
        Ok(Prepared {
            runner,
            req,
            prompt_digest: rendered.digest,
        })
    }

    /// An attempt that failed before its agent could start: recorded as a failed run so
    /// the normal backoff and escalation apply.
    async fn abort_attempt(
        &mut self,
        id: &str,
        w: &Wanted,
        run_id: &str,
        run_number: u32,
        agent: &AgentState,
        status: RunStatus,
    ) -> Result<(), StoreError> {
        warn!(ticket = %id, state = %w.state, run = %run_id, status = %status, "attempt aborted before the agent started");
        self.record(vec![NewEvent::for_issue(
            id,
            EventKind::RunStarted {
                run_id: run_id.to_string(),
                state: w.state.clone(),
                run_number,
                attempt: w.attempt,
                runner: agent.runner.kind.as_str().to_string(),
                command: vec![],
                config_digest: self.workflow.digest.clone(),
                prompt_digest: String::new(),
                prompt_bytes: 0,
                workspace: String::new(),
                log_dir: String::new(),
                resume_session: None,
            },
        )])
        .await?;
        let done = RunDone {
            identifier: id.to_string(),
            run_id: run_id.to_string(),
            outcome: RunOutcome {
                status,
                ..failed_outcome(String::new())
            },
        };
        self.finish_run(done).await
    }

    async fn prompt_context(
        &self,
        w: &Wanted,
        run_number: u32,
    ) -> Result<PromptContext, StoreError> {
        let id = &w.snapshot.identifier;
        let events = self.store.events_for(id).await?;
        let mut feedback = None;
        let mut count = 0;
        if let Some(t) = events.iter().rev().find(|e| e.kind == "transition") {
            if t.payload.get("cause").and_then(|c| c.as_str()) == Some("rework") {
                feedback = t
                    .payload
                    .get("feedback")
                    .and_then(|f| f.as_str())
                    .map(str::to_string);
                count = t
                    .payload
                    .get("count")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0);
            }
        }
        let last_run_at = self
            .store
            .runs_for(id)
            .await?
            .iter()
            .filter_map(|r| r.finished_at)
            .max();
        let mut ctx = PromptContext::new(&w.snapshot, &w.state, run_number, w.attempt)
            .with_rework(u32::try_from(count).unwrap_or(u32::MAX), feedback);
        if let Some(at) = last_run_at {
            ctx = ctx.with_last_run_at(at);
        }
        Ok(ctx)
    }
}
