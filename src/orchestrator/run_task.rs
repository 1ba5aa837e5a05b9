//! The body of one run's task: supervise the agent, persist what it reports, run
//! `after_run`, then tell the actor. Everything it records goes through the shared
//! [`Recorder`], so it reaches the live feed as well as the store.

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::engine::RunDone;
use super::evidence;
use super::live::Activity;
use super::prepare::{NotReady, Prep};
use super::recorder::Recorder;
use crate::agent::{RunEvent, RunOutcome};
use crate::domain::evidence::RunEvidence;
use crate::domain::{RunStatus, TokenUsage, verdict};

pub(crate) fn failed_outcome(reason: String) -> RunOutcome {
    RunOutcome {
        status: RunStatus::Failed { reason },
        exit_code: None,
        signal: None,
        duration: std::time::Duration::ZERO,
        tokens: TokenUsage::default(),
        cost_usd: None,
        turns: None,
        session_id: None,
        resume_fallback: None,
        accounting: Default::default(),
        final_message: None,
        model: None,
    }
}

/// A run cut short by its daemon's (or its cluster node's) death: what it used is unknown.
pub(crate) fn interrupted_outcome(duration: std::time::Duration) -> RunOutcome {
    RunOutcome {
        status: RunStatus::Interrupted,
        duration,
        accounting: crate::domain::run::Accounting {
            usage: crate::domain::run::UsageBasis::Unknown,
            cost: Some(crate::domain::run::CostBasis::Unknown),
            ..Default::default()
        },
        ..failed_outcome(String::new())
    }
}

/// The body of a run: get it ready (workspace, hooks, prompt; see `prepare`), record
/// `run_started`, supervise the agent, forward its events to the store, run the
/// `after_run` hook (recorded; fatal to the run only with `after_run_must_pass`), then
/// report to the actor.
pub(crate) async fn run_task(
    prep: Prep,
    recorder: Recorder,
    cancel: CancellationToken,
    done_tx: mpsc::Sender<String>,
    activity_tx: mpsc::Sender<Activity>,
) -> RunDone {
    let mut held = vec![];
    let ready = prep.ready(&recorder, &cancel, &mut held).await;
    let mut heads = super::engine::Heads::default();
    let started = match &ready {
        Ok(r) => {
            heads.branch = Some(prep.plan.branch.clone());
            heads.before = match &r.head {
                Some(known) => known.clone(),
                None => crate::forge::head_of(r.req.workspace.clone()).await,
            };
            prep.started_event(Some((&r.req, &r.digest)), heads.before.clone())
        }
        Err(_) => prep.started_event(None, None),
    };
    held.push(started);
    let recorded = recorder.record(held).await;
    let not_started = match (ready, recorded) {
        (Ok(r), Ok(_)) => Ok(r.req),
        (_, Err(e)) => Err(failed_outcome(format!("store: {e}"))),
        (Err(NotReady::Failed(reason)), _) => {
            warn!(ticket = %prep.plan.snapshot.identifier, state = %prep.plan.state, run = %prep.plan.run_id, %reason, "attempt aborted before the agent started");
            Err(failed_outcome(reason))
        }
        (Err(NotReady::Stopped), _) => Err(RunOutcome {
            status: RunStatus::Cancelled {
                reason: "stopped before the agent started".into(),
            },
            ..failed_outcome(String::new())
        }),
    };
    let req = match not_started {
        Ok(req) => req,
        Err(outcome) => {
            let _ = done_tx.send(prep.plan.run_id.clone()).await;
            return RunDone::without_agent(
                &prep.plan.snapshot.identifier,
                &prep.plan.run_id,
                outcome,
            );
        }
    };
    let runner = prep.runner.clone();
    let after_run = prep.after_run.clone();
    let must_pass = prep.after_run_must_pass;
    let verdict_file = prep.verdict_file.clone();
    let runner_config = prep.agent.runner.clone();
    drop(prep);
    let program = runner
        .command_line(&req)
        .into_iter()
        .next()
        .unwrap_or_default();
    let log_dir = req.log_dir.clone();
    let workspace = req.workspace.clone();
    let (ev_tx, ev_rx) = mpsc::channel::<RunEvent>(1024);
    let id = req.identifier.clone();
    let run_id = req.run_id.clone();
    // The last lines go with `run_finished` unless a hook's event comes between them.
    let hold_tail = recorder.records_locally() && after_run.is_none();
    let forward = tokio::spawn(forward_events(
        recorder.clone(),
        id.clone(),
        run_id.clone(),
        ev_rx,
        activity_tx,
        hold_tail,
    ));
    let mut outcome = match runner.run(req, ev_tx, cancel).await {
        Ok(o) => o,
        Err(e) => failed_outcome(e.to_string()),
    };
    // The reason may quote the agent's output: blank secrets before anyone logs,
    // records or comments it.
    recorder.redactor().scrub_in_place(&mut outcome.status);
    let tail = forward.await.unwrap_or_default();
    if let Some(hook) = after_run {
        let (ok, event) = hook.run(&id).await;
        let _ = recorder.record(vec![event]).await;
        // The state asks for the hook to pass (the tests, say): a run it fails did not
        // do its work, whatever the agent said.
        if must_pass && !ok && matches!(outcome.status, RunStatus::Succeeded) {
            outcome.status = RunStatus::Failed {
                reason: "the after_run hook failed (after_run_must_pass)".into(),
            };
        }
    }
    // What the run (and its `after_run` hook) left committed.
    // And the hashes of its logs, complete now (one task on the blocking pool).
    let (after, diff, logs) =
        evidence::left_by_run(workspace, heads.before.clone(), log_dir.clone()).await;
    heads.after = after;
    let verdict = match verdict_file {
        Some(path) if matches!(outcome.status, RunStatus::Succeeded) => {
            let file = tokio::fs::read_to_string(&path).await.ok();
            let found = verdict::find(file.as_deref(), outcome.final_message.as_deref());
            match verdict::parse(found.map(|(text, _)| text)) {
                Ok(v) => found.map(|(_, source)| verdict::Given { verdict: v, source }),
                // Fail closed: a review without a valid verdict did not do its work.
                Err(reason) => {
                    warn!(ticket = %id, run = %run_id, %reason, "the review's verdict does not count");
                    outcome.status = RunStatus::Failed { reason };
                    None
                }
            }
        }
        _ => None,
    };
    let evidence = RunEvidence {
        run_id: run_id.clone(),
        agent: evidence::agent_cli(&runner_config, &program).await,
        model: outcome.model.clone().or(runner_config.model.clone()),
        head_before: heads.before.clone(),
        head_after: heads.after.clone(),
        diff,
        log_dir: log_dir.display().to_string(),
        logs,
        node: None,
    };
    let _ = done_tx.send(run_id.clone()).await;
    RunDone {
        identifier: id,
        run_id,
        outcome,
        heads,
        verdict,
        evidence: Some(evidence),
        tail,
    }
}

/// Persist what the agent reports: its process group at once (crash recovery needs
/// it) and its output lines buffered per run (see [`super::recorder::forward_run_events`]).
async fn forward_events(
    recorder: Recorder,
    id: String,
    run_id: String,
    rx: mpsc::Receiver<RunEvent>,
    activity_tx: mpsc::Sender<Activity>,
    hold_tail: bool,
) -> Vec<crate::store::NewEvent> {
    super::recorder::forward_run_events(&recorder, &id, &run_id, rx, &activity_tx, hold_tail).await
}
