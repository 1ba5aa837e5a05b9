//! Starting, supervising, stopping and finishing runs, and the workspace hooks around
//! them.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::engine::{Engine, LiveRun, RunDone};
use super::execute::Wanted;
use super::ids::new_id;
use crate::agent::{AgentRunner, RunEvent, RunOutcome, RunRequest};
use crate::config::{AgentState, HookSet, RunnerConfig, RunnerKind, SessionMode};
use crate::domain::retry::after_run;
use crate::domain::{RunStatus, TokenUsage};
use crate::prompt::PromptContext;
use crate::store::{EventKind, NewEvent, Store, StoreError};
use crate::workspace::{HookResult, run_hook, sanitize_key};

fn hook_event(name: &str, state: Option<&str>, r: &HookResult) -> EventKind {
    EventKind::HookRan {
        hook: name.to_string(),
        state: state.map(str::to_string),
        ok: r.ok,
        exit_code: r.exit_code,
        timed_out: r.timed_out,
        duration_ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
        output_tail: r.output_tail.clone(),
    }
}

fn failed_outcome(reason: String) -> RunOutcome {
    RunOutcome {
        status: RunStatus::Failed { reason },
        exit_code: None,
        signal: None,
        duration: std::time::Duration::ZERO,
        tokens: TokenUsage::default(),
        cost_usd: None,
        turns: None,
        session_id: None,
    }
}

/// A stand-in snapshot built from the record, for when the tracker's is unknown.
fn placeholder_snapshot(rec: &crate::domain::IssueRecord) -> crate::domain::TicketSnapshot {
    crate::domain::TicketSnapshot {
        id: rec.tracker_id.clone(),
        identifier: rec.identifier.clone(),
        title: String::new(),
        description: String::new(),
        url: None,
        labels: vec![],
        priority: None,
        column: String::new(),
        blocked_by: vec![],
        branch_name: None,
        created_at: rec.entered_at,
        updated_at: rec.entered_at,
    }
}

/// A runner profile for hooks of states that have no agent.
fn no_runner() -> RunnerConfig {
    RunnerConfig {
        name: "hooks".into(),
        kind: RunnerKind::Command,
        command: vec![],
        env: BTreeMap::new(),
        inherit_env: vec![],
        model: None,
        stall_timeout: None,
        turn_timeout: None,
        max_turns: None,
    }
}

impl Engine {
    fn hooks_for(&self, state: &str) -> HookSet {
        match self.workflow.agent_state(state) {
            Some(a) => a.hooks.clone(),
            None => self.workflow.hooks.set.clone(),
        }
    }

    fn hook_env(&self, identifier: &str, state: &str, extra: &[(String, String)]) -> Vec<(String, String)> {
        let runner = self
            .workflow
            .agent_state(state)
            .map_or_else(no_runner, |a| a.runner.clone());
        let mut meta = vec![
            ("KARAJAN_ISSUE".to_string(), identifier.to_string()),
            ("KARAJAN_STATE".to_string(), state.to_string()),
        ];
        meta.extend_from_slice(extra);
        crate::agent::env::build_env(&runner, &meta)
    }

    /// Run one hook in the ticket's workspace and record it. Returns whether it passed.
    async fn hook(&self, identifier: &str, state: &str, name: &str, script: &str) -> Result<bool, StoreError> {
        let cwd = self.workspace_path(identifier);
        let env = self.hook_env(identifier, state, &[]);
        let result = run_hook(name, script, &cwd, &env, self.workflow.hooks.timeout).await;
        if !result.ok {
            warn!(ticket = %identifier, state = %state, hook = %name, exit = ?result.exit_code, timed_out = result.timed_out, "hook failed");
        }
        self.record(vec![NewEvent::for_issue(identifier, hook_event(name, Some(state), &result))])
            .await?;
        Ok(result.ok)
    }

    pub(crate) fn workspace_path(&self, identifier: &str) -> std::path::PathBuf {
        self.workflow.workspace.root.join(sanitize_key(identifier))
    }

    /// `on_stage_enter`, on each state entry, when the workspace exists.
    pub(crate) async fn stage_enter_hook(&self, identifier: &str, state: &str) -> Result<(), StoreError> {
        if let Some(script) = self.hooks_for(state).on_stage_enter
            && self.workspace_path(identifier).is_dir()
        {
            self.hook(identifier, state, "on_stage_enter", &script).await?;
        }
        Ok(())
    }

