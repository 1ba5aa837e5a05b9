//! Table tests: one row per rule of `decide`.

use chrono::Duration;

use super::sim::{Effects, apply, finish_run};
use super::{machine, t0, ticket};
use crate::domain::action::{Action, Cause, StopReason};
use crate::domain::decide::decide;
use crate::domain::priority::sort_for_dispatch;
use crate::domain::record::{IssueRecord, Phase};
use crate::domain::retry::{after_run, backoff};
use crate::domain::ticket::Blocker;
use crate::domain::{RunStatus, TicketSnapshot};

fn record(state: &str, phase: Phase) -> IssueRecord {
    let mut r = IssueRecord::new("T-1", "T-1", state, t0());
    r.phase = phase;
    r
}

fn running() -> Phase {
    Phase::Running {
        run_id: "r1".into(),
        attempt: 1,
        started_at: t0(),
    }
}

fn kinds(actions: &[Action]) -> Vec<&'static str> {
    actions
        .iter()
        .map(|a| match a {
            Action::Enter { .. } => "enter",
            Action::StartRun { .. } => "start",
            Action::StopRun { .. } => "stop",
            Action::Move { .. } => "move",
            Action::Comment { .. } => "comment",
            Action::CleanWorkspace => "clean",
            Action::StageEnterHook { .. } => "hook",
            Action::Hold { .. } => "hold",
            Action::Resume => "resume",
            Action::Escalate { .. } => "escalate",
            Action::MergePullRequest { .. } => "merge",
        })
        .collect()
}

#[test]
fn decision_table() {
    let m = machine();
    // (name, column, record, expected action kinds)
    let rows: Vec<(&str, &str, Option<IssueRecord>, Vec<&str>)> = vec![
        (
            "new ticket in todo is picked",
            "Todo",
            None,
            vec!["enter", "hook", "move", "comment", "start"],
        ),
        (
            "new ticket elsewhere is not ours",
            "In Progress",
            None,
            vec![],
        ),
        (
            "ready agent state starts",
            "In Progress",
            Some(record("implement", Phase::Ready)),
            vec!["start"],
        ),
        (
            "running agent state waits",
            "In Progress",
            Some(record("implement", running())),
            vec![],
        ),
        (
            "running ticket moved away is stopped and held",
            "Backlog",
            Some(record("implement", running())),
            vec!["stop", "hold"],
        ),
        (
            "held ticket in same column stays held",
            "Backlog",
            Some(record(
                "implement",
                Phase::Held {
                    column: "Backlog".into(),
                },
            )),
            vec![],
        ),
        (
            "held ticket back home resumes",
            "In Progress",
            Some(record(
                "implement",
                Phase::Held {
                    column: "Backlog".into(),
                },
            )),
            vec!["resume", "start"],
        ),
        (
            "terminal column stops and cleans",
            "Done",
            Some(record("implement", running())),
            vec!["stop", "enter", "hook", "comment", "clean"],
        ),
        (
            "canceled column ends the ticket",
            "Canceled",
            Some(record("review", Phase::Waiting)),
            vec!["enter", "hook", "comment", "clean"],
        ),
        (
            "back to todo restarts",
            "Todo",
            Some(record("review", Phase::Waiting)),
            vec!["enter", "hook", "move", "comment", "start"],
        ),
        (
            "succeeded agent goes to gate",
            "In Progress",
            Some(record(
                "implement",
                Phase::Succeeded {
                    run_id: "r1".into(),
                    verdict: None,
                },
            )),
            vec!["enter", "hook", "move", "comment"],
        ),
        (
            "gate waits",
            "Human Review",
            Some(record("review", Phase::Waiting)),
            vec![],
        ),
        (
            "gate approved",
            "Approved",
            Some(record("review", Phase::Waiting)),
            vec!["enter", "hook", "move", "comment", "start"],
        ),
        (
            "gate rework",
            "Rework",
            Some(record("review", Phase::Waiting)),
            vec!["enter", "hook", "move", "comment", "start"],
        ),
        (
            "gate in an odd column is held",
            "Backlog",
            Some(record("review", Phase::Waiting)),
            vec!["hold"],
        ),
        (
            "done ticket stays done",
            "Done",
            Some(record("done", Phase::Done)),
            vec![],
        ),
        (
            "retry not yet due",
            "In Progress",
            Some(record(
                "implement",
                Phase::RetryWaiting {
                    attempt: 2,
                    due_at: t0() + Duration::hours(1),
                    error: "x".into(),
                },
            )),
            vec![],
        ),
        (
            "retry due",
            "In Progress",
            Some(record(
                "implement",
                Phase::RetryWaiting {
                    attempt: 2,
                    due_at: t0(),
                    error: "x".into(),
                },
            )),
            vec!["start"],
        ),
        (
            "escalated agent approved skips ahead",
            "Approved",
            Some(record("implement", Phase::Escalated { reason: "x".into() })),
            vec!["enter", "hook", "move", "comment"],
        ),
        (
            "escalated agent sent to rework retries",
            "Rework",
            Some(record("implement", Phase::Escalated { reason: "x".into() })),
            vec!["resume", "move", "start"],
        ),
        (
            "escalated agent waits in review",
            "Human Review",
            Some(record("implement", Phase::Escalated { reason: "x".into() })),
            vec![],
        ),
        (
            "unknown state escalates",
            "In Progress",
            Some(record("vanished", Phase::Ready)),
            vec!["escalate", "move", "comment"],
        ),
    ];
    for (name, column, rec, expected) in rows {
        let snap = ticket("T-1", column);
        let actions = decide(&snap, rec.as_ref(), &m, t0());
        assert_eq!(kinds(&actions), expected, "{name}: {actions:?}");
    }
}

