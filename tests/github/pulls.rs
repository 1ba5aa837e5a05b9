//! Pull requests end to end: the real binary on the fake GitHub (tracker and forge in
//! one), pushing over git's smart HTTP to a bare repository that the fake's pull
//! requests read their branches from. A state with `pull_request: open` pushes the
//! ticket's branch and opens its pull request (`Closes #N`, the title from the
//! template); a rework updates the same pull request; an answer to the creation that
//! was lost, or a daemon killed while the creation was in flight, never opens a second.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::fake::TOKEN;
use super::pr_scratch::PrScratch;
use super::scratch::TOKEN_VAR;
use crate::e2e::support::{bin, count, events, wait_for};

#[test]
fn a_state_opens_one_pull_request_per_ticket_and_a_rework_updates_it() {
    let p = PrScratch::new();
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    assert_eq!(p.s.column(1), "Human Review");
    let pulls = p.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let pr = &pulls[0];
    assert!(pr.open && !pr.draft && pr.base == "main", "{pr:?}");
    assert_eq!(pr.title, "Add a greeting (acme/app#1)");
    assert!(pr.body.contains("Closes #1"), "{}", pr.body);
    assert!(
        p.tip(&pr.head_ref).is_some(),
        "the head branch {} is on the forge",
        pr.head_ref
    );
    let evs = events(&p.db());
    let opened: Vec<_> = evs
        .iter()
        .filter(|(k, _, _)| k == "pull_request_opened")
        .collect();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0].2["number"], pr.number);
    assert_eq!(opened[0].2["created"], true);
    // The push came before the pull request, in the ticket's chain.
    let order: Vec<&str> = evs
        .iter()
        .filter(|(k, _, _)| k == "intent_recorded")
        .map(|(_, _, p)| p["op"].as_str().unwrap())
        .filter(|op| *op == "push" || *op == "pull_request")
        .collect();
    assert_eq!(order, ["push", "pull_request"]);

    // A human asks for rework: the agent runs again, its new commit is pushed and the
    // same pull request is updated, not a second one opened.
    let first_tip = p.tip(&pr.head_ref).unwrap();
    p.s.human_move(1, "Rework");
    p.s.once();
    assert_eq!(p.s.column(1), "Human Review");
    assert_ne!(
        p.tip(&pr.head_ref).unwrap(),
        first_tip,
        "the rework was pushed"
    );
    assert_eq!(p.pulls().len(), 1, "{:?}", p.pulls());
    assert_eq!(p.creates(), 1);
    let evs = events(&p.db());
    assert_eq!(count(&evs, "pull_request_opened", "acme/app#1"), 2);
    let last = evs
        .iter()
        .rev()
        .find(|(k, _, _)| k == "pull_request_opened")
        .unwrap();
    assert_eq!(last.2["created"], false);
    assert_eq!(last.2["number"], pr.number);
}

#[test]
fn a_lost_answer_to_opening_the_pull_request_does_not_open_a_second() {
    let p = PrScratch::new();
    p.s.fake.lock().lose_pull_creates = 1;
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    assert_eq!(p.s.column(1), "Human Review");
    assert_eq!(p.pulls().len(), 1, "{:?}", p.pulls());
    assert_eq!(p.creates(), 1, "the lost creation was found, not repeated");
    let evs = events(&p.db());
    assert_eq!(count(&evs, "pull_request_opened", "acme/app#1"), 1);
    assert_eq!(count(&evs, "intent_failed", "acme/app#1"), 0);
}

#[test]
fn a_pull_request_github_refuses_escalates_the_ticket_with_the_reason() {
    let p = PrScratch::new();
    // The base branch does not exist on the forge: GitHub answers 422.
    let wf = std::fs::read_to_string(p.s.path().join("workflow.yaml")).unwrap();
    std::fs::write(
        p.s.path().join("workflow.yaml"),
        wf.replace(
            "  pull_request:\n",
            "  pull_request:\n    base: no-such-base\n",
        ),
    )
    .unwrap();
    p.s.add_issue(1, "Add a greeting", "Todo");
    // Ends with an escalation, which `--once` reports in its exit status.
    p.s.karajan(&["run", "workflow.yaml", "--once"]);
    assert!(p.pulls().is_empty());
    assert_eq!(p.creates(), 1, "a refusal is not retried");
    let evs = events(&p.db());
    let escalated: Vec<_> = evs
        .iter()
        .filter(|(k, _, _)| k == "escalated")
        .map(|(_, _, p)| p["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        escalated
            .iter()
            .any(|r| r.contains("pull request") && r.contains("`base` invalid")),
        "{escalated:?}"
    );
}

#[test]
fn a_daemon_killed_while_the_pull_request_is_opened_opens_one_after_restart() {
    let p = PrScratch::new();
    // GitHub carries out the creation, but its answer comes too late: the daemon is
    // killed while it waits, after the pull request exists.
    p.s.fake.lock().delay_pull_creates = Some(Duration::from_secs(30));
    p.s.add_issue(1, "Add a greeting", "Todo");
    let mut daemon = Command::new(bin())
        .args(["run", "workflow.yaml"])
        .current_dir(p.s.path())
        .env(TOKEN_VAR, TOKEN)
        .env("KARAJAN_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the pull request to exist", Duration::from_secs(60), || {
        !p.pulls().is_empty()
    });
    daemon.kill().unwrap(); // SIGKILL
    daemon.wait().unwrap();
    p.s.fake.lock().delay_pull_creates = None;
    let evs = events(&p.db());
    assert_eq!(
        count(&evs, "pull_request_opened", "acme/app#1"),
        0,
        "killed before the answer was recorded"
    );
    p.s.once();
    assert_eq!(p.s.column(1), "Human Review");
    assert_eq!(p.pulls().len(), 1, "{:?}", p.pulls());
    assert_eq!(p.creates(), 1, "found after the restart, not opened again");
    let evs = events(&p.db());
    assert_eq!(count(&evs, "pull_request_opened", "acme/app#1"), 1);
}
