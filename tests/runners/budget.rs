//! Budgets stop runs for real: a run over `per_run_usd` is stopped and handed to a
//! human (not retried), a ticket whose `per_ticket_usd` is spent gets no more runs, and
//! a spent `per_day_usd` pauses dispatch. Every decision is an event. The fake Claude
//! CLI reports $0.0421 per run.

use karajan::config::RunnerKind;

use super::fake;
use crate::e2e::support::{Scratch, events};

fn workflow(claude: &str, budget: &str, max_concurrent: u32) -> String {
    format!(
        r#"tracker:
  kind: local
  dir: ./tickets
workspace:
  root: ./.karajan/workspaces
  repo: ./demo-repo.git
runners:
  claude:
    kind: claude
    command: ["{claude}"]
agent:
  max_concurrent: {max_concurrent}
  max_attempts: 3
  kill_grace: 2s
budget:
{budget}
states:
  implement:
    kind: agent
    runner: claude
    prompt: prompts/implement.md
    next: check
  check:
    kind: agent
    runner: claude
    prompt: prompts/finalize.md
    next: review
  review:
    kind: gate
    approve: done
    rework: implement
  done:
    kind: terminal
"#
    )
}

type Events = Vec<(String, Option<String>, serde_json::Value)>;

fn of<'a>(all: &'a Events, kind: &str, id: &str) -> Vec<&'a serde_json::Value> {
    all.iter()
        .filter(|(k, i, _)| k == kind && i.as_deref() == Some(id))
        .map(|(_, _, p)| p)
        .collect()
}

fn setup(budget: &str, max_concurrent: u32) -> Scratch {
    let s = Scratch::quickstart();
    let claude = fake(RunnerKind::Claude).display().to_string();
    std::fs::write(s.workflow(), workflow(&claude, budget, max_concurrent)).unwrap();
    s
}

#[test]
fn a_run_over_its_budget_is_stopped_escalated_and_not_retried() {
    let s = setup("  per_run_usd: 0.01", 3);
    s.once_exiting(6); // escalated (README: exit 6)
    s.once();
    let all = events(&s.db());
    for id in ["QS-1", "QS-2", "QS-3"] {
        assert_eq!(s.column(id), "Human Review", "{id} handed to a human");
        assert_eq!(of(&all, "run_started", id).len(), 1, "{id} was not retried");
        let finished = of(&all, "run_finished", id);
        assert_eq!(finished[0]["status"], "budget_exceeded");
        let decision = of(&all, "budget_decision", id);
        assert_eq!(decision.len(), 1);
        assert_eq!(decision[0]["scope"], "run");
        assert_eq!(decision[0]["action"], "stopped_run");
        assert!(
            s.read_ticket(id).contains("budget"),
            "the comment explains why"
        );
    }
}

#[test]
fn a_spent_ticket_budget_refuses_further_runs() {
    let s = setup("  per_ticket_usd: 0.05", 1);
    s.once(); // QS-2 implement: $0.0421 of $0.05, then `check` is due
    s.once_exiting(6); // QS-2 check: capped at what is left, goes over: stopped
    let all = events(&s.db());
    let finished = of(&all, "run_finished", "QS-2");
    assert_eq!(finished.len(), 2);
    assert_eq!(finished[0]["status"], "succeeded");
    assert_eq!(finished[1]["status"], "budget_exceeded");
    assert_eq!(s.column("QS-2"), "Human Review");
    // A human sends it back anyway: the ticket's budget is spent, no agent starts.
    s.set_column("QS-2", "Rework");
    s.once_exiting(6); // escalated (README: exit 6)
    let all = events(&s.db());
    let refused = of(&all, "budget_decision", "QS-2");
    assert!(
        refused
            .iter()
            .any(|d| d["scope"] == "ticket" && d["action"] == "refused_run"),
        "{refused:?}"
    );
    assert_eq!(of(&all, "run_spawned", "QS-2").len(), 2, "no third agent");
    assert_eq!(s.column("QS-2"), "Human Review", "escalated again");
}

#[test]
fn a_spent_day_budget_pauses_dispatch() {
    let s = setup("  per_day_usd: 0.05", 1);
    s.once(); // QS-2: $0.0421
    s.once(); // next: $0.0842 today
    s.once(); // over the day's budget: nothing starts
    let all = events(&s.db());
    let started = all.iter().filter(|(k, _, _)| k == "run_started").count();
    assert_eq!(started, 2, "dispatch paused after the budget was spent");
    let paused: Vec<_> = all
        .iter()
        .filter(|(k, i, p)| {
            k == "budget_decision" && i.is_none() && p["action"] == "dispatch_paused"
        })
        .collect();
    assert_eq!(paused.len(), 1, "{paused:?}");
    assert_eq!(paused[0].2["scope"], "day");
    assert!(
        paused[0].2["until"]
            .as_str()
            .unwrap()
            .ends_with("T00:00:00Z")
    );
}