#[test]
fn pending_intents_freeze_decisions() {
    let m = machine();
    let mut rec = record("implement", running());
    rec.pending_intents = 1;
    assert!(decide(&ticket("T-1", "Done"), Some(&rec), &m, t0()).is_empty());
}

#[test]
fn blocked_tickets_are_not_picked_or_started() {
    let m = machine();
    let mut snap = ticket("T-1", "Todo");
    snap.blocked_by = vec![Blocker {
        identifier: "T-0".into(),
        resolved: false,
    }];
    assert!(decide(&snap, None, &m, t0()).is_empty());
    snap.column = "In Progress".into();
    let rec = record("implement", Phase::Ready);
    assert!(decide(&snap, Some(&rec), &m, t0()).is_empty());
    snap.blocked_by[0].resolved = true;
    assert_eq!(kinds(&decide(&snap, Some(&rec), &m, t0())), vec!["start"]);
}

#[test]
fn terminal_stop_reason_and_target_follow_the_column() {
    let m = machine();
    let actions = decide(
        &ticket("T-1", "Canceled"),
        Some(&record("implement", running())),
        &m,
        t0(),
    );
    assert_eq!(
        actions[0],
        Action::StopRun {
            run_id: "r1".into(),
            reason: StopReason::Terminal
        }
    );
    assert!(matches!(&actions[1], Action::Enter { to, .. } if to == "canceled"));
}

#[test]
fn full_flow_with_rework_and_escalation() {
    let m = machine();
    let mut snap = ticket("T-1", "Todo");
    let mut rec = None;
    let mut fx = Effects::default();
    let now = t0();
    let step = |snap: &mut TicketSnapshot, rec: &mut Option<IssueRecord>, fx: &mut Effects| {
        let actions = decide(snap, rec.as_ref(), &m, now);
        apply(&m, snap, rec, &actions, now, fx);
    };
    step(&mut snap, &mut rec, &mut fx); // picked, run 1 starts
    assert_eq!(snap.column, "In Progress");
    finish_run(&mut rec, true, now);
    step(&mut snap, &mut rec, &mut fx); // → review gate
    assert_eq!(snap.column, "Human Review");
    assert_eq!(rec.as_ref().unwrap().state, "review");
    for n in 1..=2 {
        snap.column = "Rework".into(); // human asks for rework
        step(&mut snap, &mut rec, &mut fx);
        assert_eq!(rec.as_ref().unwrap().state, "implement");
        assert_eq!(rec.as_ref().unwrap().rework_count("review"), n);
        finish_run(&mut rec, true, now);
        step(&mut snap, &mut rec, &mut fx);
        assert_eq!(rec.as_ref().unwrap().state, "review");
    }
    // third rework exceeds max_rework = 2: escalated, moved to review, commented
    snap.column = "Rework".into();
    step(&mut snap, &mut rec, &mut fx);
    assert_eq!(fx.escalations, 1);
    assert_eq!(snap.column, "Human Review");
    assert!(matches!(
        rec.as_ref().unwrap().phase,
        Phase::Escalated { .. }
    ));
    assert!(fx.comments.last().unwrap().contains("rework limit"));
    // staying in review changes nothing; a later approval still works
    step(&mut snap, &mut rec, &mut fx);
    assert_eq!(fx.escalations, 1);
    snap.column = "Approved".into();
    step(&mut snap, &mut rec, &mut fx);
    let r = rec.as_ref().unwrap();
    assert_eq!(r.state, "finalize");
    assert_eq!(
        r.rework_count("review"),
        0,
        "approval resets that gate's count"
    );
    finish_run(&mut rec, true, now);
    step(&mut snap, &mut rec, &mut fx); // → qa gate
    snap.column = "Approved".into();
    step(&mut snap, &mut rec, &mut fx);
    assert_eq!(rec.as_ref().unwrap().state, "done");
    assert_eq!(snap.column, "Done");
    assert_eq!(fx.cleaned, 1);
    assert_eq!(fx.starts, 4);
}

