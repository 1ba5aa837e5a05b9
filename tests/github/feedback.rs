//! Rework feedback is never lost. GitHub stamps comments to the second, karajan records
//! the gate's entry to the millisecond: a reviewer who comments within that second was
//! dropped, and the agent was told it had been "sent back without written feedback".
//! Feedback is now what humans wrote after karajan's own gate comment, in the tracker's
//! order; and when the comments cannot be read, the rework waits for the next poll
//! instead of running without them.

use super::fake::OpFault;
use super::scratch::GhScratch;
use crate::e2e::support::events;

const FEEDBACK: &str = "Please rename `greet` to `welcome`.";

/// The moment the ticket entered its gate, as recorded, cut to GitHub's resolution.
fn gate_second(s: &GhScratch, id: &str) -> String {
    let db = s.path().join(".karajan/karajan.db");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let rec = rt.block_on(async {
        let store = karajan::store::Store::open_read_only(&db)
            .await
            .expect("store")
            .expect("exists");
        store.record(id).await.expect("read").expect("record")
    });
    assert_eq!(rec.state, "review");
    rec.entered_at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn rework_feedback(s: &GhScratch) -> Vec<serde_json::Value> {
    events(&s.path().join(".karajan/karajan.db"))
        .into_iter()
        .filter(|(k, _, p)| k == "transition" && p["cause"] == "rework")
        .map(|(_, _, p)| p["feedback"].clone())
        .collect()
}

/// The reviewer comments in the same second the gate was entered, then asks for rework.
fn reviewer_comments_in_the_gate_second(s: &GhScratch) {
    let at = gate_second(s, "acme/app#1");
    s.fake.edit(1, |i| {
        i.comments
            .push(("octocat".into(), FEEDBACK.into(), at.clone()))
    });
    s.human_move(1, "Rework");
}

#[test]
fn a_comment_in_the_same_second_as_the_gate_is_feedback() {
    let s = GhScratch::new("project", "");
    s.add_issue(1, "Add a greeting", "Todo");
    s.once();
    assert_eq!(s.column(1), "Human Review");
    reviewer_comments_in_the_gate_second(&s);
    s.once();
    let feedback = rework_feedback(&s);
    assert_eq!(feedback.len(), 1, "{feedback:?}");
    assert!(
        feedback[0].as_str().unwrap_or_default().contains(FEEDBACK),
        "{feedback:?}"
    );
}

#[test]
fn the_rework_waits_when_its_comments_cannot_be_read() {
    let s = GhScratch::new("project", "");
    s.add_issue(1, "Add a greeting", "Todo");
    s.once();
    reviewer_comments_in_the_gate_second(&s);
    // Every try of the next comment read fails (the first try and three retries).
    let seen = s
        .fake
        .lock()
        .op_seen
        .get("IssueComments")
        .copied()
        .unwrap_or(0);
    for n in seen + 1..=seen + 4 {
        s.fake
            .inject_at("IssueComments", n, OpFault::something_went_wrong());
    }
    s.once();
    assert!(
        rework_feedback(&s).is_empty(),
        "no rework without its feedback"
    );
    assert_eq!(
        s.column(1),
        "Rework",
        "the ticket waits where the human put it"
    );
    s.once();
    let feedback = rework_feedback(&s);
    assert_eq!(feedback.len(), 1, "{feedback:?}");
    assert!(
        feedback[0].as_str().unwrap_or_default().contains(FEEDBACK),
        "{feedback:?}"
    );
}