    /// `before_remove` (recorded, not fatal), then the clone goes.
    pub(crate) async fn clean_workspace(&self, identifier: &str) -> Result<(), StoreError> {
        let path = self.workspace_path(identifier);
        if !path.is_dir() {
            return Ok(());
        }
        if let Some(script) = self.workflow.hooks.set.before_remove.clone() {
            self.hook(identifier, "", "before_remove", &script).await?;
        }
        match self.workspaces.remove(identifier).await {
            Ok(()) => {
                info!(ticket = %identifier, path = %path.display(), "workspace removed");
                self.record(vec![NewEvent::for_issue(
                    identifier,
                    EventKind::WorkspaceRemoved {
                        path: path.display().to_string(),
                    },
                )])
                .await?;
            }
            Err(e) => warn!(ticket = %identifier, error = %e, "could not remove workspace"),
        }
        Ok(())
    }

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
        let runner: Arc<dyn AgentRunner> = match crate::agent::runner_for(&agent.runner) {
            Ok(r) => r,
            Err(e) => return self.abort_attempt(&id, &w, &run_id, run_number, &agent, e.to_string()).await,
        };
        let ctx = self.prompt_context(&w, run_number).await?;
        let branch = match crate::prompt::render_branch(&wf.workspace.branch, &ctx) {
            Ok(b) => b,
            Err(e) => return self.abort_attempt(&id, &w, &run_id, run_number, &agent, e.to_string()).await,
        };
        let ws = match self.workspaces.ensure(&id, &branch).await {
            Ok(ws) => ws,
            Err(e) => return self.abort_attempt(&id, &w, &run_id, run_number, &agent, format!("workspace: {e}")).await,
        };
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
                return self.abort_attempt(&id, &w, &run_id, run_number, &agent, "after_create hook failed".into()).await;
            }
        }
        if let Err(e) = self.workspaces.check_contained(&ws.path) {
            return self.abort_attempt(&id, &w, &run_id, run_number, &agent, format!("workspace: {e}")).await;
        }
        if let Some(script) = agent.hooks.before_run.clone()
            && !self.hook(&id, &w.state, "before_run", &script).await?
        {
            return self.abort_attempt(&id, &w, &run_id, run_number, &agent, "before_run hook failed".into()).await;
        }
        let comments = self.tracker.comments(&w.snapshot.ticket_ref()).await.unwrap_or_default();
        let human: Vec<_> = comments.into_iter().filter(|c| !c.is_karajan()).rev().take(5).rev().collect();
        let rendered = match crate::prompt::render(&wf, &w.state, &ctx, &human) {
            Ok(p) => p,
            Err(e) => return self.abort_attempt(&id, &w, &run_id, run_number, &agent, format!("prompt: {e}")).await,
        };
        let resume_session = match agent.session {
            SessionMode::Inherit => self.store.latest_session(&id, agent.runner.kind.as_str()).await?,
            SessionMode::Fresh => None,
        };
        let log_dir = wf.store.logs.join(sanitize_key(&id)).join(&run_id);
        if let Err(e) = std::fs::create_dir_all(&log_dir) {
            return self.abort_attempt(&id, &w, &run_id, run_number, &agent, format!("log dir {}: {e}", log_dir.display())).await;
        }
        let _ = std::fs::write(log_dir.join("prompt.md"), &rendered.text);
        let mut meta = vec![
            ("KARAJAN_RUN_ID".to_string(), run_id.clone()),
            ("KARAJAN_RUN_NUMBER".to_string(), run_number.to_string()),
            ("KARAJAN_ATTEMPT".to_string(), w.attempt.to_string()),
            ("KARAJAN_TITLE".to_string(), w.snapshot.title.clone()),
            ("KARAJAN_WORKSPACE".to_string(), ws.path.display().to_string()),
            ("KARAJAN_BRANCH".to_string(), ws.branch.clone()),
            ("KARAJAN_LOG_DIR".to_string(), log_dir.display().to_string()),
        ];
        if let Some(s) = &resume_session {
            meta.push(("KARAJAN_SESSION_ID".to_string(), s.clone()));
        }
        let env = self.hook_env(&id, &w.state, &meta);
        let limits = &wf.agent;
        let req = RunRequest {
            run_id: run_id.clone(),
            identifier: id.clone(),
            state: w.state.clone(),
            run_number,
            attempt: w.attempt,
            prompt: rendered.text.clone(),
            workspace: ws.path.clone(),
            log_dir: log_dir.clone(),
            env,
            resume_session: resume_session.clone(),
            stall_timeout: agent.runner.stall_timeout.unwrap_or(limits.stall_timeout),
            turn_timeout: agent.runner.turn_timeout.unwrap_or(limits.turn_timeout),
            grace: limits.kill_grace,
            max_turns: agent.runner.max_turns.unwrap_or(limits.max_turns),
        };
        self.record(vec![NewEvent::for_issue(
            &id,
            EventKind::RunStarted {
                run_id: run_id.clone(),
                state: w.state.clone(),
                run_number,
                attempt: w.attempt,
                runner: agent.runner.kind.as_str().to_string(),
                command: runner.command_line(&req),
                config_digest: wf.digest.clone(),
                prompt_digest: rendered.digest.clone(),
                prompt_bytes: rendered.text.len() as u64,
                workspace: ws.path.display().to_string(),
                log_dir: log_dir.display().to_string(),
                resume_session,
            },
        )])
        .await?;
        info!(ticket = %id, state = %w.state, run = %run_id, attempt = w.attempt, "run started");
        let cancel = CancellationToken::new();
        let after_run = agent.hooks.after_run.clone().map(|s| (s, self.hook_env(&id, &w.state, &[]), wf.hooks.timeout));
        let task = tokio::spawn(run_task(
            runner,
            req,
            self.store.clone(),
            cancel.clone(),
            self.done_tx.clone(),
            after_run,
        ));
        self.live.insert(
            id,
            LiveRun {
                run_id,
                state: w.state,
                cancel,
                task,
            },
        );
        Ok(())
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
        reason: String,
    ) -> Result<(), StoreError> {
        error!(ticket = %id, state = %w.state, run = %run_id, %reason, "attempt aborted before the agent started");
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
            outcome: failed_outcome(reason),
        };
        self.finish_run(done).await
    }

    async fn prompt_context(&self, w: &Wanted, run_number: u32) -> Result<PromptContext, StoreError> {
        let id = &w.snapshot.identifier;
        let events = self.store.events_for(id).await?;
        let mut feedback = None;
        let mut count = 0;
        if let Some(t) = events.iter().rev().find(|e| e.kind == "transition") {
            if t.payload.get("cause").and_then(|c| c.as_str()) == Some("rework") {
                feedback = t.payload.get("feedback").and_then(|f| f.as_str()).map(str::to_string);
                count = t.payload.get("count").and_then(serde_json::Value::as_u64).unwrap_or(0);
            }
        }
        let last_run_at = self
            .store
            .runs_for(id)
            .await?
            .iter()
            .filter_map(|r| r.finished_at)
            .max();
        Ok(PromptContext::new(
            &w.snapshot,
            &w.state,
            run_number,
            w.attempt,
            u32::try_from(count).unwrap_or(u32::MAX),
            feedback,
            last_run_at,
        ))
    }

    /// Stop a live run (SIGTERM → grace → SIGKILL on its group) and record it.
    pub(crate) async fn stop_run(&mut self, id: &str, run_id: &str, reason: &str) -> Result<(), StoreError> {
        let done = match self.live.remove(id) {
            Some(live) if live.run_id == run_id => {
                info!(ticket = %id, run = %run_id, %reason, "stopping run");
                live.cancel.cancel();
                match live.task.await {
                    Ok(done) => done,
                    Err(e) => RunDone {
                        identifier: id.to_string(),
                        run_id: run_id.to_string(),
                        outcome: failed_outcome(format!("run task failed: {e}")),
                    },
                }
            }
            other => {
                if let Some(live) = other {
                    self.live.insert(id.to_string(), live);
                }
                RunDone {
                    identifier: id.to_string(),
                    run_id: run_id.to_string(),
                    outcome: RunOutcome {
                        status: RunStatus::Cancelled {
                            reason: reason.to_string(),
                        },
                        ..failed_outcome(String::new())
                    },
                }
            }
        };
        self.finish_run(done).await
    }

    /// A run task reported completion.
    pub(crate) async fn on_run_done(&mut self, run_id: &str) -> Result<(), StoreError> {
        let Some(id) = self
            .live
            .iter()
            .find(|(_, l)| l.run_id == run_id)
            .map(|(k, _)| k.clone())
        else {
            return Ok(()); // already stopped and recorded
        };
        let Some(live) = self.live.remove(&id) else {
            return Ok(());
        };
        let done = match live.task.await {
            Ok(done) => done,
            Err(e) => RunDone {
                identifier: id.clone(),
                run_id: run_id.to_string(),
                outcome: failed_outcome(format!("run task failed: {e}")),
            },
        };
        self.finish_run(done).await?;
        self.advance(&id).await
    }

    /// Record `run_finished` with what it means for the ticket.
    pub(crate) async fn finish_run(&mut self, done: RunDone) -> Result<(), StoreError> {
        let Some(rec) = self.store.record(&done.identifier).await? else {
            return Ok(());
        };
        let rec_before = rec.clone();
        let wf = self.workflow.clone();
        let o = &done.outcome;
        let after = after_run(
            &rec,
            &done.run_id,
            &o.status,
            wf.machine.max_attempts,
            wf.agent.max_retry_backoff,
            self.now(),
            rand::random::<f64>(),
        );
        info!(ticket = %done.identifier, state = %rec.state, run = %done.run_id, status = o.status.label(), exit = ?o.exit_code, "run finished");
        self.record(vec![NewEvent::for_issue(
            &done.identifier,
            EventKind::RunFinished {
                run_id: done.run_id.clone(),
                status: o.status.clone(),
                exit_code: o.exit_code,
                signal: o.signal,
                duration_ms: u64::try_from(o.duration.as_millis()).unwrap_or(u64::MAX),
                tokens: o.tokens,
                cost_usd: o.cost_usd,
                turns: o.turns,
                session_id: o.session_id.clone(),
                phase_after: after.phase,
                attempts_after: after.attempts,
            },
        )])
        .await?;
        if let Some(reason) = after.escalate {
            // The snapshot may be unknown (recovery at start): the move is then always
            // recorded, since an escalated agent state must leave its column.
            let rec = self.store.record(&done.identifier).await?;
            let snap = match self.snapshots.get(&done.identifier) {
                Some(s) => s.clone(),
                None => placeholder_snapshot(&rec_before),
            };
            let actions = crate::domain::decide::escalate(&wf.machine, &snap.column, reason);
            Box::pin(self.execute(&snap, rec.as_ref(), actions, None)).await?;
        }
        Ok(())
    }

    /// After a run: decide again on a fresh snapshot so a finished agent state moves on
    /// at once instead of waiting for the next poll.
    pub(crate) async fn advance(&mut self, id: &str) -> Result<(), StoreError> {
        let fresh = match self.tracker.fetch_by_identifiers(&[id.to_string()]).await {
            Ok(mut v) => v.pop(),
            Err(e) => {
                warn!(ticket = %id, error = %e, "could not refresh ticket after its run; the next tick will");
                return Ok(());
            }
        };
        let Some(snap) = fresh else { return Ok(()) };
        self.snapshots.insert(id.to_string(), snap.clone());
        let rec = self.store.record(id).await?;
        let actions = crate::domain::decide(&snap, rec.as_ref(), &self.workflow.machine, self.now());
        if let Some(w) = Box::pin(self.execute(&snap, rec.as_ref(), actions, None)).await? {
            self.dispatch(vec![w]).await?;
        }
        Ok(())
    }
}

