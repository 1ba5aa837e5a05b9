//! Transient answers never strand a ticket. GitHub sometimes answers a mutation with
//! HTTP 200 and an empty body, or with `data: null` and "Something went wrong": the
//! write may or may not have happened. A Status move is idempotent, so it is retried; a
//! comment is reported as unconfirmed and checked by its hidden marker before it is
//! written again. And at the engine level, a column that differs from the store only
//! because karajan's own move did not go through is karajan's pending write (retried),
//! never a human's decision.

use karajan::domain::TicketRef;
use karajan::tracker::Tracker;

use super::fake::{Fake, OpFault};
use super::scratch::{GhScratch, files};
use super::tracker;
use crate::e2e::support::events;

fn ticket(n: i64) -> TicketRef {
    TicketRef {
        id: format!("I_node{n}"),
        identifier: format!("acme/app#{n}"),
    }
}

#[tokio::test]
async fn a_status_move_answered_empty_or_with_something_went_wrong_is_retried() {
    for fault in [OpFault::empty_200(), OpFault::something_went_wrong()] {
        let fake = Fake::start().await;
        fake.add_issue(1, Some("Todo"), &[]);
        let t = tracker(&fake, "project", "");
        fake.inject_at("UpdateItemStatus", 1, fault.clone());
        t.move_ticket(&ticket(1), "In Progress")
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: {e:?}"));
        assert_eq!(fake.issue(1).status.as_deref(), Some("In Progress"));
    }
}

#[tokio::test]
async fn a_comment_answered_empty_is_unconfirmed_not_doubled() {
    let fake = Fake::start().await;
    fake.add_issue(1, Some("Todo"), &[]);
    let t = tracker(&fake, "project", "");
    fake.inject_at(
        "AddComment",
        1,
        OpFault {
            execute: true,
            ..OpFault::empty_200()
        },
    );
    let err = t.comment(&ticket(1), "hello").await.expect_err("unknown");
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains("outcome unknown"), "{err}");
    assert_eq!(fake.issue(1).comments.len(), 1, "posted once");
}

fn kinds(s: &GhScratch, kind: &str) -> usize {
    let db = s.path().join(".karajan/karajan.db");
    events(&db).iter().filter(|(k, _, _)| k == kind).count()
}

fn agent_runs(s: &GhScratch) -> usize {
    files(&s.path().join(".karajan/logs"))
        .into_iter()
        .filter(|p| p.ends_with("agent-env.txt"))
        .count()
}

/// The move to the gate's column fails four times in a row (the first try and the three
/// retries) with an empty 200. The ticket must not be held: the next poll retries the
/// move, and the ticket waits at its gate, its agent run once.
#[test]
fn a_failed_move_to_the_gate_is_retried_not_taken_for_a_human_move() {
    let s = GhScratch::new("project", "");
    s.add_issue(1, "Add a greeting", "Todo");
    // A move goes with its comment in one document: request 1 of MoveAndComment is the
    // pick-up, 2 the gate move. Its answer is empty, so karajan reads the column back and
    // sends the move alone: UpdateItemStatus 1..=4 are that try and its three retries.
    s.fake.inject_at("MoveAndComment", 2, OpFault::empty_200());
    for n in 1..=4 {
        s.fake
            .inject_at("UpdateItemStatus", n, OpFault::empty_200());
    }
    s.once();
    assert_eq!(
        s.column(1),
        "In Progress",
        "the gate move did not go through"
    );
    s.once();
    assert_eq!(s.column(1), "Human Review");
    assert_eq!(
        kinds(&s, "held"),
        0,
        "karajan's own failed move held the ticket"
    );
    assert_eq!(agent_runs(&s), 1);
    // A human approves: the ticket goes on as usual.
    s.human_move(1, "Approved");
    s.once();
    assert_eq!(s.column(1), "Done");
}

/// The pick-up move is answered with "Something went wrong" every time: the ticket,
/// still in `Todo`, is not restarted when its agent finishes; the move lands on the
/// next poll and the ticket goes on to its gate.
#[test]
fn a_failed_pick_up_move_does_not_restart_the_ticket() {
    let s = GhScratch::new("project", "");
    s.add_issue(1, "Add a greeting", "Todo");
    // The pick-up goes with its comment in one document; when it fails the move alone
    // is retried: UpdateItemStatus 1..=3 fail too.
    s.fake
        .inject_at("MoveAndComment", 1, OpFault::something_went_wrong());
    for n in 1..=3 {
        s.fake
            .inject_at("UpdateItemStatus", n, OpFault::something_went_wrong());
    }
    s.once();
    s.once();
    assert_eq!(s.column(1), "Human Review");
    assert_eq!(agent_runs(&s), 1, "the agent ran once");
    assert_eq!(kinds(&s, "held"), 0);
    let restarts = events(&s.path().join(".karajan/karajan.db"))
        .into_iter()
        .filter(|(k, _, p)| k == "transition" && p["cause"].to_string().contains("restarted"))
        .count();
    assert_eq!(
        restarts, 0,
        "karajan's own failed move read as a move back to todo"
    );
}