#[test]
fn failures_back_off_then_escalate() {
    let m = machine();
    let mut rec = record("implement", running());
    let max = std::time::Duration::from_secs(300);
    let a1 = after_run(
        &rec,
        "r1",
        &RunStatus::Stalled,
        m.max_attempts,
        max,
        t0(),
        0.0,
    );
    let Phase::RetryWaiting {
        attempt, due_at, ..
    } = a1.phase.clone()
    else {
        panic!("{a1:?}")
    };
    assert_eq!(attempt, 2);
    assert_eq!((due_at - t0()).num_seconds(), 8); // 10s * 0.8 (jitter floor)
    rec.attempts = 2;
    let a3 = after_run(
        &rec,
        "r3",
        &RunStatus::TimedOut,
        m.max_attempts,
        max,
        t0(),
        0.0,
    );
    assert!(a3.escalate.is_some());
    assert!(matches!(a3.phase, Phase::Escalated { .. }));
    let budget = RunStatus::BudgetExceeded {
        reason: "per run".into(),
    };
    let b = after_run(
        &record("implement", running()),
        "r",
        &budget,
        5,
        max,
        t0(),
        0.0,
    );
    assert!(
        b.escalate.is_some(),
        "budgets are never retried automatically"
    );
    let crash = after_run(
        &record("implement", running()),
        "r",
        &RunStatus::Interrupted,
        5,
        max,
        t0(),
        0.9,
    );
    assert!(matches!(crash.phase, Phase::RetryWaiting { due_at, .. } if due_at == t0()));
}

#[test]
fn a_usage_limit_is_not_an_attempt_and_retries_at_the_reset() {
    let m = machine();
    let max = std::time::Duration::from_secs(300);
    let until = t0() + Duration::hours(3);
    let limited = RunStatus::UsageLimited {
        until: Some(until),
        reason: "five_hour limit".into(),
    };
    // Even on the last allowed attempt: no escalation, the same attempt again at `until`.
    let mut rec = record("implement", running());
    rec.attempts = m.max_attempts - 1;
    let a = after_run(&rec, "r", &limited, m.max_attempts, max, t0(), 0.5);
    assert_eq!(a.escalate, None);
    assert_eq!(a.attempts, m.max_attempts - 1);
    let Phase::RetryWaiting {
        attempt,
        due_at,
        error,
    } = a.phase
    else {
        panic!("{a:?}")
    };
    assert_eq!(attempt, m.max_attempts);
    assert_eq!(due_at, until);
    assert!(error.contains("five_hour limit"), "{error}");
}

#[test]
fn backoff_doubles_and_caps() {
    let max = std::time::Duration::from_secs(60);
    assert_eq!(backoff(1, max, 1.0).as_secs(), 10);
    assert_eq!(backoff(2, max, 1.0).as_secs(), 20);
    assert_eq!(backoff(3, max, 1.0).as_secs(), 40);
    assert_eq!(backoff(4, max, 1.0).as_secs(), 60);
    assert_eq!(backoff(40, max, 1.0).as_secs(), 60);
    assert_eq!(backoff(4, max, 0.0).as_secs(), 48);
}

#[test]
fn dispatch_order_puts_no_priority_last_and_older_first() {
    let mut a = ticket("A", "Todo");
    a.priority = None;
    let mut b = ticket("B", "Todo");
    b.priority = Some(3);
    let mut c = ticket("C", "Todo");
    c.priority = Some(1);
    let mut d = ticket("D", "Todo");
    d.priority = Some(3);
    d.created_at = t0() - Duration::days(1);
    let mut e = ticket("E", "Todo");
    e.priority = Some(0);
    e.created_at = t0() - Duration::days(9);
    let mut all = vec![a, b, c, d, e];
    sort_for_dispatch(&mut all);
    let ids: Vec<_> = all.iter().map(|t| t.identifier.as_str()).collect();
    assert_eq!(ids, vec!["C", "D", "B", "E", "A"]);
}

