//! A write whose answer is lost is never made twice. Linear carries out the mutation,
//! then the response is cut off (or never comes): the adapter must not blindly send it
//! again. Queries stay retried; a mutation whose outcome is unknown is reported as
//! unconfirmed, and the engine reads the tracker back (the comment's hidden marker, the
//! ticket's column) before performing it once more.

use std::time::Duration;

use karajan::tracker::marker::parse_marker;
use karajan::tracker::{Tracker, TrackerError};

use super::e2e::run_once;
use super::fake::{FakeLinear, Fault};
use super::{columns, tracker};
use crate::e2e::support::Scratch;

fn ticket(fake: &FakeLinear, id: &str) -> karajan::domain::TicketRef {
    karajan::domain::TicketRef {
        id: fake.world().issue(id).id.clone(),
        identifier: id.to_string(),
    }
}

#[tokio::test]
async fn a_comment_whose_answer_is_cut_off_is_not_sent_again() {
    for fault in [
        Fault::ExecuteThenTruncate,
        Fault::ExecuteThenDelay(Duration::from_secs(2)),
        Fault::ServerErrorAfterExecuting,
    ] {
        let fake = FakeLinear::start().await;
        let id = fake.world().add_issue("Todo", "a");
        let t = tracker(&fake);
        fake.fault_on("CreateComment", fault.clone());
        let err = t
            .comment(&ticket(&fake, &id), "hello")
            .await
            .expect_err("the outcome is unknown");
        assert!(
            err.to_string().contains("outcome unknown"),
            "{fault:?}: {err:?}"
        );
        assert!(err.is_retryable());
        assert_eq!(
            fake.world().comments_of(&id).len(),
            1,
            "{fault:?}: Linear has it once"
        );
        assert_eq!(fake.count("CreateComment"), 1, "{fault:?}: sent once");
    }
}

#[tokio::test]
async fn queries_are_still_retried_after_a_cut_off_answer() {
    let fake = FakeLinear::start().await;
    fake.world().add_issue("Todo", "a");
    let t = tracker(&fake);
    fake.fault_on("ListIssues", Fault::ExecuteThenTruncate);
    let got = t.fetch_candidates(&columns(&["Todo"])).await.unwrap();
    assert_eq!(got.tickets.len(), 1);
    assert_eq!(fake.count("ListIssues"), 2);
}

#[tokio::test]
async fn a_mutation_that_never_reached_linear_is_retried() {
    // Nothing listens on this port: the connection is refused, so the request provably
    // never reached the server and may be sent again (each attempt is refused too).
    let fake = FakeLinear::start().await;
    let mut config = super::config(&fake);
    config.endpoint = "http://127.0.0.1:9/graphql".into();
    let t = karajan::tracker::linear::LinearTracker::new(config).unwrap();
    let ghost = karajan::domain::TicketRef {
        id: "x".into(),
        identifier: "ENG-1".into(),
    };
    let err = t.comment(&ghost, "hello").await.unwrap_err();
    assert!(
        matches!(&err, TrackerError::Transient(m) if m.contains("after 3 attempts")),
        "{err:?}"
    );
}

/// The engine, end to end: the answers to karajan's first comment and first move are
/// lost after Linear carried them out. Every comment exists exactly once, and the
/// ticket still reaches the gate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_never_doubles_a_write_whose_answer_was_lost() {
    let s = Scratch::quickstart();
    let fake = FakeLinear::start().await;
    let id = fake.world().add_issue("Todo", "Add a friendly greeting");
    fake.fault_on("CreateComment", Fault::ExecuteThenTruncate);
    fake.fault_on("MoveIssue", Fault::ExecuteThenTruncate);
    // A move and its comment go in one document: its answer is lost the same way.
    fake.fault_on("MoveAndComment", Fault::ExecuteThenTruncate);

    run_once(s.path(), &fake).await;

    assert_eq!(fake.world().column_of(&id), "Human Review");
    let bodies: Vec<String> = fake
        .world()
        .comments_of(&id)
        .into_iter()
        .map(|c| c.body)
        .collect();
    let mut intents: Vec<String> = bodies
        .iter()
        .map(|b| {
            parse_marker(b).expect("a marker")["intent"]
                .as_str()
                .expect("an intent id")
                .to_string()
        })
        .collect();
    let all = intents.len();
    intents.sort();
    intents.dedup();
    assert_eq!(
        intents.len(),
        all,
        "a comment was posted twice: {bodies:#?}"
    );
    assert_eq!(all, 2, "picked up + waiting at the gate: {bodies:#?}");
    assert_eq!(
        fake.count("CreateComment") + fake.count("MoveAndComment"),
        2,
        "each comment sent once"
    );
}
