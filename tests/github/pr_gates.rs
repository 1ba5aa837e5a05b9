//! Gates decided by the ticket's pull request, end to end: the real binary on the fake
//! GitHub, workflow implement (pull_request: open) → ci (checks: required) → review
//! (reviews: either, merge: squash) → done. A failing check sends the ticket back with
//! its summary in the rework run's prompt; green checks approve the ci gate by
//! themselves; a review asking for changes sends it back with `path:line: text`; an
//! approving review approves and merges; checks pending past `checks_timeout` escalate.

use chrono::Utc;

use super::fake::{FakeCheck, FakeReview};
use super::pr_scratch::PrScratch;
use crate::e2e::support::events;

/// The scratch's workflow turned into implement → ci → review → done.
pub(super) fn checked(checks_timeout: &str) -> PrScratch {
    gated(checks_timeout, "    reviews: either\n    merge: squash\n")
}

/// implement → ci → review (with `review_keys`) → done.
fn gated(checks_timeout: &str, review_keys: &str) -> PrScratch {
    let p = PrScratch::new();
    let path = p.s.path().join("workflow.yaml");
    let wf = std::fs::read_to_string(&path).unwrap();
    let old_next = "    next: review\n    pull_request: open\n";
    let old_gate = "  review:\n    kind: gate\n    approve: finalize\n    rework: implement\n    max_rework: 2\n  finalize:\n    kind: agent\n    runner: demo\n    prompt: prompts/finalize.md\n    next: done\n";
    assert!(wf.contains(old_next) && wf.contains(old_gate), "{wf}");
    let gates = format!(
        "  ci:\n    kind: gate\n    approve: review\n    rework: implement\n    max_rework: 3\n    checks: required\n    checks_timeout: {checks_timeout}\n  review:\n    kind: gate\n    approve: done\n    rework: implement\n    max_rework: 3\n{review_keys}"
    );
    let wf = wf
        .replace(old_next, "    next: ci\n    pull_request: open\n")
        .replace(old_gate, &gates);
    std::fs::write(path, wf).unwrap();
    p
}

/// The head of the ticket's pull request on the forge.
pub(super) fn head(p: &PrScratch) -> String {
    let pr = p.pulls()[0].clone();
    p.tip(&pr.head_ref).expect("the head branch")
}

pub(super) fn set_checks(p: &PrScratch, sha: &str, checks: Vec<FakeCheck>) {
    p.s.fake.lock().pulls[0]
        .checks
        .insert(sha.to_string(), checks);
}

/// A review of the pull request's current head, submitted now.
fn review(p: &PrScratch, author: &str, state: &str, body: &str, comments: &[(&str, i64, &str)]) {
    let commit = head(p);
    p.s.fake.lock().pulls[0].reviews.push(FakeReview {
        commit,
        author: author.into(),
        state: state.into(),
        body: body.into(),
        submitted_at: Utc::now(),
        comments: comments
            .iter()
            .map(|(path, line, text)| (path.to_string(), Some(*line), text.to_string()))
            .collect(),
    });
}

/// The transitions of ticket 1: (from, to, actor, feedback).
pub(super) fn transitions(p: &PrScratch) -> Vec<(String, String, String, String)> {
    events(&p.db())
        .iter()
        .filter(|(k, _, _)| k == "transition")
        .map(|(_, _, e)| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("from"), s("to"), s("actor"), s("feedback"))
        })
        .collect()
}

/// The `prompt.md` of every run of `state`, oldest first.
fn prompts(p: &PrScratch, state: &str) -> Vec<String> {
    events(&p.db())
        .iter()
        .filter(|(k, _, e)| k == "run_started" && e["state"] == state)
        .map(|(_, _, e)| {
            let dir = std::path::PathBuf::from(e["log_dir"].as_str().unwrap());
            std::fs::read_to_string(dir.join("prompt.md")).unwrap()
        })
        .collect()
}

fn last_transition(p: &PrScratch) -> (String, String, String, String) {
    transitions(p).last().cloned().expect("a transition")
}

