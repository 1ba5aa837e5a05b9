//! Starting a run: the owner's part (budget, runner, prompt context, branch, session),
//! then the run's task, which prepares the workspace and prompt (`prepare`) and runs
//! the agent.

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::budget::RunBudget;
use super::engine::{Engine, LiveRun, RunDone};
use super::execute::Wanted;
use super::ids::new_id;
use super::prepare::Prep;
use super::run_task::{failed_outcome, run_task};
use crate::agent::RunOutcome;
use crate::cluster::plan::RunPlan;
use crate::config::{AgentState, SessionMode};
use crate::domain::RunStatus;
use crate::prompt::PromptContext;
use crate::store::{EventKind, NewEvent, RunHistory, StoreError};

/// Why a run could not be prepared by the owner: the attempt fails, the ticket's
/// budget is spent (never retried), or the store fails (fatal).
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
    /// Decide everything a run needs that the owner knows (budget, runner, prompt
    /// context, branch, session), then hand the slow part (workspace, hooks, comments,
    /// prompt) and the agent to the run's task. The slot is taken at once.
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
        let plan = match self.plan_run(&w, &agent, &run_id, run_number).await {
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
        let cancel = CancellationToken::new();
        let cost_cap = plan.max_cost_usd;
        let task = match &self.remote {
            // A cluster: any node with a free slot runs it (see `cluster::queue`).
            Some(remote) => tokio::spawn(super::remote_run::remote_run(
                remote.clone(),
                plan,
                self.unstarted(&id, &w, &run_id, run_number, &agent),
                self.recorder(),
                cancel.clone(),
                self.done_tx.clone(),
                self.activity_tx.clone(),
            )),
            None => {
                let prep = Prep::from_plan(
                    plan,
                    wf.clone(),
                    self.tracker.clone(),
                    self.workspaces.clone(),
                );
                let prep = match prep {
                    Ok(p) => p,
                    Err(reason) => {
                        let status = RunStatus::Failed { reason };
                        return self
                            .abort_attempt(&id, &w, &run_id, run_number, &agent, status)
                            .await;
                    }
                };
                tokio::spawn(run_task(
                    prep,
                    self.recorder(),
                    cancel.clone(),
                    self.done_tx.clone(),
                    self.activity_tx.clone(),
                ))
            }
        };
        info!(ticket = %id, state = %w.state, run = %run_id, attempt = w.attempt, "run started");
        // Dispatch latency: from the poll that saw the ticket to the run's launch.
        let latency = (self.now() - w.observed_at).num_milliseconds().max(0) as f64 / 1000.0;
        self.metrics.dispatch_latency_seconds.observe(latency);
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
                stopping: None,
                seen: false,
                started_seq: self.fetch_seq,
            },
        );
        Ok(())
    }

    /// The owner's part of preparing a run: only the store and the workflow, no I/O
    /// that can hang. A failure aborts the attempt (recorded as a failed run).
    async fn plan_run(
        &mut self,
        w: &Wanted,
        agent: &AgentState,
        run_id: &str,
        run_number: u32,
    ) -> Result<RunPlan, Abort> {
        let id = w.snapshot.identifier.clone();
        let wf = self.workflow.clone();
        let max_cost_usd = match self.run_budget(&id).await? {
            RunBudget::Cap(cap) => cap,
            RunBudget::Refused { limit, spent } => return Err(Abort::Budget { limit, spent }),
        };
        // A runner this build cannot run fails the attempt here, wherever it would run.
        crate::agent::runner_for(&agent.runner).map_err(|e| Abort::Attempt(e.to_string()))?;
        // The session only when the run resumes one.
        let runner_kind = match agent.session {
            SessionMode::Inherit => Some(agent.runner.kind.as_str()),
            SessionMode::Fresh => None,
        };
        let history = self.store.run_history(&id, runner_kind).await?;
        let ctx = self.prompt_context(w, run_number, &history).await?;
        let rendered_branch = crate::prompt::render_branch(&wf.workspace.branch, &ctx)
            .map_err(|e| Abort::Attempt(e.to_string()))?;
        // Tracker data may make an invalid ref (`karajan/fix login`): repair it.
        let branch = crate::workspace::branch_name(&rendered_branch);
        if branch != rendered_branch {
            info!(ticket = %id, rendered = %rendered_branch, branch = %branch, "the rendered branch name is not valid in git; using a repaired one");
        }
        let resume_session = history.session;
        // What the resumed session had reported in total, for CLIs that report a
        // session's cumulative usage (a run records only its own share).
        let resume_usage = history.session_usage;
        Ok(RunPlan {
            snapshot: w.snapshot.clone(),
            state: w.state.clone(),
            run_id: run_id.to_string(),
            run_number,
            attempt: w.attempt,
            ctx,
            branch,
            resume_session,
            resume_usage,
            max_cost_usd,
            entered: w.entered,
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
        self.record(vec![self.unstarted(id, w, run_id, run_number, agent)])
            .await?;
        let done = RunDone::without_agent(
            id,
            run_id,
            RunOutcome {
                status,
                ..failed_outcome(String::new())
            },
        );
        self.finish_run(done).await
    }

    /// `run_started` for a run whose agent never started (nothing was prepared).
    fn unstarted(
        &self,
        id: &str,
        w: &Wanted,
        run_id: &str,
        run_number: u32,
        agent: &AgentState,
    ) -> NewEvent {
        NewEvent::for_issue(
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
                head: None,
            },
        )
    }

    /// The prompt's context from the ticket and what `Store::run_history` read of
    /// its history (the latest transition only: never the ticket's whole history,
    /// agent lines included).
    async fn prompt_context(
        &self,
        w: &Wanted,
        run_number: u32,
        history: &RunHistory,
    ) -> Result<PromptContext, StoreError> {
        let id = &w.snapshot.identifier;
        let mut feedback = None;
        let mut count = 0;
        let mut review = None;
        if let Some(t) = &history.last_transition {
            if t.get("cause").and_then(|c| c.as_str()) == Some("rework") {
                review = t
                    .get("review")
                    .and_then(|r| serde_json::from_value::<crate::domain::Verdict>(r.clone()).ok());
                feedback = t
                    .get("feedback")
                    .and_then(|f| f.as_str())
                    .map(str::to_string);
                count = t
                    .get("count")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0);
            }
        }
        let last_run_at = history.last_run_at;
        let pull_request = self.store.record(id).await?.and_then(|r| r.pull_request);
        let mut ctx = PromptContext::new(&w.snapshot, &w.state, run_number, w.attempt)
            .with_rework(u32::try_from(count).unwrap_or(u32::MAX), feedback)
            .with_review(review.map(|v| {
                crate::prompt::context::ReviewContext::new(
                    &v,
                    u32::try_from(count).unwrap_or(u32::MAX),
                )
            }))
            .with_pull_request(pull_request.as_ref().map(Into::into));
        if let Some(at) = last_run_at {
            ctx = ctx.with_last_run_at(at);
        }
        Ok(ctx)
    }
}