/// The body of a run: supervise the agent, forward its events to the store, run the
/// `after_run` hook (recorded, never fatal), then report to the actor.
async fn run_task(
    runner: Arc<dyn AgentRunner>,
    req: RunRequest,
    store: Store,
    cancel: CancellationToken,
    done_tx: mpsc::Sender<String>,
    after_run: Option<(String, Vec<(String, String)>, std::time::Duration)>,
) -> RunDone {
    let (ev_tx, ev_rx) = mpsc::channel::<RunEvent>(1024);
    let id = req.identifier.clone();
    let run_id = req.run_id.clone();
    let state = req.state.clone();
    let workspace = req.workspace.clone();
    let forward = tokio::spawn(forward_events(store.clone(), id.clone(), run_id.clone(), ev_rx));
    let outcome = match runner.run(req, ev_tx, cancel).await {
        Ok(o) => o,
        Err(e) => failed_outcome(e.to_string()),
    };
    let _ = forward.await;
    if let Some((script, env, timeout)) = after_run {
        let r = run_hook("after_run", &script, &workspace, &env, timeout).await;
        let _ = store
            .append(vec![NewEvent::for_issue(&id, hook_event("after_run", Some(&state), &r))])
            .await;
    }
    let _ = done_tx.send(run_id.clone()).await;
    RunDone {
        identifier: id,
        run_id,
        outcome,
    }
}

/// Persist what the agent reports: its process group at once (crash recovery needs it)
/// and its JSON events in batches.
async fn forward_events(store: Store, id: String, run_id: String, mut rx: mpsc::Receiver<RunEvent>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
            if batch.len() >= 256 {
                break;
            }
        }
        let events: Vec<NewEvent> = batch
            .into_iter()
            .filter_map(|ev| match ev {
                RunEvent::Spawned { pid } => Some(EventKind::RunSpawned {
                    run_id: run_id.clone(),
                    pid,
                }),
                RunEvent::Json { value, .. } => Some(EventKind::AgentEvent {
                    run_id: run_id.clone(),
                    event: value,
                }),
                RunEvent::Session { .. } | RunEvent::Activity { .. } => None,
            })
            .map(|k| NewEvent::for_issue(&id, k))
            .collect();
        if let Err(e) = store.append(events).await {
            error!(ticket = %id, run = %run_id, error = %e, "could not record agent events");
        }
    }
}
