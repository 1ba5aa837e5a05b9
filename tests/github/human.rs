//! A human's intent, read as the human meant it: an issue closed by hand is finished
//! (and never moved on by karajan), an approved label added beside the gate's label
//! approves, and an issue without a column says so.

use karajan::domain::TicketRef;
use karajan::tracker::Tracker;
use karajan::tracker::github::GithubTracker;

use super::fake::Fake;
use super::scratch::{GhScratch, label};
use super::{columns, config};

fn ticket(n: i64) -> TicketRef {
    TicketRef {
        id: format!("I_node{n}"),
        identifier: format!("acme/app#{n}"),
    }
}

/// A tracker that knows the workflow's columns, as `tracker::from_config` builds it.
fn workflow_tracker(fake: &Fake, mode: &str) -> GithubTracker {
    let c = config(fake, mode, "")
        .with_terminal_columns(columns(&["Done"]))
        .with_columns(columns(&[
            "Todo",
            "In Progress",
            "Human Review",
            "Approved",
            "Rework",
        ]))
        .with_human_columns(columns(&["Todo", "Approved", "Rework", "Done"]));
    GithubTracker::new(c).expect("tracker")
}

#[tokio::test]
async fn a_closed_issue_reads_as_done_in_both_modes() {
    for mode in ["project", "labels"] {
        let fake = Fake::start().await;
        match mode {
            "project" => fake.add_issue(1, Some("In Progress"), &[]),
            _ => fake.add_issue(1, None, &["karajan:in-progress"]),
        }
        fake.edit(1, |i| i.open = false);
        let t = workflow_tracker(&fake, mode);
        let got = t
            .fetch_by_identifiers(&["acme/app#1".to_string()])
            .await
            .expect("read");
        assert_eq!(got.len(), 1, "{mode}");
        assert_eq!(got[0].column, "Done", "{mode}: closed by hand means done");
        if mode == "project" {
            let swept = t.terminal_sweep().await.expect("sweep");
            assert_eq!(swept.tickets.len(), 1, "the sweep finds it");
            assert_eq!(swept.tickets[0].column, "Done");
        }
    }
}

#[tokio::test]
async fn a_closed_issue_is_never_moved_onward() {
    for mode in ["project", "labels"] {
        let fake = Fake::start().await;
        match mode {
            "project" => fake.add_issue(1, Some("In Progress"), &[]),
            _ => fake.add_issue(1, None, &["karajan:in-progress"]),
        }
        let t = workflow_tracker(&fake, mode);
        t.fetch_by_identifiers(&["acme/app#1".to_string()])
            .await
            .expect("read");
        fake.edit(1, |i| i.open = false);
        let err = t
            .move_ticket(&ticket(1), "Human Review")
            .await
            .expect_err("closed");
        assert!(!err.is_retryable(), "{mode}: {err:?}");
        assert!(err.to_string().contains("closed"), "{mode}: {err}");
        let issue = fake.issue(1);
        assert!(
            issue.status.as_deref() != Some("Human Review")
                && !issue.labels.contains(&label("Human Review")),
            "{mode}: moved a closed issue on: {issue:?}"
        );
        // Finishing it is fine.
        t.move_ticket(&ticket(1), "Done").await.expect("done");
    }
}

#[tokio::test]
async fn an_approved_label_beside_the_gate_label_approves() {
    let fake = Fake::start().await;
    fake.add_issue(1, None, &[&label("Human Review"), &label("Approved")]);
    let t = workflow_tracker(&fake, "labels");
    t.note_recorded_column("acme/app#1", "Human Review").await;
    let got = t
        .fetch_candidates(&columns(&["Human Review", "Approved"]))
        .await
        .expect("fetch");
    assert_eq!(got.tickets.len(), 1);
    assert_eq!(got.tickets[0].column, "Approved", "the human's newer move");
    assert!(
        fake.issue(1).labels.contains(&label("Approved")),
        "the human's label is kept"
    );
    // A second label that is no human move (karajan's own half-done move from
    // `In Progress`) still reads as the recorded column, repaired.
    let fake = Fake::start().await;
    fake.add_issue(2, None, &[&label("In Progress"), &label("Human Review")]);
    let t = workflow_tracker(&fake, "labels");
    t.note_recorded_column("acme/app#2", "Human Review").await;
    let got = t
        .fetch_candidates(&columns(&["In Progress", "Human Review"]))
        .await
        .expect("fetch");
    assert_eq!(got.tickets[0].column, "Human Review");
    assert_eq!(fake.issue(2).labels, vec![label("Human Review")]);
}

#[tokio::test]
async fn an_issue_off_the_project_reports_no_status() {
    let fake = Fake::start().await;
    fake.add_issue(1, None, &[]);
    let t = workflow_tracker(&fake, "project");
    let got = t
        .fetch_by_identifiers(&["acme/app#1".to_string()])
        .await
        .expect("read");
    assert_eq!(got[0].column, "(not on the project)");
    fake.edit(1, |i| i.status = Some(String::new()));
    let got = t
        .fetch_by_identifiers(&["acme/app#1".to_string()])
        .await
        .expect("read");
    assert_eq!(got[0].column, "(no status)");
    let fake = Fake::start().await;
    fake.add_issue(1, None, &[]);
    let t = workflow_tracker(&fake, "labels");
    let got = t
        .fetch_by_identifiers(&["acme/app#1".to_string()])
        .await
        .expect("read");
    assert_eq!(got[0].column, "(no state label)");
}

