//! A writable store answers the poll's record questions from memory (`store::cache`):
//! after every append, what it answers must be exactly what its database holds, read
//! by another handle that only knows SQL.

use std::collections::HashMap;
use std::sync::Arc;

use karajan::domain::{Cause, IssueRecord, Phase, RunStatus, StateKind};
use karajan::store::{EventKind, NewEvent, Store};

use super::*;

const IDS: [&str; 4] = ["ENG-1", "ENG-2", "ENG-3", "ENG-4"];

/// What the database holds, through a read-only store (no memory).
async fn from_disk(f: &Fixture) -> (Vec<IssueRecord>, HashMap<String, Arc<IssueRecord>>) {
    let disk = Store::open_read_only(&f.db())
        .await
        .expect("open read-only")
        .expect("exists");
    let active = disk.active_records().await.expect("active");
    let ids: Vec<String> = IDS.iter().map(|s| s.to_string()).collect();
    let named = disk.records_for(&ids).await.expect("records_for");
    disk.close().await;
    (active, named)
}

async fn same_as_disk(f: &Fixture, step: &str) {
    let ids: Vec<String> = IDS.iter().map(|s| s.to_string()).collect();
    let (active, named) = from_disk(f).await;
    assert_eq!(
        f.store.active_records().await.expect("active"),
        active,
        "active records after {step}"
    );
    assert_eq!(
        f.store.records_for(&ids).await.expect("records_for"),
        named,
        "named records after {step}"
    );
    for id in IDS {
        assert_eq!(
            f.store.record(id).await.expect("record"),
            named.get(id).map(|r| (**r).clone()),
            "{id} after {step}"
        );
    }
}

fn event(issue: &str, kind: EventKind) -> NewEvent {
    NewEvent::for_issue(issue, kind)
}

#[tokio::test]
async fn the_records_in_memory_follow_every_append_exactly() {
    let f = Fixture::new().await;
    // Asked about before they exist: known to have no record, then created.
    same_as_disk(&f, "nothing").await;
    f.append(vec![
        picked("ENG-1", "code"),
        intent("ENG-1", "i-1", "In Progress"),
    ])
    .await;
    same_as_disk(&f, "a pick with its move").await;
    f.append(vec![
        picked("ENG-2", "code"),
        run_started("ENG-1", "run-1", "code", 1),
        intent("ENG-2", "i-2", "In Progress"),
    ])
    .await;
    same_as_disk(&f, "a run start beside another pick").await;
    f.append(vec![event(
        "ENG-1",
        EventKind::IntentFailed {
            intent_id: "i-1".into(),
            error: "HTTP 502".into(),
            retryable: true,
        },
    )])
    .await;
    same_as_disk(&f, "a retryable failure").await;
    // The confirmation names no ticket of its own in the projection: it is found by
    // its intent id.
    f.append(vec![NewEvent::global(EventKind::IntentCompleted {
        intent_id: "i-1".into(),
        already_done: false,
    })])
    .await;
    same_as_disk(&f, "a confirmation without a ticket").await;
    f.append(vec![
        run_finished(
            "ENG-1",
            "run-1",
            RunStatus::Succeeded,
            Phase::Succeeded {
                run_id: "run-1".into(),
                verdict: None,
            },
            Some("sess"),
        ),
        event(
            "ENG-2",
            EventKind::IntentFailed {
                intent_id: "i-2".into(),
                error: "gone".into(),
                retryable: false,
            },
        ),
    ])
    .await;
    same_as_disk(&f, "a finished run and an abandoned write").await;
    f.append(vec![transition(
        "ENG-1",
        "done",
        StateKind::Terminal,
        Cause::Picked,
    )])
    .await;
    same_as_disk(&f, "a ticket done").await;
    f.append(vec![event(
        "ENG-1",
        EventKind::Resumed {
            state_kind: StateKind::Agent,
        },
    )])
    .await;
    same_as_disk(&f, "a done ticket resumed").await;
    f.append(vec![
        event(
            "ENG-2",
            EventKind::Held {
                column: "Elsewhere".into(),
            },
        ),
        event(
            "ENG-3",
            EventKind::Escalated {
                reason: "no record yet".into(),
            },
        ),
    ])
    .await;
    same_as_disk(&f, "a hold and an event for a ticket without a record").await;
    // A batch the database refuses changes nothing in memory either.
    let refused = f
        .store
        .append(vec![
            picked("ENG-4", "code"),
            run_started("ENG-4", "run-1", "code", 1),
        ])
        .await;
    assert!(refused.is_err(), "a reused run id is refused");
    same_as_disk(&f, "a refused batch").await;
    // Forgetting what a poll no longer sees changes no answer, only what is remembered.
    f.store.retain_known(&["ENG-1".to_string()]);
    same_as_disk(&f, "forgetting").await;
    // A reopened store loads the same.
    let again = f.reopen().await;
    assert_eq!(
        again.active_records().await.expect("active"),
        f.store.active_records().await.expect("active")
    );
}

/// A ticket's pull request is part of its record: kept by the projection across a
/// reopen, and marked merged by its merge.
#[tokio::test]
async fn a_pull_request_is_kept_in_the_record_and_merged() {
    let f = Fixture::new().await;
    f.append(vec![picked("ENG-1", "code")]).await;
    f.append(vec![event(
        "ENG-1",
        EventKind::PullRequestOpened {
            repo: "acme/app".into(),
            number: 7,
            url: "https://github.com/acme/app/pull/7".into(),
            branch: "karajan/ENG-1".into(),
            created: true,
            head: Some("abc".into()),
        },
    )])
    .await;
    same_as_disk(&f, "a pull request opened").await;
    let (_, named) = from_disk(&f).await;
    let pr = named["ENG-1"].pull_request.clone().expect("on disk");
    assert_eq!(
        (pr.number, pr.head.as_deref(), pr.merged),
        (7, Some("abc"), false)
    );
    f.append(vec![event(
        "ENG-1",
        EventKind::PullRequestMerged {
            repo: "acme/app".into(),
            number: 7,
            sha: Some("def".into()),
        },
    )])
    .await;
    same_as_disk(&f, "a pull request merged").await;
    let (_, named) = from_disk(&f).await;
    assert!(named["ENG-1"].is_merged());
}
