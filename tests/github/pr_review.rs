//! A review agent's verdict posted on the ticket's pull request (issue 13), with the
//! real binary on the fake GitHub: implement (opens the pull request) → check (a review
//! agent) → the human gate. The first review asks for changes with a finding on a line
//! the pull request changes and one without a place; the second approves. Each verdict
//! becomes one pull-request review carrying karajan's marker; a token that opened the
//! pull request cannot approve it, so karajan falls back to a comment review, and a
//! lost answer to the post never posts the verdict twice.

use super::fake::BOT;
use super::pr_scratch::PrScratch;
use crate::e2e::support::events;

fn with_review_agent(p: &PrScratch) {
    p.s.script(
        "critic.sh",
        r#"#!/bin/sh
cat > /dev/null
if [ "$KARAJAN_RUN_NUMBER" = 1 ]; then
  printf '%s' '{"verdict":"needs_revision","summary":"Not yet.","findings":[{"path":"notes/acme_app_1.md","line":1,"severity":"error","text":"the heading is wrong"},{"severity":"note","text":"add a test"}]}' > "$KARAJAN_VERDICT_FILE"
else
  printf '%s' '{"verdict":"approve","summary":"Good now."}' > "$KARAJAN_VERDICT_FILE"
fi
"#,
    );
    let path = p.s.path().join("workflow.yaml");
    let wf = std::fs::read_to_string(&path).unwrap();
    let wf = wf
        .replace(
            "runners:\n  demo:\n",
            "runners:\n  critic:\n    kind: command\n    command: [\"./critic.sh\"]\n    family: critic\n  demo:\n",
        )
        .replace(
            "    next: review\n    pull_request: open\n",
            "    next: check\n    pull_request: open\n  check:\n    kind: agent\n    runner: critic\n    prompt: prompts/implement.md\n    independent_of: implement\n    verdicts:\n      approve: review\n      needs_revision: implement\n",
        );
    assert!(wf.contains("  check:\n"), "{wf}");
    std::fs::write(&path, wf).unwrap();
}

fn drive(p: &PrScratch) {
    for _ in 0..8 {
        p.s.karajan(&["run", "workflow.yaml", "--once"]);
        if p.s.column(1) == "Human Review" {
            return;
        }
    }
    panic!("never reached the human gate: {}", p.s.column(1));
}

fn review_posts(p: &PrScratch) -> usize {
    p.s.fake
        .requests()
        .iter()
        .filter(|r| r.starts_with("POST ") && r.ends_with("/reviews"))
        .count()
}

#[test]
fn each_verdict_is_one_review_on_the_pull_request_a_comment_when_the_token_opened_it() {
    let p = PrScratch::new();
    with_review_agent(&p);
    p.s.add_issue(1, "Add a greeting", "Todo");
    drive(&p);
    let pulls = p.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let reviews = &pulls[0].reviews;
    assert_eq!(reviews.len(), 2, "{reviews:?}");
    // GitHub refuses REQUEST_CHANGES and APPROVE on one's own pull request: comments.
    assert!(
        reviews
            .iter()
            .all(|r| r.author == BOT && r.state == "COMMENTED")
    );
    assert!(
        reviews[0].body.contains("changes requested"),
        "{}",
        reviews[0].body
    );
    assert!(
        reviews[0].body.contains("- [note] add a test"),
        "{}",
        reviews[0].body
    );
    assert!(reviews[0].body.contains("<!-- karajan:verdict run=r-"));
    assert_eq!(
        reviews[0].comments,
        [(
            "notes/acme_app_1.md".to_string(),
            Some(1),
            "[error] the heading is wrong".to_string()
        )]
    );
    assert!(reviews[1].body.contains("approved") && reviews[1].body.contains("Good now."));
    // The verdicts' reviews never decide anything by themselves; the record says
    // each was posted.
    let evs = events(&p.db());
    let posted = evs
        .iter()
        .filter(|(k, _, e)| k == "intent_recorded" && e["op"] == "post_review")
        .count();
    assert_eq!(posted, 2);
    assert_eq!(
        evs.iter().filter(|(k, _, _)| k == "intent_failed").count(),
        0
    );
}

#[test]
fn another_users_token_approves_and_requests_changes_and_a_lost_answer_posts_once() {
    let p = PrScratch::new();
    with_review_agent(&p);
    {
        let mut f = p.s.fake.lock();
        f.reviewer_is_other = true;
        f.lose_review_answers = 1;
    }
    p.s.add_issue(1, "Add a greeting", "Todo");
    drive(&p);
    let reviews = p.pulls()[0].reviews.clone();
    let states: Vec<&str> = reviews.iter().map(|r| r.state.as_str()).collect();
    assert_eq!(states, ["CHANGES_REQUESTED", "APPROVED"], "{reviews:?}");
    assert_eq!(p.s.fake.lock().lose_review_answers, 0, "an answer was lost");
    assert_eq!(
        review_posts(&p),
        2,
        "the lost answer was read back, not posted again"
    );
}
