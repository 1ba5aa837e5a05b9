//! Rework feedback from hand-written comments in a local ticket file: a plain heading
//! (`### bob`, no time) is a comment like any other, and what a reviewer writes after
//! karajan's gate comment reaches the rework run.

use super::support::{Scratch, events};

/// The feedback recorded with the transition into `implement` by rework.
fn rework_feedback(s: &Scratch, id: &str) -> Vec<serde_json::Value> {
    events(&s.db())
        .into_iter()
        .filter(|(k, i, p)| k == "transition" && i.as_deref() == Some(id) && p["cause"] == "rework")
        .map(|(_, _, p)| p["feedback"].clone())
        .collect()
}

#[test]
fn a_comment_under_a_plain_heading_is_rework_feedback() {
    let s = Scratch::quickstart();
    s.once();
    assert_eq!(s.column("QS-1"), "Human Review");
    let mut text = s.read_ticket("QS-1");
    text.push_str("\n### bob\n\nPlease also greet in French.\n");
    std::fs::write(s.ticket("QS-1"), text).unwrap();
    s.set_column("QS-1", "Rework");
    s.once();
    let feedback = rework_feedback(&s, "QS-1");
    assert_eq!(feedback.len(), 1, "one rework");
    let text = feedback[0].as_str().unwrap_or_default();
    assert!(
        text.contains("Please also greet in French."),
        "{feedback:?}"
    );
    assert!(text.starts_with("bob"), "the author is named: {text}");
}