#[test]
fn checks_and_reviews_of_the_pull_request_decide_its_gates_until_it_is_merged() {
    let p = checked("30m");
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    assert_eq!(last_transition(&p).1, "ci", "{:?}", transitions(&p));
    assert_eq!(p.s.column(1), "Human Review");

    // No check reported yet: the gate waits.
    p.s.once();
    assert_eq!(last_transition(&p).1, "ci", "{:?}", transitions(&p));

    // A failing check sends the ticket back with its summary, by itself.
    let first = head(&p);
    set_checks(
        &p,
        &first,
        vec![
            FakeCheck::run(
                "build",
                "FAILURE",
                "2 tests failed",
                "test_greeting: expected hello",
            ),
            FakeCheck::Status {
                context: "lint".into(),
                state: "SUCCESS".into(),
                description: Some("clean".into()),
            },
        ],
    );
    p.s.once();
    let t = transitions(&p);
    let back = t
        .iter()
        .find(|(from, to, _, _)| from == "ci" && to == "implement")
        .unwrap_or_else(|| panic!("not sent back: {t:?}"));
    assert_eq!(back.2, "github:checks");
    assert!(
        back.3.contains("- build: FAILURE — 2 tests failed"),
        "{}",
        back.3
    );
    let implement = prompts(&p, "implement");
    assert_eq!(implement.len(), 2, "the rework ran");
    assert!(
        implement[1].contains("test_greeting: expected hello"),
        "{}",
        implement[1]
    );
    assert!(
        !implement[1].contains("clean"),
        "only failing checks: {}",
        implement[1]
    );
    assert_eq!(
        last_transition(&p).1,
        "ci",
        "back at the ci gate after the rework"
    );
    let second = head(&p);
    assert_ne!(second, first, "the rework was pushed");

    // The failing checks were of the old head: the new one waits for its own.
    p.s.once();
    assert_eq!(last_transition(&p).1, "ci");
    // Green checks approve the gate by themselves.
    set_checks(
        &p,
        &second,
        vec![FakeCheck::run("build", "SUCCESS", "ok", "all passed")],
    );
    p.s.once();
    let (from, to, actor, _) = last_transition(&p);
    assert_eq!(
        (from.as_str(), to.as_str(), actor.as_str()),
        ("ci", "review", "github:checks")
    );

    // A review asking for changes sends it back with its line comments.
    review(
        &p,
        "alice",
        "CHANGES_REQUESTED",
        "Please name the greeting.",
        &[("src/greet.rs", 3, "use a constant here")],
    );
    p.s.once();
    let t = transitions(&p);
    let back = t
        .iter()
        .rev()
        .find(|(from, to, _, _)| from == "review" && to == "implement")
        .unwrap_or_else(|| panic!("not sent back by the review: {t:?}"));
    assert_eq!(back.2, "github:alice");
    let implement = prompts(&p, "implement");
    assert_eq!(implement.len(), 3);
    assert!(
        implement[2].contains("src/greet.rs:3: use a constant here")
            && implement[2].contains("Please name the greeting."),
        "{}",
        implement[2]
    );
    let third = head(&p);
    set_checks(
        &p,
        &third,
        vec![FakeCheck::run("build", "SUCCESS", "ok", "all passed")],
    );
    p.s.once();
    assert_eq!(last_transition(&p).1, "review");
    // Alice's old review was answered by the rework: it does not send it back again.
    p.s.once();
    assert_eq!(last_transition(&p).1, "review", "{:?}", transitions(&p));
    assert!(!p.pulls()[0].merged);

    // An approving review approves, merges, and the ticket is done.
    review(&p, "bob", "APPROVED", "LGTM", &[]);
    p.s.once();
    assert!(p.pulls()[0].merged, "{:?}", p.pulls()[0]);
    assert_eq!(p.s.fake.lock().merge_requests.len(), 1);
    let (from, to, actor, _) = last_transition(&p);
    assert_eq!(
        (from.as_str(), to.as_str()),
        ("review", "done"),
        "{:?}",
        transitions(&p)
    );
    // The approval was bob's, recorded as such.
    assert_eq!(actor, "github:bob");
    let evs = events(&p.db());
    let merge_intent = evs
        .iter()
        .find(|(k, _, e)| k == "intent_recorded" && e["op"] == "merge")
        .expect("a merge intent");
    assert_eq!(merge_intent.2["head"], third.as_str());
}

