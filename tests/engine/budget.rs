//! Point 14: `budget.per_run_usd` holds for `kind: command` runners as for the agent
//! CLIs: a run that reports a cost above its cap is stopped and the ticket escalated.

use std::time::{Duration, Instant};

use super::support::edit_workflow;
use crate::e2e::support::{Scratch, events, stderr};

#[test]
fn a_command_runner_over_its_run_budget_is_stopped_and_escalated() {
    let s = Scratch::quickstart();
    for f in ["QS-2", "QS-3"] {
        std::fs::remove_file(s.path().join(format!("tickets/{f}.md"))).unwrap();
    }
    // Reports $5 at once, then would go on working for 30 s.
    s.script(
        "costly-agent.sh",
        "#!/bin/sh\ncat >/dev/null\necho '{\"cost_usd\": 5.0}'\nsleep 30\n",
    );
    edit_workflow(
        &s,
        "command: [\"./agent.sh\"]",
        "command: [\"./costly-agent.sh\"]",
    );
    let wf = std::fs::read_to_string(s.workflow()).unwrap();
    std::fs::write(s.workflow(), format!("{wf}budget:\n  per_run_usd: 1.0\n")).unwrap();
    let started = Instant::now();
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the agent was stopped at the cap, not left to finish"
    );
    let evs = events(&s.db());
    let finished: Vec<_> = evs
        .iter()
        .filter(|(k, i, _)| k == "run_finished" && i.as_deref() == Some("QS-1"))
        .collect();
    assert_eq!(finished.len(), 1, "{}", stderr(&out));
    assert_eq!(
        finished[0].2["status"], "budget_exceeded",
        "{:?}",
        finished[0]
    );
    assert!(
        evs.iter()
            .any(|(k, i, _)| k == "escalated" && i.as_deref() == Some("QS-1")),
        "the ticket is escalated"
    );
    assert_eq!(s.column("QS-1"), "Human Review");
}

#[test]
fn a_command_runner_reporting_its_cost_last_is_over_budget_too() {
    let s = Scratch::quickstart();
    for f in ["QS-2", "QS-3"] {
        std::fs::remove_file(s.path().join(format!("tickets/{f}.md"))).unwrap();
    }
    s.script(
        "costly-agent.sh",
        "#!/bin/sh\ncat >/dev/null\necho '{\"cost_usd\": 5.0}'\n",
    );
    edit_workflow(
        &s,
        "command: [\"./agent.sh\"]",
        "command: [\"./costly-agent.sh\"]",
    );
    let wf = std::fs::read_to_string(s.workflow()).unwrap();
    std::fs::write(s.workflow(), format!("{wf}budget:\n  per_run_usd: 1.0\n")).unwrap();
    let _ = s.karajan(&["run", "workflow.yaml", "--once"]);
    let evs = events(&s.db());
    let status: Vec<_> = evs
        .iter()
        .filter(|(k, _, _)| k == "run_finished")
        .map(|(_, _, p)| p["status"].clone())
        .collect();
    assert_eq!(status, vec![serde_json::json!("budget_exceeded")]);
}
