//! Writes: moves resolve state ids once (cached), comments carry the marker.

use karajan::tracker::marker::{latest_state, parse_marker, render_marker};
use karajan::tracker::{Tracker, TrackerError};
use serde_json::json;

use super::fake::FakeLinear;
use super::tracker;

#[tokio::test]
async fn moves_use_cached_state_ids() {
    let fake = FakeLinear::start().await;
    let (a, b) = {
        let mut w = fake.world();
        (w.add_issue("Todo", "a"), w.add_issue("Todo", "b"))
    };
    let t = tracker(&fake);
    let tickets = t
        .fetch_by_identifiers(&[a.clone(), b.clone()])
        .await
        .unwrap();
    t.move_ticket(&tickets[0].ticket_ref(), "In Progress")
        .await
        .unwrap();
    t.move_ticket(&tickets[1].ticket_ref(), "In Progress")
        .await
        .unwrap();
    t.move_ticket(&tickets[0].ticket_ref(), "Human Review")
        .await
        .unwrap();
    let w = fake.world();
    assert_eq!(w.column_of(&a), "Human Review");
    assert_eq!(w.column_of(&b), "In Progress");
    assert_eq!(w.count("MoveIssue"), 3);
    assert_eq!(w.count("WorkflowStates"), 1, "states resolved once");
    assert_eq!(w.count("ProjectBySlug"), 1);
    let moved = w
        .requests
        .iter()
        .find(|r| r.operation == "MoveIssue")
        .unwrap();
    assert_eq!(
        moved.variables,
        json!({"id": "issue-uuid-1", "stateId": "state-eng-2"})
    );
}

#[tokio::test]
async fn refresh_states_reloads_the_cache() {
    let fake = FakeLinear::start().await;
    let a = fake.world().add_issue("Todo", "a");
    let t = tracker(&fake);
    let ticket = t
        .fetch_by_identifiers(std::slice::from_ref(&a))
        .await
        .unwrap()
        .remove(0);
    let err = t.move_ticket(&ticket.ticket_ref(), "QA").await.unwrap_err();
    assert!(matches!(err, TrackerError::Fatal(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("column `QA` does not exist in Linear team ENG"),
        "{msg}"
    );
    assert!(msg.contains("Todo, In Progress, Human Review"), "{msg}");
    // A human adds the column in Linear; a config reload refreshes the states.
    {
        let mut w = fake.world();
        w.states.push(super::fake::FakeState {
            id: "state-eng-qa".into(),
            name: "QA".into(),
            kind: "started".into(),
            position: 3.5,
            team: "ENG".into(),
        });
    }
    t.refresh_states().await.unwrap();
    t.move_ticket(&ticket.ticket_ref(), "QA").await.unwrap();
    assert_eq!(fake.world().column_of(&a), "QA");
}

#[tokio::test]
async fn comments_are_written_with_their_marker() {
    let fake = FakeLinear::start().await;
    let a = fake.world().add_issue("Todo", "a");
    let t = tracker(&fake);
    let ticket = t
        .fetch_by_identifiers(std::slice::from_ref(&a))
        .await
        .unwrap()
        .remove(0);
    let marker = json!({"state": "implement", "run": 1, "rework": 0, "intent": 12});
    let body = format!(
        "Started **implement** (run 1).\n\n{}",
        render_marker(&marker)
    );
    t.comment(&ticket.ticket_ref(), &body).await.unwrap();
    let stored = fake.world().comments_of(&a);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].body, body);
    let read = t.comments(&ticket.ticket_ref()).await.unwrap();
    assert_eq!(read.len(), 1);
    assert!(read[0].is_karajan());
    assert_eq!(parse_marker(&read[0].body), Some(marker));
}

#[tokio::test]
async fn writes_to_a_missing_issue_are_not_found() {
    let fake = FakeLinear::start().await;
    fake.world().add_issue("Todo", "a");
    let t = tracker(&fake);
    let ghost = karajan::domain::TicketRef {
        id: "gone".into(),
        identifier: "ENG-77".into(),
    };
    assert!(matches!(
        t.comment(&ghost, "hi").await,
        Err(TrackerError::NotFound(_))
    ));
    assert!(matches!(
        t.move_ticket(&ghost, "Todo").await,
        Err(TrackerError::NotFound(_))
    ));
}

#[tokio::test]
async fn recovery_reads_markers_whatever_order_linear_returns() {
    let fake = FakeLinear::start().await;
    let a = {
        let mut w = fake.world();
        let a = w.add_issue("Human Review", "a");
        let origin = super::fake::origin();
        for n in 0..60i64 {
            let state = if n == 59 { "review" } else { "build" };
            let body = format!(
                "step {n}\n{}",
                render_marker(
                    &json!({"state": state, "run": n + 1, "rework": 0, "intent": format!("i{n}")})
                )
            );
            w.add_comment(
                &a,
                &body,
                "karajan-bot",
                origin + chrono::Duration::minutes(n),
            );
        }
        w.add_comment(
            &a,
            "a human note",
            "ada",
            origin + chrono::Duration::hours(5),
        );
        a
    };
    let t = tracker(&fake);
    let ticket = t
        .fetch_by_identifiers(std::slice::from_ref(&a))
        .await
        .unwrap()
        .remove(0);
    let mut seen = Vec::new();
    for newest_first in [false, true] {
        fake.world().comments_newest_first = newest_first;
        let comments = t.comments(&ticket.ticket_ref()).await.unwrap();
        assert_eq!(comments.len(), 61, "every page read");
        seen.push(latest_state(&comments).unwrap());
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0].state, "review");
    assert_eq!(seen[0].run, 60);
    assert_eq!(seen[0].intent.as_deref(), Some("i59"));
}