#[test]
fn checks_pending_past_their_timeout_escalate() {
    let p = checked("2s");
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    assert_eq!(last_transition(&p).1, "ci");
    let sha = head(&p);
    set_checks(&p, &sha, vec![FakeCheck::running("build")]);
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    // Ends with an escalation, which `--once` reports in its exit status.
    p.s.karajan(&["run", "workflow.yaml", "--once"]);
    let evs = events(&p.db());
    let reasons: Vec<String> = evs
        .iter()
        .filter(|(k, _, _)| k == "escalated")
        .map(|(_, _, e)| e["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("did not finish within 2s") && r.contains("checks pending: build")),
        "{reasons:?}"
    );
    assert_eq!(p.s.column(1), "Human Review");
}

#[test]
fn a_gate_approved_by_reviews_only_waits_when_a_human_moves_it_to_approved() {
    let p = gated("30m", "    reviews: pull_request\n    reviewers: [bob]\n");
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    let sha = head(&p);
    set_checks(
        &p,
        &sha,
        vec![FakeCheck::run("build", "SUCCESS", "ok", "all passed")],
    );
    p.s.once();
    assert_eq!(last_transition(&p).1, "review");
    // A human's move to the approved column does not approve this gate: it waits.
    p.s.human_move(1, "Approved");
    p.s.once();
    assert_eq!(last_transition(&p).1, "review", "{:?}", transitions(&p));
    // Nor does a reviewer who is not among `reviewers`.
    review(&p, "mallory", "APPROVED", "ship it", &[]);
    p.s.once();
    assert_eq!(last_transition(&p).1, "review", "{:?}", transitions(&p));
    // Bob's review does.
    review(&p, "bob", "APPROVED", "LGTM", &[]);
    p.s.once();
    let (from, to, actor, _) = last_transition(&p);
    assert_eq!(
        (from.as_str(), to.as_str(), actor.as_str()),
        ("review", "done", "github:bob")
    );
}

#[test]
fn a_daemon_shows_what_the_gate_waits_for_and_approves_when_the_checks_turn_green() {
    use std::time::Duration;

    use super::pr_seen::{daemon, get};
    use crate::e2e::support::wait_for;

    let p = checked("30m");
    // A short poll, so the daemon reads the pull request again soon.
    let path = p.s.path().join("workflow.yaml");
    let wf = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, wf.replace("  interval: 5s\n", "  interval: 1s\n")).unwrap();
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    let sha = head(&p);
    set_checks(&p, &sha, vec![FakeCheck::running("build")]);
    let (_daemon, port) = daemon(&p);
    let mut state = serde_json::Value::Null;
    wait_for("the gate's waiting reason", Duration::from_secs(30), || {
        state = get(port, "/api/v1/state")
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or_default();
        state["gates"][0]["waiting_on"].is_string()
    });
    assert_eq!(
        state["gates"][0]["waiting_on"], "checks pending: build",
        "{state}"
    );
    // `karajan status` (a second process) shows it too, in text and JSON.
    let out = p.s.karajan(&["status", "workflow.yaml"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("waiting on checks pending: build"), "{text}");
    let out = p.s.karajan(&["status", "workflow.yaml", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ticket = json["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["identifier"] == "acme/app#1")
        .unwrap();
    assert_eq!(ticket["waiting_on"], "checks pending: build", "{json}");
    set_checks(
        &p,
        &sha,
        vec![FakeCheck::run("build", "SUCCESS", "ok", "all passed")],
    );
    wait_for("the ci gate approved", Duration::from_secs(30), || {
        transitions(&p)
            .iter()
            .any(|(from, to, actor, _)| from == "ci" && to == "review" && actor == "github:checks")
    });
}
