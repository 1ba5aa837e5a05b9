use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::domain::ReviewSource;
use crate::forge::{Checks, LineComment};

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn watch(checks: bool, reviews: ReviewSource) -> PrWatch {
    PrWatch {
        checks,
        checks_timeout_secs: 600,
        reviews,
        reviewers: vec![],
    }
}

fn check(name: &str, pending: bool, failed: bool, conclusion: &str) -> Check {
    Check {
        name: name.into(),
        pending,
        failed,
        conclusion: conclusion.into(),
        title: Some(format!("{name} title")),
        summary: Some(format!("{name} summary")),
        text: None,
        url: None,
    }
}

fn pr(rollup: Option<Rollup>, items: Vec<Check>, reviews: Vec<Review>) -> PrStatus {
    PrStatus {
        number: 7,
        state: "OPEN".into(),
        merged: false,
        head: "abc123".into(),
        reviews,
        checks: rollup.map(|rollup| Checks {
            commit: "abc123".into(),
            rollup,
            items,
        }),
    }
}

fn review(login: &str, state: ReviewState, secs: i64) -> Review {
    Review {
        author: Some(login.into()),
        state,
        body: format!("{login} says"),
        submitted_at: Some(at(secs)),
        commit: Some("abc123".into()),
        comments: vec![LineComment {
            path: "src/lib.rs".into(),
            line: Some(12),
            body: "off by one".into(),
        }],
    }
}

const ENTERED: i64 = 100;

fn judge(pr: &PrStatus, w: &PrWatch, now: i64) -> Verdict {
    verdict(pr, w, Some("abc123"), at(ENTERED), at(now))
}

#[test]
fn the_rollup_decides_a_checks_gate() {
    let w = watch(true, ReviewSource::Tracker);
    let green = pr(
        Some(Rollup::Success),
        vec![check("build", false, false, "SUCCESS")],
        vec![],
    );
    assert_eq!(
        judge(&green, &w, 200),
        Verdict::Approve {
            actor: "github:checks".into()
        }
    );
    for state in [Rollup::Failure, Rollup::Error] {
        let red = pr(
            Some(state),
            vec![
                check("build", false, true, "FAILURE"),
                check("lint", false, false, "SUCCESS"),
            ],
            vec![],
        );
        let Verdict::Rework { actor, feedback } = judge(&red, &w, 200) else {
            panic!("not a rework")
        };
        assert_eq!(actor, "github:checks");
        assert!(
            feedback.contains("- build: FAILURE — build title\nbuild summary"),
            "{feedback}"
        );
        assert!(!feedback.contains("lint"), "{feedback}");
    }
    for state in [Some(Rollup::Pending), Some(Rollup::Expected), None] {
        let pending = pr(
            state,
            vec![check("build", true, false, "IN_PROGRESS")],
            vec![],
        );
        assert!(
            matches!(judge(&pending, &w, 200), Verdict::Wait(_)),
            "{state:?}"
        );
        // Past the timeout since the gate was entered: escalated, naming what is pending.
        let Verdict::Escalate { reason } = judge(&pending, &w, ENTERED + 601) else {
            panic!("not escalated")
        };
        if state.is_some() {
            assert!(reason.contains("checks pending: build"), "{reason}");
        } else {
            assert!(reason.contains("no check has reported yet"), "{reason}");
        }
    }
}

#[test]
fn only_the_head_karajan_pushed_counts() {
    let w = watch(true, ReviewSource::Tracker);
    let red = pr(
        Some(Rollup::Failure),
        vec![check("build", false, true, "FAILURE")],
        vec![],
    );
    // A push karajan made is not on the pull request yet (or someone else pushed).
    let v = verdict(&red, &w, Some("def456"), at(ENTERED), at(ENTERED + 5_000));
    assert!(
        matches!(v, Verdict::Wait(ref why) if why.contains("karajan last pushed def456")),
        "{v:?}"
    );
    // Checks of an older commit than the head do not count.
    let mut stale = red.clone();
    stale.checks.as_mut().unwrap().commit = "old".into();
    assert!(matches!(judge(&stale, &w, 200), Verdict::Wait(_)));
    // A merged or closed pull request: not this gate's business.
    let mut merged = red.clone();
    merged.merged = true;
    merged.state = "MERGED".into();
    assert!(matches!(judge(&merged, &w, 200), Verdict::Wait(_)));
}

