//! A move and its comment in one GraphQL document: one request, outcomes per part.

use std::time::Duration;

use karajan::tracker::{Tracker, TrackerError};

use super::fake::{FakeLinear, Fault};
use super::tracker;

async fn setup() -> (
    FakeLinear,
    karajan::tracker::linear::LinearTracker,
    karajan::domain::TicketRef,
    String,
) {
    let fake = FakeLinear::start().await;
    let id = fake.world().add_issue("Todo", "a");
    let t = tracker(&fake);
    let ticket = t
        .fetch_by_identifiers(std::slice::from_ref(&id))
        .await
        .unwrap()[0]
        .ticket_ref();
    // Resolve the states once, so what follows counts only the write.
    t.move_ticket(&ticket, "Todo").await.unwrap();
    (fake, t, ticket, id)
}

#[tokio::test]
async fn move_and_comment_is_one_request_with_both_mutations() {
    let (fake, t, ticket, id) = setup().await;
    let before = fake.total_requests();
    let (moved, commented) = t.move_and_comment(&ticket, "In Progress", "Started").await;
    let moved_at = moved
        .unwrap()
        .updated_at
        .expect("the answer says when the issue changed");
    commented.unwrap();
    assert_eq!(fake.total_requests() - before, 1, "one request for both");
    // The same time a read of the issue shows: a read made later shows a later one.
    let read = t
        .fetch_by_identifiers(std::slice::from_ref(&ticket.identifier))
        .await
        .unwrap();
    assert_eq!(read[0].updated_at, moved_at);
    assert_eq!(fake.count("MoveAndComment"), 1);
    let w = fake.world();
    assert_eq!(w.column_of(&id), "In Progress");
    let comments = w.comments_of(&id);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].body, "Started");
}

#[tokio::test]
async fn a_refused_comment_fails_alone() {
    let (fake, t, ticket, id) = setup().await;
    fake.world().comment_error = Some(("INVALID_INPUT".into(), "body is too long".into()));
    let (moved, commented) = t.move_and_comment(&ticket, "Human Review", "x").await;
    moved.unwrap();
    let err = commented.unwrap_err();
    assert!(
        matches!(&err, TrackerError::Fatal(m) if m.contains("body is too long")),
        "{err:?}"
    );
    assert_eq!(fake.world().column_of(&id), "Human Review");
    assert!(fake.world().comments_of(&id).is_empty());
}

#[tokio::test]
async fn a_failed_move_leaves_the_comment_unattempted() {
    let (fake, t, mut ticket, id) = setup().await;
    ticket.id = "no-such-issue".into();
    let (moved, commented) = t.move_and_comment(&ticket, "In Progress", "x").await;
    assert!(matches!(moved, Err(TrackerError::NotFound(_))), "{moved:?}");
    let err = commented.unwrap_err();
    assert!(
        matches!(err, TrackerError::NotAttempted(_)) && err.is_retryable(),
        "{err:?}"
    );
    assert_eq!(fake.world().column_of(&id), "Todo");
    assert!(fake.world().comments_of(&id).is_empty());
}

#[tokio::test]
async fn a_lost_answer_leaves_both_parts_unconfirmed_and_is_not_resent() {
    for fault in [
        Fault::ExecuteThenTruncate,
        Fault::ExecuteThenDelay(Duration::from_secs(2)),
        Fault::ServerErrorAfterExecuting,
    ] {
        let (fake, t, ticket, id) = setup().await;
        fake.fault_on("MoveAndComment", fault.clone());
        let (moved, commented) = t.move_and_comment(&ticket, "In Progress", "x").await;
        for part in [moved.map(|_| ()), commented] {
            assert!(
                matches!(part, Err(TrackerError::Unconfirmed(_))),
                "{fault:?}: {part:?}"
            );
        }
        assert_eq!(fake.count("MoveAndComment"), 1, "{fault:?}: sent once");
        // It did happen, once: the engine's read-back will find it.
        assert_eq!(fake.world().column_of(&id), "In Progress");
        assert_eq!(fake.world().comments_of(&id).len(), 1);
    }
}

#[tokio::test]
async fn a_rate_limit_fails_both_parts_and_nothing_happens() {
    let (fake, t, ticket, id) = setup().await;
    fake.fault_on(
        "MoveAndComment",
        Fault::RateLimited400 {
            reset_in: Duration::from_secs(30),
        },
    );
    let (moved, commented) = t.move_and_comment(&ticket, "In Progress", "x").await;
    assert!(
        matches!(moved, Err(TrackerError::RateLimited { .. })),
        "{moved:?}"
    );
    assert!(
        matches!(commented, Err(TrackerError::RateLimited { .. })),
        "{commented:?}"
    );
    assert_eq!(fake.world().column_of(&id), "Todo");
    assert!(fake.world().comments_of(&id).is_empty());
}
