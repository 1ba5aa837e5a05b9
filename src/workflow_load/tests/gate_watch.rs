//! A gate's pull-request keys (`checks`, `checks_timeout`, `reviews`, `reviewers`):
//! compiled to `PrWatch`, every problem at its key, and a forge with pull requests.

use super::*;
use crate::domain::{PrWatch, ReviewSource, StateSpec};

const FORGE: &str = "forge:\n  kind: github\n  repo: acme/app\n  token: x\n";

/// BASE with `keys` on its gate, a GitHub forge, and `implement` opening the pull
/// request the gate reads.
fn gate_with(keys: &str) -> String {
    let with = BASE
        .replacen(
            "    rework: implement\n",
            &format!("    rework: implement\n{keys}"),
            1,
        )
        .replacen(
            "    next: review\n",
            "    next: review\n    pull_request: open\n",
            1,
        );
    format!("{with}{FORGE}")
}

fn watch_of(wf: &crate::config::Workflow) -> Option<PrWatch> {
    match wf.machine.state("review") {
        Some(StateSpec::Gate { watch, .. }) => watch.clone(),
        other => panic!("not a gate: {other:?}"),
    }
}

#[test]
fn a_gate_waits_on_checks_and_reviews_of_the_pull_request() {
    let f = Fixture::new();
    let wf = f
        .load(&gate_with(
            "    checks: required\n    checks_timeout: 10m\n    reviews: either\n    reviewers: [alice, bob]\n",
        ))
        .unwrap();
    let w = watch_of(&wf).expect("a watch");
    assert!(w.checks);
    assert_eq!(w.checks_timeout_secs, 600);
    assert_eq!(w.reviews, ReviewSource::Either);
    assert_eq!(w.reviewers, vec!["alice".to_string(), "bob".to_string()]);
    // Defaults: 30 minutes; reviews by the tracker.
    let w = watch_of(&f.load(&gate_with("    checks: required\n")).unwrap()).unwrap();
    assert_eq!(w.checks_timeout_secs, 1800);
    assert_eq!(w.reviews, ReviewSource::Tracker);
    let w = watch_of(&f.load(&gate_with("    reviews: pull_request\n")).unwrap()).unwrap();
    assert!(!w.checks);
    assert!(!w.column_approves());
    // Nothing read from the pull request: no watch at all.
    assert_eq!(
        watch_of(&f.load(&gate_with("    reviews: tracker\n")).unwrap()),
        None
    );
    assert_eq!(watch_of(&f.load(&gate_with("")).unwrap()), None);
}

#[test]
fn gate_watch_problems_are_reported_at_their_keys() {
    let f = Fixture::new();
    let e = f.error_at(&gate_with("    checks: requried\n"), "states.review.checks");
    assert!(
        e.message.contains("did you mean `required`"),
        "{}",
        e.message
    );
    let e = f.error_at(
        &gate_with("    reviews: pull_requests\n"),
        "states.review.reviews",
    );
    assert!(
        e.message.contains("did you mean `pull_request`"),
        "{}",
        e.message
    );
    let e = f.error_at(
        &gate_with("    checks: required\n    checks_timeout: soon\n"),
        "states.review.checks_timeout",
    );
    assert!(e.message.contains("invalid duration"), "{}", e.message);
    let e = f.error_at(
        &gate_with("    checks_timeout: 5m\n"),
        "states.review.checks_timeout",
    );
    assert!(
        e.message.contains("only with `checks: required`"),
        "{}",
        e.message
    );
    let e = f.error_at(
        &gate_with("    reviewers: [alice]\n"),
        "states.review.reviewers",
    );
    assert!(
        e.message.contains("only with `reviews: pull_request`"),
        "{}",
        e.message
    );
    let e = f.error_at(&gate_with("    chekcs: required\n"), "states.review.chekcs");
    assert!(e.message.contains("did you mean `checks`"), "{}", e.message);
    // A forge without pull requests, or none.
    let no_forge = gate_with("    checks: required\n").replace(FORGE, "");
    let e = f.error_at(&no_forge, "states.review.checks");
    assert!(e.message.contains("no `forge:` section"), "{}", e.message);
    let git = gate_with("    reviews: either\n").replace(FORGE, "forge:\n  kind: git\n");
    let e = f.error_at(&git, "states.review.reviews");
    assert!(e.message.contains("no pull requests"), "{}", e.message);
    // `checks` is a gate key: an agent state does not take it.
    let on_agent = BASE.replacen(
        "    next: review\n",
        "    next: review\n    checks: required\n",
        1,
    );
    let e = f.error_at(&format!("{on_agent}{FORGE}"), "states.implement.checks");
    assert!(!e.message.is_empty());
}

#[test]
fn a_gate_that_reads_or_merges_a_pull_request_needs_a_state_that_opens_one() {
    let f = Fixture::new();
    for (keys, key) in [
        ("    checks: required\n", "states.review.checks"),
        ("    reviews: either\n", "states.review.reviews"),
        ("    merge: squash\n", "states.review.merge"),
    ] {
        let yaml = gate_with(keys).replace("    pull_request: open\n", "");
        let e = f.error_at(&yaml, key);
        assert!(
            e.message.contains("pull_request: open"),
            "{key}: {}",
            e.message
        );
    }
}
