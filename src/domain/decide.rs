//! `decide`: the rules that map a ticket's column and record to actions.
//!
//! The rules, in order (first match wins):
//! 1. A ticket without a record is picked up only from the todo column, and only when no
//!    open blocker holds it.
//! 2. While a tracker write of this ticket is pending, nothing is decided: the outbox
//!    must drain first, so a half-done move is never mistaken for a human's move. A move
//!    that failed stays pending (see `orchestrator::intents`): a column that differs
//!    from the record only because karajan's own move did not go through is karajan's
//!    pending write, never a human decision.
//! 3. A terminal column ends the ticket from any state: the run stops, the workspace goes.
//! 4. The todo column restarts the machine from the entry state.
//! 5. Otherwise the current state's kind decides: an agent state runs in its column, a
//!    gate waits in its column for `approved` or `rework`, and any unexpected column
//!    holds the ticket (stopping its run, keeping its workspace) until it returns. A
//!    gate with `merge:` turns an approval into a merge of the ticket's pull request
//!    first; the approval takes effect once the record says it is merged. A gate with
//!    `reviews: pull_request` does not take a human's move to the approved column as an
//!    approval (the ticket waits there) unless it was escalated or its pull request is
//!    merged: a review approves it, through `orchestrator::gates::gate_action`, which
//!    decides with [`Machine::for_gate_action`].

use chrono::{DateTime, Utc};

use super::action::{Action, Cause, StopReason};
use super::machine::{Machine, Review, StateSpec};
use super::record::{IssueRecord, Phase};
use super::ticket::TicketSnapshot;
use super::verdict::{Verdict, VerdictKind};

/// Decide what to do with one ticket now. Pure.
pub fn decide(
    snap: &TicketSnapshot,
    record: Option<&IssueRecord>,
    machine: &Machine,
    now: DateTime<Utc>,
) -> Vec<Action> {
    let cols = &machine.columns;
    let column = snap.column.as_str();
    let Some(rec) = record else {
        if column == cols.todo && !snap.is_blocked() {
            return enter(machine, &machine.entry, Cause::Picked, snap);
        }
        return vec![];
    };
    if rec.pending_intents > 0 {
        return vec![];
    }
    if cols.is_terminal(column) {
        if matches!(machine.state(&rec.state), Some(StateSpec::Terminal { .. })) {
            return vec![];
        }
        let mut actions = stop_if_running(rec, StopReason::Terminal);
        if let Some(target) = machine.terminal_for_column(column) {
            let cause = Cause::HumanMoved {
                column: column.to_string(),
            };
            actions.extend(enter(machine, target, cause, snap));
        }
        return actions;
    }
    if column == cols.todo {
        if snap.is_blocked() && !rec.is_running() {
            return vec![];
        }
        let mut actions = stop_if_running(rec, StopReason::Restarted);
        actions.extend(enter(machine, &machine.entry, Cause::Restarted, snap));
        return actions;
    }
    match machine.state(&rec.state) {
        None => unknown_state(rec, machine, column),
        Some(StateSpec::Terminal { .. }) => vec![],
        Some(StateSpec::Agent {
            next,
            column: home,
            review,
        }) => agent_state(snap, rec, machine, now, next, home, review.as_ref()),
        Some(StateSpec::Gate {
            approve,
            rework,
            max_rework,
            column: home,
            merge,
            watch,
        }) => {
            let gate = GateView {
                name: &rec.state,
                approve,
                rework,
                max_rework: *max_rework,
                home,
                merge: merge.as_ref(),
                column_approves: watch.as_ref().is_none_or(|w| w.column_approves()),
            };
            gate_state(snap, rec, machine, &gate)
        }
    }
}

/// Whether [`decide`] picks this ticket (one without a record) up into a run: exactly
/// when `decide(snap, None, ..)` contains [`Action::StartRun`] (rule 1, entering an agent
/// state). A caller with every slot taken knows such a decision could only wait, and
/// skips building it (its comment text, its actions) for each of thousands of tickets
/// waiting in todo on every poll.
pub fn picks_into_run(snap: &TicketSnapshot, machine: &Machine) -> bool {
    snap.column == machine.columns.todo
        && !snap.is_blocked()
        && matches!(machine.state(&machine.entry), Some(StateSpec::Agent { .. }))
}