#[test]
fn rework_cause_sets_count_only_for_its_gate() {
    let m = machine();
    let mut rec = record("review", Phase::Waiting);
    rec.rework.insert("qa".into(), 1);
    let actions = decide(&ticket("T-1", "Rework"), Some(&rec), &m, t0());
    assert!(matches!(
        &actions[0],
        Action::Enter { cause: Cause::Rework { gate, count: 1 }, .. } if gate == "review"
    ));
}

#[test]
fn a_gate_that_merges_approves_once_its_pull_request_is_merged() {
    let mut m = machine();
    if let Some(crate::domain::StateSpec::Gate { merge, .. }) = m.states.get_mut("qa") {
        *merge = Some(crate::domain::MergePolicy {
            method: "squash".into(),
            rework_on_failure: false,
        });
    }
    let approved = ticket("T-1", "Approved");
    let mut rec = record("qa", Phase::Waiting);
    // No pull request: nothing to merge, the approval takes effect.
    assert_eq!(
        kinds(&decide(&approved, Some(&rec), &m, t0()))[0],
        "enter",
        "no pull request"
    );
    rec.pull_request = Some(crate::domain::PullRequestRef {
        repo: "acme/app".into(),
        number: 7,
        url: "https://github.com/acme/app/pull/7".into(),
        head: Some("abc".into()),
        merged: false,
    });
    let actions = decide(&approved, Some(&rec), &m, t0());
    assert_eq!(
        actions,
        vec![Action::MergePullRequest {
            method: "squash".into()
        }],
        "merged first, nothing else"
    );
    // Escalated at the gate (a merge that failed), approved again: merged again.
    let mut escalated = rec.clone();
    escalated.phase = Phase::Escalated {
        reason: "merge refused".into(),
    };
    assert_eq!(
        kinds(&decide(&approved, Some(&escalated), &m, t0())),
        vec!["merge"]
    );
    rec.pull_request.as_mut().unwrap().merged = true;
    let actions = decide(&approved, Some(&rec), &m, t0());
    assert!(
        matches!(&actions[0], Action::Enter { to, cause: Cause::Approved { .. } } if to == "done"),
        "{actions:?}"
    );
    // A rework is not held by the merge.
    let rework = ticket("T-1", "Rework");
    rec.pull_request.as_mut().unwrap().merged = false;
    assert_eq!(kinds(&decide(&rework, Some(&rec), &m, t0()))[0], "enter");
}

fn pull_request_only(m: &mut crate::domain::Machine, gate: &str) {
    if let Some(crate::domain::StateSpec::Gate { watch, .. }) = m.states.get_mut(gate) {
        *watch = Some(crate::domain::PrWatch {
            checks: false,
            checks_timeout_secs: 1800,
            reviews: crate::domain::ReviewSource::PullRequest,
            reviewers: vec![],
        });
    }
}

#[test]
fn a_gate_approved_by_pull_request_reviews_only_waits_in_the_approved_column() {
    let mut m = machine();
    pull_request_only(&mut m, "review");
    let approved = ticket("T-1", "Approved");
    let rec = record("review", Phase::Waiting);
    // A human's move to the approved column does not approve: the ticket waits.
    assert_eq!(decide(&approved, Some(&rec), &m, t0()), vec![]);
    // Held elsewhere before, now in the approved column: back to waiting, not approved.
    let held = record(
        "review",
        Phase::Held {
            column: "Backlog".into(),
        },
    );
    assert_eq!(
        kinds(&decide(&approved, Some(&held), &m, t0())),
        vec!["resume"]
    );
    // Rework by the column still works.
    let rework = ticket("T-1", "Rework");
    assert_eq!(kinds(&decide(&rework, Some(&rec), &m, t0()))[0], "enter");
    // Escalated (karajan asked a human): the approved column approves.
    let mut escalated = rec.clone();
    escalated.phase = Phase::Escalated {
        reason: "checks pending".into(),
    };
    assert!(matches!(
        &decide(&approved, Some(&escalated), &m, t0())[0],
        Action::Enter { to, cause: Cause::Approved { .. } } if to == "finalize"
    ));
    // An operator or a review decides with the machine for gate actions: it approves.
    let op = m.for_gate_action();
    assert!(matches!(
        &decide(&approved, Some(&rec), &op, t0())[0],
        Action::Enter { to, cause: Cause::Approved { .. } } if to == "finalize"
    ));
    // Entering it says what it waits for, and does not offer the approved column.
    let done = record(
        "implement",
        Phase::Succeeded {
            run_id: "r1".into(),
            verdict: None,
        },
    );
    let actions = decide(&ticket("T-1", "In Progress"), Some(&done), &m, t0());
    let comment = actions
        .iter()
        .find_map(|a| match a {
            Action::Comment { body } => Some(body.clone()),
            _ => None,
        })
        .expect("a gate comment");
    assert!(
        comment.contains("for the pull request (an approving review)"),
        "{comment}"
    );
    assert!(!comment.contains("`Approved`"), "{comment}");
    assert!(comment.contains("`Rework`"), "{comment}");
    // The other gate keeps today's behaviour.
    let qa = record("qa", Phase::Waiting);
    assert_eq!(kinds(&decide(&approved, Some(&qa), &m, t0()))[0], "enter");
}

