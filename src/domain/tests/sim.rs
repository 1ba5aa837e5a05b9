//! A tiny pure simulator: applies `decide`'s actions to a record and a ticket the way
//! the orchestrator and the store do, so properties can drive long random histories.

use chrono::{DateTime, Utc};

use crate::domain::action::Action;
use crate::domain::machine::Machine;
use crate::domain::record::{IssueRecord, Phase};
use crate::domain::ticket::TicketSnapshot;

#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub starts: u32,
    pub stops: u32,
    pub comments: Vec<String>,
    pub escalations: u32,
    pub cleaned: u32,
}

/// Apply actions; panics if a run would start while one is live (the invariant).
pub(crate) fn apply(
    machine: &Machine,
    snap: &mut TicketSnapshot,
    rec: &mut Option<IssueRecord>,
    actions: &[Action],
    now: DateTime<Utc>,
    fx: &mut Effects,
) {
    let mut run_seq = fx.starts;
    for action in actions {
        match action {
            Action::Enter { to, cause } => {
                let kind = machine.state(to).expect("target exists").kind();
                assert!(
                    !rec.as_ref().is_some_and(IssueRecord::is_running),
                    "entered {to} while a run is live: {actions:?}"
                );
                let r = rec
                    .get_or_insert_with(|| IssueRecord::new(&snap.identifier, &snap.id, to, now));
                r.apply_enter(to, kind, cause, now);
            }
            Action::StartRun { attempt, .. } => {
                let r = rec.as_mut().expect("record");
                assert!(!r.is_running(), "second concurrent run: {actions:?}");
                run_seq += 1;
                fx.starts += 1;
                *r.runs.entry(r.state.clone()).or_default() += 1;
                r.phase = Phase::Running {
                    run_id: format!("run-{run_seq}"),
                    attempt: *attempt,
                    started_at: now,
                };
            }
            Action::StopRun { .. } => {
                let r = rec.as_mut().expect("record");
                assert!(r.is_running(), "stop without a run");
                fx.stops += 1;
                r.phase = Phase::Ready;
            }
            Action::Move { column } => snap.column = column.clone(),
            Action::Comment { body } => fx.comments.push(body.clone()),
            Action::CleanWorkspace => fx.cleaned += 1,
            Action::StageEnterHook { .. } => {}
            Action::Hold { column } => {
                rec.as_mut().expect("record").phase = Phase::Held {
                    column: column.clone(),
                }
            }
            Action::Resume => {
                let r = rec.as_mut().expect("record");
                let kind = machine.state(&r.state).expect("state").kind();
                r.apply_resume(kind);
            }
            Action::Escalate { reason } => {
                fx.escalations += 1;
                rec.as_mut().expect("record").phase = Phase::Escalated {
                    reason: reason.clone(),
                };
            }
            // The merge succeeds; the approval is decided again on the merged record.
            Action::MergePullRequest { .. } => {
                if let Some(pr) = rec.as_mut().and_then(|r| r.pull_request.as_mut()) {
                    pr.merged = true;
                }
            }
        }
    }
}

/// Finish the live run (if any) the way the orchestrator records it.
pub(crate) fn finish_run(rec: &mut Option<IssueRecord>, success: bool, now: DateTime<Utc>) {
    let Some(r) = rec.as_mut() else { return };
    let Phase::Running { run_id, .. } = r.phase.clone() else {
        return;
    };
    let status = if success {
        crate::domain::RunStatus::Succeeded
    } else {
        crate::domain::RunStatus::Failed {
            reason: "exit 1".into(),
        }
    };
    let after = crate::domain::retry::after_run(
        r,
        &run_id,
        &status,
        3,
        std::time::Duration::from_secs(300),
        now,
        0.5,
    );
    r.phase = after.phase;
    r.attempts = after.attempts;
}