/// The actions of entering `to` (a transition plus the state's entry effects).
pub fn enter(machine: &Machine, to: &str, cause: Cause, snap: &TicketSnapshot) -> Vec<Action> {
    let Some(spec) = machine.state(to) else {
        return vec![];
    };
    let mut actions = vec![
        Action::Enter {
            to: to.to_string(),
            cause: cause.clone(),
        },
        Action::StageEnterHook {
            state: to.to_string(),
        },
    ];
    if snap.column != spec.column() {
        actions.push(Action::Move {
            column: spec.column().to_string(),
        });
    }
    let why = describe_cause(&cause);
    match spec {
        StateSpec::Agent { .. } => {
            actions.push(Action::Comment {
                body: format!("karajan: {why}; now in `{to}`, an agent is starting."),
            });
            if !snap.is_blocked() {
                actions.push(Action::StartRun {
                    state: to.to_string(),
                    attempt: 1,
                });
            }
        }
        StateSpec::Gate { watch, .. } => {
            let cols = &machine.columns;
            let body = match watch {
                None => format!(
                    "karajan: {why}; waiting at gate `{to}`. Move the ticket to `{}` to approve, or to `{}` to ask for rework (comment what to change).",
                    cols.approved, cols.rework
                ),
                Some(w) => {
                    let mut on = vec![];
                    if w.checks {
                        on.push("its checks to pass");
                    }
                    if w.reads_reviews() {
                        on.push("an approving review");
                    }
                    let approve = if w.column_approves() {
                        format!("move the ticket to `{}` to approve, or ", cols.approved)
                    } else {
                        String::new()
                    };
                    format!(
                        "karajan: {why}; waiting at gate `{to}` for the pull request ({}); a failing check or a review asking for changes sends it back. You can also {approve}move it to `{}` to ask for rework (comment what to change).",
                        on.join(" and "),
                        cols.rework
                    )
                }
            };
            actions.push(Action::Comment { body });
        }
        StateSpec::Terminal { .. } => {
            actions.push(Action::Comment {
                body: format!("karajan: {why}; the ticket is finished (`{to}`)."),
            });
            actions.push(Action::CleanWorkspace);
        }
    }
    actions
}

fn describe_cause(cause: &Cause) -> String {
    match cause {
        // The comment names no run id: the marker carries the record.
        Cause::AgentFinished { .. } => "the agent finished".into(),
        other => other.to_string(),
    }
}

fn stop_if_running(rec: &IssueRecord, reason: StopReason) -> Vec<Action> {
    match &rec.phase {
        Phase::Running { run_id, .. } => vec![Action::StopRun {
            run_id: run_id.clone(),
            reason,
        }],
        _ => vec![],
    }
}

fn hold(rec: &IssueRecord, column: &str) -> Vec<Action> {
    if matches!(&rec.phase, Phase::Held { column: c } if c == column) {
        return vec![];
    }
    let mut actions = stop_if_running(rec, StopReason::LeftColumn);
    actions.push(Action::Hold {
        column: column.to_string(),
    });
    actions
}

/// The actions of handing a ticket to a human: recorded, moved to review, commented.
pub fn escalate(machine: &Machine, column: &str, reason: String) -> Vec<Action> {
    let review = &machine.columns.review;
    let mut actions = vec![Action::Escalate {
        reason: reason.clone(),
    }];
    if column != review {
        actions.push(Action::Move {
            column: review.clone(),
        });
    }
    actions.push(Action::Comment {
        body: format!(
            "karajan: {reason}. A human decision is needed: move the ticket to `{}` to go on, or to `{}` to try again.",
            machine.columns.approved, machine.columns.rework
        ),
    });
    actions
}

/// The record names a state the current workflow no longer has (a reload removed it).
fn unknown_state(rec: &IssueRecord, machine: &Machine, column: &str) -> Vec<Action> {
    if matches!(rec.phase, Phase::Escalated { .. }) {
        return vec![];
    }
    let mut actions = stop_if_running(rec, StopReason::LeftColumn);
    let reason = format!(
        "state `{}` is no longer in the workflow; move the ticket to `{}` to start over",
        rec.state, machine.columns.todo
    );
    actions.extend(escalate(machine, column, reason));
    actions
}

fn agent_state(
    snap: &TicketSnapshot,
    rec: &IssueRecord,
    machine: &Machine,
    now: DateTime<Utc>,
    next: &str,
    home: &str,
    review: Option<&Review>,
) -> Vec<Action> {
    let cols = &machine.columns;
    let column = snap.column.as_str();
    let start = |attempt: u32| -> Vec<Action> {
        if snap.is_blocked() {
            return vec![];
        }
        vec![Action::StartRun {
            state: rec.state.clone(),
            attempt,
        }]
    };
    if let Phase::Escalated { .. } = rec.phase {
        if column == cols.approved {
            let cause = Cause::Approved {
                gate: rec.state.clone(),
            };
            return enter(machine, next, cause, snap);
        }
        if column == cols.rework || column == home {
            let mut actions = vec![Action::Resume];
            if column != home {
                actions.push(Action::Move {
                    column: home.to_string(),
                });
            }
            actions.extend(start(1));
            return actions;
        }
        if column == cols.review {
            return vec![];
        }
        return hold(rec, column);
    }
    if column != home {
        return hold(rec, column);
    }
    match &rec.phase {
        Phase::Ready => start(rec.attempts + 1),
        Phase::Running { .. } => vec![],
        Phase::Succeeded { run_id, verdict } => match review {
            None => {
                let cause = Cause::AgentFinished {
                    run_id: run_id.clone(),
                };
                enter(machine, next, cause, snap)
            }
            Some(review) => route_verdict(snap, rec, machine, next, review, verdict.as_ref()),
        },
        Phase::RetryWaiting { due_at, .. } if *due_at <= now => start(rec.attempts + 1),
        Phase::RetryWaiting { .. } => vec![],
        Phase::Held { .. } | Phase::Waiting | Phase::Done | Phase::Escalated { .. } => {
            let mut actions = vec![Action::Resume];
            actions.extend(start(rec.attempts + 1));
            actions
        }
    }
}