#[test]
fn a_merged_pull_request_lets_the_approved_column_approve_a_pull_request_only_gate() {
    let mut m = machine();
    pull_request_only(&mut m, "qa");
    if let Some(crate::domain::StateSpec::Gate { merge, .. }) = m.states.get_mut("qa") {
        *merge = Some(crate::domain::MergePolicy {
            method: "squash".into(),
            rework_on_failure: false,
        });
    }
    let approved = ticket("T-1", "Approved");
    let mut rec = record("qa", Phase::Waiting);
    rec.pull_request = Some(crate::domain::PullRequestRef {
        repo: "acme/app".into(),
        number: 7,
        url: "https://github.com/acme/app/pull/7".into(),
        head: Some("abc".into()),
        merged: false,
    });
    assert_eq!(decide(&approved, Some(&rec), &m, t0()), vec![]);
    assert_eq!(
        kinds(&decide(&approved, Some(&rec), &m.for_gate_action(), t0())),
        vec!["merge"]
    );
    rec.pull_request.as_mut().unwrap().merged = true;
    assert!(matches!(
        &decide(&approved, Some(&rec), &m, t0())[0],
        Action::Enter { to, .. } if to == "done"
    ));
}

#[test]
fn a_gate_without_watch_serializes_as_before() {
    let m = machine();
    let json = serde_json::to_string(m.state("review").unwrap()).unwrap();
    assert!(!json.contains("watch"), "{json}");
}

#[test]
fn a_review_state_routes_on_its_verdict_and_fails_closed() {
    use crate::domain::verdict::{Verdict, VerdictKind};
    let mut m = machine();
    // `finalize` reviews: approve → qa, needs_revision → implement, one round at most.
    if let Some(crate::domain::StateSpec::Agent { review, .. }) = m.states.get_mut("finalize") {
        *review = Some(crate::domain::Review {
            needs_revision: "implement".into(),
            max_rounds: 1,
        });
    }
    let snap = ticket("T-1", "In Progress");
    let done = |verdict: Option<VerdictKind>| {
        record(
            "finalize",
            Phase::Succeeded {
                run_id: "r1".into(),
                verdict: verdict.map(|v| Verdict {
                    verdict: v,
                    summary: "two issues".into(),
                    findings: vec![],
                }),
            },
        )
    };
    let approve = decide(&snap, Some(&done(Some(VerdictKind::Approve))), &m, t0());
    assert!(
        matches!(&approve[0], Action::Enter { to, cause: Cause::Approved { gate } } if to == "qa" && gate == "finalize"),
        "{approve:?}"
    );
    let revise = decide(
        &snap,
        Some(&done(Some(VerdictKind::NeedsRevision))),
        &m,
        t0(),
    );
    assert!(
        matches!(&revise[0], Action::Enter { to, cause: Cause::Rework { gate, count: 1 } } if to == "implement" && gate == "finalize"),
        "{revise:?}"
    );
    // The round past max_rounds: a human, with the findings.
    let mut again = done(Some(VerdictKind::NeedsRevision));
    again.rework.insert("finalize".into(), 1);
    let escalated = decide(&snap, Some(&again), &m, t0());
    assert!(
        matches!(&escalated[0], Action::Escalate { reason } if reason.contains("max_rounds") && reason.contains("two issues")),
        "{escalated:?}"
    );
    // No verdict is never a pass.
    let none = decide(&snap, Some(&done(None)), &m, t0());
    assert_eq!(kinds(&none)[0], "escalate", "{none:?}");
    // An approval resets the rounds.
    let mut r = again.clone();
    let mut fx = Effects::default();
    let mut snap2 = snap.clone();
    let mut rec = Some(r.clone());
    apply(&m, &mut snap2, &mut rec, &approve, t0(), &mut fx);
    r = rec.unwrap();
    assert_eq!(r.rework_count("finalize"), 0);
}