#[test]
fn reviews_send_back_or_approve() {
    let w = watch(false, ReviewSource::Either);
    let changes = pr(
        None,
        vec![],
        vec![review("alice", ReviewState::ChangesRequested, 150)],
    );
    let Verdict::Rework { actor, feedback } = judge(&changes, &w, 200) else {
        panic!("not a rework")
    };
    assert_eq!(actor, "github:alice");
    assert_eq!(
        feedback,
        "alice requested changes on the pull request:\nalice says\nsrc/lib.rs:12: off by one"
    );
    let approved = pr(
        None,
        vec![],
        vec![
            review("bob", ReviewState::Commented, 150),
            review("alice", ReviewState::Approved, 150),
        ],
    );
    assert_eq!(
        judge(&approved, &w, 200),
        Verdict::Approve {
            actor: "github:alice".into()
        }
    );
    // Reviews from before the gate was entered were answered by the rework since.
    let old = pr(
        None,
        vec![],
        vec![review("alice", ReviewState::ChangesRequested, 50)],
    );
    assert!(matches!(judge(&old, &w, 200), Verdict::Wait(_)));
    let old = pr(
        None,
        vec![],
        vec![review("alice", ReviewState::Approved, 50)],
    );
    assert!(matches!(judge(&old, &w, 200), Verdict::Wait(_)));
    // A review of an older commit was answered by the push since.
    let mut stale = changes.clone();
    stale.reviews[0].commit = Some("old".into());
    assert!(matches!(judge(&stale, &w, 200), Verdict::Wait(_)));
    let mut stale = approved.clone();
    stale.reviews[1].commit = None;
    assert!(matches!(judge(&stale, &w, 200), Verdict::Wait(_)));
    // Same second as the entry (GitHub's times are whole seconds): counts.
    let mut same = pr(
        None,
        vec![],
        vec![review("alice", ReviewState::Approved, 0)],
    );
    same.reviews[0].submitted_at = Some(at(ENTERED));
    let entered = at(ENTERED) + chrono::Duration::milliseconds(400);
    assert!(matches!(
        verdict(&same, &w, Some("abc123"), entered, at(200)),
        Verdict::Approve { .. }
    ));
    // Only the named reviewers count.
    let mut only_bob = w.clone();
    only_bob.reviewers = vec!["bob".into()];
    assert!(matches!(judge(&changes, &only_bob, 200), Verdict::Wait(_)));
    // `reviews: tracker` reads no review.
    let tracker = watch(true, ReviewSource::Tracker);
    let green_but_changes = pr(
        Some(Rollup::Success),
        vec![],
        vec![review("alice", ReviewState::ChangesRequested, 150)],
    );
    assert!(matches!(
        judge(&green_but_changes, &tracker, 200),
        Verdict::Approve { .. }
    ));
}

#[test]
fn a_gate_with_checks_and_reviews_needs_both() {
    let w = watch(true, ReviewSource::PullRequest);
    let approved_pending = pr(
        Some(Rollup::Pending),
        vec![check("build", true, false, "QUEUED")],
        vec![review("alice", ReviewState::Approved, 150)],
    );
    assert!(matches!(
        judge(&approved_pending, &w, 200),
        Verdict::Wait(_)
    ));
    let green_unreviewed = pr(Some(Rollup::Success), vec![], vec![]);
    assert!(
        matches!(judge(&green_unreviewed, &w, 200), Verdict::Wait(ref w) if w.contains("approving review"))
    );
    let mut both = green_unreviewed.clone();
    both.reviews = vec![review("alice", ReviewState::Approved, 150)];
    assert!(matches!(judge(&both, &w, 200), Verdict::Approve { .. }));
    // Changes requested win over pending checks.
    let mut changes = approved_pending.clone();
    changes.reviews = vec![review("carol", ReviewState::ChangesRequested, 150)];
    assert!(
        matches!(judge(&changes, &w, 200), Verdict::Rework { ref actor, .. } if actor == "github:carol")
    );
}

#[test]
fn the_checks_feedback_is_bounded() {
    let mut big = check("build", false, true, "TIMED_OUT");
    big.text = Some("é".repeat(5_000));
    let one = checks_feedback("abc123", std::slice::from_ref(&big));
    assert!(one.len() <= PER_CHECK + 40, "{}", one.len());
    assert!(one.contains("… (cut)"));
    assert!(one.contains("- build: TIMED_OUT — build title"));
    let many: Vec<Check> = (0..20)
        .map(|i| {
            let mut c = big.clone();
            c.name = format!("job-{i}");
            c
        })
        .collect();
    let all = checks_feedback("abc123", &many);
    assert!(all.len() <= ALL_CHECKS, "{}", all.len());
    assert!(all.contains("job-0") && !all.contains("job-19"));
    assert!(all.contains("more failing checks left out"));
}

#[test]
fn a_review_agents_verdict_posted_by_karajan_never_decides_a_gate() {
    let w = watch(false, ReviewSource::PullRequest);
    let mut mine = review("karajan-bot", ReviewState::Approved, 150);
    mine.body = format!(
        "**karajan review** (`check`): approved\n\n{}",
        crate::forge::review_post::marker("r-1")
    );
    assert!(matches!(
        judge(&pr(None, vec![], vec![mine.clone()]), &w, 200),
        Verdict::Wait(_)
    ));
    mine.state = ReviewState::ChangesRequested;
    assert!(matches!(
        judge(&pr(None, vec![], vec![mine]), &w, 200),
        Verdict::Wait(_)
    ));
}