/// Where a review's verdict sends the ticket. `needs_revision` counts as a rework of the
/// review state (so rounds are counted per review state and reset by its approval);
/// the round past `max_rounds` is handed to a human with the findings. No verdict is
/// never a pass (fail closed: `finish_run` fails such a run, this is the last guard).
fn route_verdict(
    snap: &TicketSnapshot,
    rec: &IssueRecord,
    machine: &Machine,
    next: &str,
    review: &Review,
    verdict: Option<&Verdict>,
) -> Vec<Action> {
    let Some(verdict) = verdict else {
        let reason = format!("review `{}` finished without a verdict", rec.state);
        return escalate(machine, &snap.column, reason);
    };
    match verdict.verdict {
        VerdictKind::Approve => {
            let cause = Cause::Approved {
                gate: rec.state.clone(),
            };
            let said = match verdict.feedback() {
                f if f.is_empty() => "The reviewer approved.".to_string(),
                f => format!("The reviewer approved:\n\n{f}"),
            };
            with_verdict(enter(machine, next, cause, snap), &said)
        }
        VerdictKind::NeedsRevision => {
            let count = rec.rework_count(&rec.state) + 1;
            if count > review.max_rounds {
                let reason = format!(
                    "review `{}` asked for revision more than {} time(s) (max_rounds); its last findings:\n{}",
                    rec.state,
                    review.max_rounds,
                    verdict.feedback()
                );
                return escalate(machine, &snap.column, reason);
            }
            let cause = Cause::Rework {
                gate: rec.state.clone(),
                count,
            };
            let said = format!(
                "The reviewer asks for revision (round {count} of {}):\n\n{}",
                review.max_rounds,
                verdict.feedback()
            );
            with_verdict(enter(machine, &review.needs_revision, cause, snap), &said)
        }
    }
}

/// The ticket's comment says what the reviewer said.
fn with_verdict(mut actions: Vec<Action>, said: &str) -> Vec<Action> {
    for action in &mut actions {
        if let Action::Comment { body } = action {
            body.push_str("\n\n");
            body.push_str(said);
        }
    }
    actions
}

struct GateView<'a> {
    name: &'a str,
    approve: &'a str,
    rework: &'a str,
    max_rework: u32,
    home: &'a str,
    merge: Option<&'a super::machine::MergePolicy>,
    /// A human's move to the approved column approves (not with `reviews: pull_request`).
    column_approves: bool,
}

fn gate_state(
    snap: &TicketSnapshot,
    rec: &IssueRecord,
    machine: &Machine,
    gate: &GateView<'_>,
) -> Vec<Action> {
    let cols = &machine.columns;
    let column = snap.column.as_str();
    let escalated = matches!(rec.phase, Phase::Escalated { .. });
    // `reviews: pull_request`: a human's move to the approved column does not approve
    // (the ticket waits there) — unless karajan asked a human (escalated) or the pull
    // request is already merged (the merge an approval asked for).
    let approval_counts = gate.column_approves || escalated || rec.is_merged();
    if column == cols.approved && !approval_counts {
        return match rec.phase {
            Phase::Waiting => vec![],
            _ => vec![Action::Resume],
        };
    }
    if column == cols.approved {
        // A gate that merges: the approval takes effect once the ticket's pull request
        // is merged (a ticket without one has nothing to merge).
        if let Some(merge) = gate.merge
            && rec.pull_request.is_some()
            && !rec.is_merged()
        {
            return vec![Action::MergePullRequest {
                method: merge.method.clone(),
            }];
        }
        let cause = Cause::Approved {
            gate: gate.name.to_string(),
        };
        return enter(machine, gate.approve, cause, snap);
    }
    if column == cols.rework {
        let count = rec.rework_count(gate.name) + 1;
        if count > gate.max_rework && !escalated {
            let reason = format!(
                "gate `{}` has reached its rework limit ({} of {})",
                gate.name, gate.max_rework, gate.max_rework
            );
            return escalate(machine, column, reason);
        }
        let cause = Cause::Rework {
            gate: gate.name.to_string(),
            count,
        };
        return enter(machine, gate.rework, cause, snap);
    }
    if column == gate.home || (escalated && column == cols.review) {
        return match rec.phase {
            Phase::Waiting | Phase::Escalated { .. } => vec![],
            _ => vec![Action::Resume],
        };
    }
    hold(rec, column)
}
