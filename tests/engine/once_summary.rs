//! Point 13: `run --once` says what happened (a summary on stdout, exit code 6 when a
//! run failed or a ticket was escalated); `status` and `history` show why a run failed;
//! logs show fields as words, not Rust debug text.

use super::support::edit_workflow;
use crate::e2e::support::{Scratch, stderr, stdout};

/// Exit code of `run --once` when a run failed or a ticket was escalated (README).
const RUN_FAILED: i32 = 6;

fn failing_agent(s: &Scratch) {
    s.script(
        "failing-agent.sh",
        "#!/bin/sh\ncat >/dev/null\necho 'API error 500' >&2\nexit 1\n",
    );
    edit_workflow(
        s,
        "command: [\"./agent.sh\"]",
        "command: [\"./failing-agent.sh\"]",
    );
}

#[test]
fn a_failed_run_is_summarized_and_exits_non_zero() {
    let s = Scratch::quickstart();
    failing_agent(&s);
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(
        out.status.code(),
        Some(RUN_FAILED),
        "stdout:\n{so}\nstderr:\n{se}"
    );
    for id in ["QS-1", "QS-2", "QS-3"] {
        let line = so
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{id} in the summary:\n{so}"));
        assert!(line.contains("implement"), "state reached: {line}");
        assert!(line.contains("runs 1"), "runs: {line}");
        assert!(line.contains("failed 1"), "failures: {line}");
        assert!(
            line.contains("retry") && line.contains("due"),
            "retry: {line}"
        );
        assert!(line.contains("API error 500"), "why: {line}");
    }
    // Failures are warnings.
    let finished = se
        .lines()
        .find(|l| l.contains("run finished"))
        .unwrap_or_else(|| panic!("a `run finished` line:\n{se}"));
    assert!(finished.contains("WARN"), "{finished}");
    assert!(!se.contains("Some("), "no Rust debug text in logs:\n{se}");

    // history and status say why.
    let h = s.karajan(&["history", "QS-1", "--workflow", "workflow.yaml"]);
    assert!(h.status.success(), "{}", stderr(&h));
    let hist = stdout(&h);
    let line = hist
        .lines()
        .find(|l| l.contains("run_finished"))
        .unwrap_or_else(|| panic!("{hist}"));
    assert!(line.contains("API error 500"), "{line}");
    assert!(!line.contains("null"), "{line}");
    let st = s.karajan(&["status", "workflow.yaml"]);
    assert!(st.status.success(), "{}", stderr(&st));
    assert!(stdout(&st).contains("API error 500"), "{}", stdout(&st));
}

#[test]
fn an_agent_that_cannot_start_says_why_in_history() {
    let s = Scratch::quickstart();
    edit_workflow(
        &s,
        "command: [\"./agent.sh\"]",
        "command: [\"./no-such-agent\"]",
    );
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    assert_eq!(out.status.code(), Some(RUN_FAILED), "{}", stderr(&out));
    let so = stdout(&out);
    assert!(
        so.contains("could not start `") && so.contains("no-such-agent`"),
        "{so}"
    );
    let h = s.karajan(&["history", "QS-2", "--workflow", "workflow.yaml"]);
    let hist = stdout(&h);
    assert!(
        hist.contains("no-such-agent`: No such file or directory"),
        "{hist}"
    );
}

#[test]
fn a_clean_once_exits_zero_with_a_summary_and_plain_logs() {
    let s = Scratch::quickstart();
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{se}");
    for id in ["QS-1", "QS-2", "QS-3"] {
        let line = so
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{id} in the summary:\n{so}"));
        assert!(line.contains("review"), "{line}");
        assert!(
            line.contains("runs 1") && line.contains("failed 0"),
            "{line}"
        );
    }
    assert!(!se.contains("Some("), "{se}");
    assert!(!se.contains("AgentFinished {"), "{se}");
    assert!(se.contains("agent finished"), "causes read as words:\n{se}");
}

#[test]
fn an_escalation_exits_non_zero() {
    let s = Scratch::quickstart();
    failing_agent(&s);
    edit_workflow(&s, "max_attempts: 3", "max_attempts: 1");
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    let so = stdout(&out);
    assert_eq!(out.status.code(), Some(RUN_FAILED), "{}", stderr(&out));
    assert!(so.contains("escalated"), "{so}");
    assert!(
        so.contains("API error 500"),
        "the escalation names the last failure: {so}"
    );
}