/// The issue is closed while its agent runs: when the run ends, karajan finishes the
/// ticket (`done`) instead of moving the closed issue on to the gate's column.
#[test]
fn an_issue_closed_mid_run_ends_done_and_is_not_moved_to_review() {
    let s = GhScratch::new("project", "");
    let dir = s.path().display().to_string();
    s.script(
        "recording-agent.sh",
        &format!(
            "#!/bin/sh\nenv > \"$KARAJAN_LOG_DIR/agent-env.txt\"\ntouch {dir}/started\nwhile [ ! -f {dir}/go ]; do sleep 0.1; done\nexec {dir}/agent.sh\n"
        ),
    );
    s.add_issue(1, "Add a greeting", "Todo");
    std::thread::scope(|scope| {
        let run = scope.spawn(|| s.once());
        crate::e2e::support::wait_for(
            "the agent to start",
            std::time::Duration::from_secs(60),
            || s.path().join("started").exists(),
        );
        s.fake.edit(1, |i| i.open = false);
        std::fs::write(s.path().join("go"), "").expect("go");
        run.join().expect("run");
    });
    let moves: Vec<String> = s
        .fake
        .lock()
        .moves
        .iter()
        .map(|(_, to)| to.clone())
        .collect();
    assert!(
        !moves.contains(&"Human Review".to_string()),
        "a closed issue was moved on: {moves:?}"
    );
    let finished: Vec<String> = crate::e2e::support::events(&s.path().join(".karajan/karajan.db"))
        .into_iter()
        .filter(|(k, _, _)| k == "transition")
        .map(|(_, _, p)| p["to"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(finished, ["implement", "done"], "closed by hand: finished");
    assert!(!s.fake.issue(1).open);
}

/// The project item of a ticket waiting at its gate is deleted: the ticket is held, and
/// the held column (in the store and the dashboard's read model) says why.
#[test]
fn a_deleted_project_item_holds_the_ticket_with_a_clear_column() {
    let s = GhScratch::new("project", "");
    s.add_issue(1, "Add a greeting", "Todo");
    s.once();
    assert_eq!(s.column(1), "Human Review");
    s.fake.edit(1, |i| i.status = None);
    let out = s.once();
    let held: Vec<String> = crate::e2e::support::events(&s.path().join(".karajan/karajan.db"))
        .into_iter()
        .filter(|(k, _, _)| k == "held")
        .map(|(_, _, p)| p["column"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(held, ["(not on the project)"]);
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.contains("WARN") && logs.contains("has no column") && logs.contains("acme/app#1"),
        "{logs}"
    );
}

/// The daemon is running an agent when a human closes the issue: the next poll stops the
/// agent and finishes the ticket.
#[test]
fn closing_an_issue_stops_its_running_agent() {
    use crate::e2e::support::{events, wait_for};
    use std::time::Duration;
    let s = GhScratch::new("project", "");
    let dir = s.path().display().to_string();
    s.script(
        "recording-agent.sh",
        &format!(
            "#!/bin/sh\necho $$ > {dir}/agent.pid\nwhile [ ! -f {dir}/go ]; do sleep 0.1; done\n"
        ),
    );
    s.add_issue(1, "Add a greeting", "Todo");
    let mut daemon = crate::e2e::support::command()
        .args(["run", "workflow.yaml"])
        .current_dir(s.path())
        .env("KARAJAN_LOG", "info")
        .env(super::scratch::TOKEN_VAR, super::fake::TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("daemon");
    let pid_file = s.path().join("agent.pid");
    wait_for("the agent to start", Duration::from_secs(60), || {
        pid_file.exists()
    });
    let agent: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    s.fake.edit(1, |i| i.open = false);
    let db = s.path().join(".karajan/karajan.db");
    let finished = || {
        events(&db)
            .iter()
            .any(|(k, _, p)| k == "transition" && p["to"] == "done")
    };
    let waited = std::panic::catch_unwind(|| {
        wait_for(
            "the ticket to be finished",
            Duration::from_secs(60),
            finished,
        )
    });
    let _ = std::process::Command::new("kill")
        .arg(daemon.id().to_string())
        .status();
    let _ = daemon.wait();
    std::fs::write(s.path().join("go"), "").expect("go");
    waited.expect("the closed issue was finished");
    let stopped = events(&db)
        .into_iter()
        .any(|(k, _, p)| k == "run_finished" && p["status"].to_string().contains("cancelled"));
    assert!(stopped, "the run was stopped");
    assert!(
        !std::path::Path::new(&format!("/proc/{agent}")).exists(),
        "the agent process is gone"
    );
}
