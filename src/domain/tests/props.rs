//! Properties over long random histories of human moves, run results and time.

use chrono::Duration;
use proptest::prelude::*;

use super::sim::{Effects, apply, finish_run};
use super::{machine, t0, ticket};
use crate::domain::action::{Action, Cause};
use crate::domain::decide::decide;
use crate::domain::machine::StateSpec;
use crate::domain::priority::sort_for_dispatch;
use crate::domain::record::{IssueRecord, Phase};

#[derive(Debug, Clone)]
enum Step {
    Human(&'static str),
    Finish(bool),
    Tick,
}

const COLUMNS: [&str; 9] = [
    "Todo",
    "In Progress",
    "Human Review",
    "Approved",
    "Rework",
    "Done",
    "Canceled",
    "Backlog",
    "Someone's column",
];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..COLUMNS.len()).prop_map(|i| Step::Human(COLUMNS[i])),
        3 => any::<bool>().prop_map(Step::Finish),
        2 => Just(Step::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The simulator panics on a second concurrent run or a transition while a run is
    /// live; rework counts move only for their own gate and reset on approval;
    /// escalation is never a dead end; unexpected columns are never ignored.
    #[test]
    fn random_histories_keep_the_invariants(steps in prop::collection::vec(step(), 1..60)) {
        let m = machine();
        let mut snap = ticket("T-1", "Todo");
        let mut rec: Option<IssueRecord> = None;
        let mut fx = Effects::default();
        let mut now = t0();
        let known = ["Todo", "In Progress", "Human Review", "Approved", "Rework", "Done", "Canceled"];
        for s in steps {
            match s {
                Step::Human(c) => snap.column = c.to_string(),
                Step::Finish(ok) => finish_run(&mut rec, ok, now),
                Step::Tick => now += Duration::minutes(10),
            }
            // Escalation is never a dead end: approving always leads somewhere.
            if let Some(r) = &rec
                && matches!(r.phase, Phase::Escalated { .. })
                && m.state(&r.state).is_some()
            {
                let probe = ticket("T-1", "Approved");
                let acts = decide(&probe, Some(r), &m, now);
                prop_assert!(acts.iter().any(|a| matches!(a, Action::Enter { .. })), "dead end: {r:?}");
            }
            let before = rec.clone();
            let actions = decide(&snap, rec.as_ref(), &m, now);
            // An unexpected column is handled, not ignored.
            if let Some(r) = &before
                && !known.contains(&snap.column.as_str())
                && !matches!(&r.phase, Phase::Held { column } if *column == snap.column)
                && !matches!(m.state(&r.state), Some(StateSpec::Terminal { .. }))
            {
                prop_assert!(actions.iter().any(|a| matches!(a, Action::Hold { .. })), "ignored {}: {actions:?}", snap.column);
            }
            apply(&m, &mut snap, &mut rec, &actions, now, &mut fx);
            // Rework counts are per gate.
            for a in &actions {
                if let Action::Enter { cause: Cause::Rework { gate, count }, .. } = a {
                    let old = before.as_ref().map_or(0, |r| r.rework_count(gate));
                    prop_assert_eq!(*count, old + 1);
                    for (g, c) in &rec.as_ref().unwrap().rework {
                        if g != gate {
                            prop_assert_eq!(Some(c), before.as_ref().unwrap().rework.get(g));
                        }
                    }
                }
                if let Action::Enter { cause: Cause::Approved { gate }, .. } = a {
                    prop_assert_eq!(rec.as_ref().unwrap().rework_count(gate), 0);
                }
            }
            // At most one run, and a stop always precedes leaving a running state.
            let live = rec.as_ref().is_some_and(IssueRecord::is_running);
            prop_assert!(fx.starts - fx.stops >= u32::from(live));
        }
    }

    #[test]
    fn dispatch_order_is_priority_then_age(
        prios in prop::collection::vec(prop::option::of(0u8..5), 1..40),
        ages in prop::collection::vec(0i64..1000, 40),
    ) {
        let mut tickets: Vec<_> = prios.iter().enumerate().map(|(i, p)| {
            let mut t = ticket(&format!("T-{i}"), "Todo");
            t.priority = *p;
            t.created_at = t0() - Duration::minutes(ages[i]);
            t
        }).collect();
        sort_for_dispatch(&mut tickets);
        let rank = |p: Option<u8>| p.filter(|p| *p > 0).map_or(u8::MAX, |p| p);
        for w in tickets.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            prop_assert!(rank(a.priority) <= rank(b.priority));
            if rank(a.priority) == rank(b.priority) {
                prop_assert!(a.created_at <= b.created_at);
            }
        }
    }
}

