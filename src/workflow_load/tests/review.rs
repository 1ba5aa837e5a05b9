//! Review states (`verdicts:`): the routing compiled into the machine, and every problem
//! at its key.

use super::*;
use crate::domain::{Review, StateSpec};

/// BASE with a `check` review state between implement and the gate; `extra` is added to
/// the review state.
fn reviewing(extra: &str) -> String {
    let with = BASE
        .replacen(
            "runners:\n  demo:\n",
            "runners:\n  critic:\n    kind: command\n    command: ./critic.sh\n    family: critic\n  demo:\n",
            1,
        )
        .replacen(
            "    next: review\n",
            &format!(
                "    next: check\n  check:\n    kind: agent\n    runner: critic\n    prompt: prompts/implement.md\n{extra}"
            ),
            1,
        );
    assert_ne!(with, BASE);
    with
}

const ROUTED: &str = "    independent_of: implement\n    verdicts:\n      approve: review\n      needs_revision: implement\n";

#[test]
fn a_review_state_routes_by_its_verdicts() {
    let f = Fixture::new();
    let wf = f
        .load(&reviewing(&format!("{ROUTED}    max_rounds: 2\n")))
        .unwrap();
    assert_eq!(
        wf.machine.state("check"),
        Some(&StateSpec::Agent {
            next: "review".into(),
            column: "In Progress".into(),
            review: Some(Review {
                needs_revision: "implement".into(),
                max_rounds: 2,
            }),
        })
    );
    let wf = f.load(&reviewing(ROUTED)).unwrap();
    assert!(matches!(
        wf.machine.state("check"),
        Some(StateSpec::Agent { review: Some(r), .. }) if r.max_rounds == 3
    ));
}

#[test]
fn review_problems_are_reported_at_their_keys() {
    let f = Fixture::new();
    let e = f.error_at(
        &reviewing(&ROUTED.replace("needs_revision: implement", "needs_revision: implemnt")),
        "states.check.verdicts.needs_revision",
    );
    assert!(
        e.message.contains("did you mean `implement`"),
        "{}",
        e.message
    );
    let e = f.error_at(
        &reviewing(&ROUTED.replace("      approve: review\n", "")),
        "states.check.verdicts.approve",
    );
    assert!(e.message.contains("missing key"), "{}", e.message);
    let e = f.error_at(
        &reviewing(&format!("{ROUTED}    next: review\n")),
        "states.check.next",
    );
    assert!(e.message.contains("verdicts.approve"), "{}", e.message);
    let e = f.error_at(
        &reviewing(&ROUTED.replace("    independent_of: implement\n", "")),
        "states.check.independent_of",
    );
    assert!(e.message.contains("reviews"), "{}", e.message);
    let e = f.error_at(
        &reviewing("    next: review\n    max_rounds: 2\n"),
        "states.check.max_rounds",
    );
    assert!(
        e.message.contains("only to a review state"),
        "{}",
        e.message
    );
    let e = f.error_at(
        &reviewing(&ROUTED.replace("      approve: review\n", "      aprove: review\n")),
        "states.check.verdicts.aprove",
    );
    assert!(
        e.message.contains("did you mean `approve`"),
        "{}",
        e.message
    );
}

#[test]
fn after_run_must_pass_needs_an_after_run_hook() {
    let f = Fixture::new();
    let e = f.error_at(
        &reviewing(&format!("{ROUTED}    after_run_must_pass: true\n")),
        "states.check.after_run_must_pass",
    );
    assert!(e.message.contains("no `after_run` hook"), "{}", e.message);
    let wf = f
        .load(&reviewing(&format!(
            "{ROUTED}    after_run_must_pass: true\n    hooks:\n      after_run: make test\n"
        )))
        .unwrap();
    assert!(matches!(
        &wf.states["check"],
        crate::config::StateConfig::Agent(a) if a.after_run_must_pass
    ));
}
