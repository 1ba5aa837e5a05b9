//! A move and its comment: one GraphQL document in project mode (outcomes per part),
//! the REST calls one by one in labels mode.

use karajan::domain::TicketRef;
use karajan::tracker::{Tracker, TrackerError};

use super::fake::{Fake, OpFault};
use super::tracker;

fn ticket(n: i64) -> TicketRef {
    TicketRef {
        id: format!("I_node{n}"),
        identifier: format!("acme/app#{n}"),
    }
}

fn sent(fake: &Fake, op: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.ends_with(&format!(" {op}")))
        .count()
}

#[tokio::test]
async fn project_mode_sends_both_mutations_in_one_document() {
    let fake = Fake::start().await;
    fake.add_issue(1, Some("Todo"), &[]);
    let t = tracker(&fake, "project", "");
    let (moved, commented) = t
        .move_and_comment(&ticket(1), "In Progress", "Started")
        .await;
    moved.unwrap();
    commented.unwrap();
    assert_eq!(fake.issue(1).status.as_deref(), Some("In Progress"));
    let comments = fake.issue(1).comments.clone();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].1, "Started");
    assert_eq!(sent(&fake, "MoveAndComment"), 1);
    assert_eq!(
        sent(&fake, "UpdateItemStatus") + sent(&fake, "AddComment"),
        0
    );
}

#[tokio::test]
async fn project_mode_refuses_a_bad_move_before_writing_anything() {
    let fake = Fake::start().await;
    fake.add_issue(1, Some("Todo"), &[]);
    fake.add_issue(2, Some("Todo"), &[]);
    let t = tracker(&fake, "project", "");
    let (moved, commented) = t.move_and_comment(&ticket(1), "No Such Column", "x").await;
    assert!(matches!(moved, Err(TrackerError::Fatal(_))), "{moved:?}");
    assert!(
        matches!(commented, Err(TrackerError::NotAttempted(_))),
        "{commented:?}"
    );
    fake.lock().issues[1].open = false;
    let (moved, commented) = t.move_and_comment(&ticket(2), "In Progress", "x").await;
    assert!(matches!(moved, Err(TrackerError::Closed(_))), "{moved:?}");
    assert!(
        matches!(commented, Err(TrackerError::NotAttempted(_))),
        "{commented:?}"
    );
    assert!(fake.issue(1).comments.is_empty() && fake.issue(2).comments.is_empty());
    assert_eq!(sent(&fake, "MoveAndComment"), 0, "refused before any write");
}

#[tokio::test]
async fn project_mode_lost_answer_is_unconfirmed_for_both_and_not_resent() {
    let fake = Fake::start().await;
    fake.add_issue(1, Some("Todo"), &[]);
    let t = tracker(&fake, "project", "");
    fake.inject_at(
        "MoveAndComment",
        1,
        OpFault {
            execute: true,
            ..OpFault::empty_200()
        },
    );
    let (moved, commented) = t.move_and_comment(&ticket(1), "In Progress", "x").await;
    for part in [moved.map(|_| ()), commented] {
        assert!(
            matches!(part, Err(TrackerError::Unconfirmed(_))),
            "{part:?}"
        );
    }
    assert_eq!(sent(&fake, "MoveAndComment"), 1);
    assert_eq!(fake.issue(1).status.as_deref(), Some("In Progress"));
    assert_eq!(fake.issue(1).comments.len(), 1, "posted once");
}

#[tokio::test]
async fn labels_mode_moves_then_comments_over_rest() {
    let fake = Fake::start().await;
    fake.add_issue(1, None, &["karajan:todo"]);
    let t = tracker(&fake, "labels", "");
    let (moved, commented) = t
        .move_and_comment(&ticket(1), "In Progress", "Started")
        .await;
    moved.unwrap();
    commented.unwrap();
    assert_eq!(fake.issue(1).comments.len(), 1);
    assert!(
        fake.issue(1)
            .labels
            .iter()
            .any(|l| l == "karajan:in-progress"),
        "{:?}",
        fake.issue(1).labels
    );
    assert_eq!(sent(&fake, "MoveAndComment"), 0);
}