/// A reviewer's possible outcomes: a verdict, or none at all.
fn verdict() -> impl Strategy<Value = Option<crate::domain::verdict::VerdictKind>> {
    use crate::domain::verdict::VerdictKind;
    prop_oneof![
        3 => Just(Some(VerdictKind::NeedsRevision)),
        2 => Just(Some(VerdictKind::Approve)),
        1 => Just(None),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// implement → finalize (a review: needs_revision → implement, `max_rounds` R) → qa,
    /// driven by random verdicts: a review without a verdict never passes; a request
    /// for revision is round n+1 of its state and the one past R goes to a human; an
    /// approval (and only an approval) reaches qa, with the rounds reset.
    #[test]
    fn verdicts_route_count_rounds_and_fail_closed(
        max_rounds in 0u32..4,
        verdicts in prop::collection::vec(verdict(), 1..12),
    ) {
        use crate::domain::verdict::{Verdict, VerdictKind};
        let mut m = machine();
        if let Some(StateSpec::Agent { next, .. }) = m.states.get_mut("implement") {
            *next = "finalize".into();
        }
        if let Some(StateSpec::Agent { review, .. }) = m.states.get_mut("finalize") {
            *review = Some(crate::domain::Review { needs_revision: "implement".into(), max_rounds });
        }
        let mut snap = ticket("T-1", "Todo");
        let mut rec: Option<IssueRecord> = None;
        let mut fx = Effects::default();
        let now = t0();
        let mut verdicts = verdicts.into_iter();
        let mut rounds = 0u32;
        let mut given: Option<Option<VerdictKind>> = None;
        for _ in 0..100 {
            let actions = decide(&snap, rec.as_ref(), &m, now);
            let entered_qa = actions.iter().any(|a| matches!(a, Action::Enter { to, .. } if to == "qa"));
            if let Some(v) = given.take() {
                let escalated = actions.iter().any(|a| matches!(a, Action::Escalate { .. }));
                match v {
                    None => prop_assert!(escalated && !entered_qa, "no verdict passed: {actions:?}"),
                    Some(VerdictKind::Approve) => {
                        prop_assert!(entered_qa, "{actions:?}");
                        rounds = 0;
                    }
                    Some(VerdictKind::NeedsRevision) if rounds + 1 > max_rounds => {
                        prop_assert!(escalated && !entered_qa, "round {} of {max_rounds}: {actions:?}", rounds + 1);
                    }
                    Some(VerdictKind::NeedsRevision) => {
                        rounds += 1;
                        let back = actions.iter().any(|a| matches!(a,
                            Action::Enter { to, cause: Cause::Rework { gate, count } }
                                if to == "implement" && gate == "finalize" && *count == rounds));
                        prop_assert!(back, "round {rounds}: {actions:?}");
                    }
                }
            } else {
                prop_assert!(!entered_qa, "qa without an approval: {actions:?}");
            }
            apply(&m, &mut snap, &mut rec, &actions, now, &mut fx);
            let r = rec.as_ref().unwrap();
            if matches!(r.phase, Phase::Escalated { .. }) || r.state == "qa" {
                if r.state == "qa" {
                    prop_assert_eq!(r.rework_count("finalize"), 0);
                }
                break;
            }
            if r.is_running() {
                let reviewing = r.state == "finalize";
                finish_run(&mut rec, true, now);
                if reviewing {
                    let Some(v) = verdicts.next() else { break };
                    if let Some(Phase::Succeeded { verdict, .. }) = rec.as_mut().map(|r| &mut r.phase) {
                        *verdict = v.map(|verdict| Verdict { verdict, summary: "s".into(), findings: vec![] });
                    }
                    given = Some(v);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// `picks_into_run` says exactly whether `decide` would start a run for a ticket
    /// without a record, whatever its column and blockers (the engine skips building
    /// such a decision when every slot is taken).
    #[test]
    fn picks_into_run_matches_decide(
        column in 0..COLUMNS.len(),
        blockers in prop::collection::vec(any::<bool>(), 0..3),
        entry_is_gate in any::<bool>(),
    ) {
        let mut m = machine();
        if entry_is_gate {
            m.entry = "review".into();
        }
        let mut snap = ticket("T-1", COLUMNS[column]);
        snap.blocked_by = blockers
            .iter()
            .enumerate()
            .map(|(i, resolved)| crate::domain::ticket::Blocker {
                identifier: format!("T-{}", i + 2),
                resolved: *resolved,
            })
            .collect();
        let starts = decide(&snap, None, &m, t0())
            .iter()
            .any(|a| matches!(a, Action::StartRun { .. }));
        prop_assert_eq!(crate::domain::decide::picks_into_run(&snap, &m), starts);
    }
}
