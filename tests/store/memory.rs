//! A writable store answers the poll's record questions from memory (`store::cache`):
//! after every append, what it answers must be exactly what its database holds, read
//! by another handle that only knows SQL.

use std::collections::HashMap;
use std::sync::Arc;

use karajan::domain::{Cause, IssueRecord, Phase, RunStatus, StateKind};
use karajan::store::{EventKind, NewEvent, Store};

use super::*;

const IDS: [&str; 4] = ["ENG-1", "ENG-2", "ENG-3", "ENG-4"];

/// A read-only store on `db`: what the database holds, with no memory of its own.
async fn disk(db: &std::path::Path) -> Store {
    Store::open_read_only(db)
        .await
        .expect("open read-only")
        .expect("exists")
}

/// What the database holds, through a read-only store (no memory).
async fn from_disk(f: &Fixture) -> (Vec<IssueRecord>, HashMap<String, Arc<IssueRecord>>) {
    let disk = disk(&f.db()).await;
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
    f.append(vec![to_done("ENG-1")]).await;
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

/// The head a tracker comment's anchor names comes from memory on a writable store: it
/// is the database's head after every append, from any clone of the store, and after a
/// reopen (where the database may be ahead of the checkpoint file).
#[tokio::test]
async fn the_committed_head_in_memory_is_the_database_head() {
    let f = Fixture::new().await;
    let disk_head = |f: &Fixture| {
        let db = f.db();
        async move {
            let disk = disk(&db).await;
            let head = disk.head().await.expect("head");
            disk.close().await;
            head
        }
    };
    assert_eq!(f.store.committed_head().await.expect("head").0, 0);
    f.append(vec![picked("ENG-1", "code")]).await;
    let clone = f.store.clone();
    clone
        .append(vec![
            intent("ENG-1", "i-1", "In Progress"),
            picked("ENG-2", "code"),
        ])
        .await
        .expect("append through a clone");
    let head = f.store.committed_head().await.expect("head");
    assert_eq!(head.0, 3);
    assert_eq!(head, disk_head(&f).await);
    f.store.close().await;
    let reopened = f.reopen().await;
    assert_eq!(
        reopened.committed_head().await.expect("head"),
        disk_head(&f).await
    );
}

/// The read model's run totals, today's totals and latest transitions come from memory
/// on a writable store (`store::ledger`): after every append they are what the database
/// says, including where the memory cannot follow (a run finished twice, a run started
/// before the store opened, a run without a ticket) and reads the database again.
#[tokio::test]
async fn the_history_in_memory_follows_every_append_exactly() {
    let f = Fixture::new().await;
    let today = chrono::Utc::now().date_naive();
    let same = |f: &Fixture, step: &'static str| {
        let db = f.db();
        let store = f.store.clone();
        async move {
            let disk = disk(&db).await;
            let want = disk.history(today).await.expect("from disk");
            disk.close().await;
            assert_eq!(store.history(today).await.expect("memory"), want, "{step}");
            want
        }
    };
    let finished = |id: &str| {
        run_finished(
            "ENG-1",
            id,
            RunStatus::Succeeded,
            Phase::Succeeded {
                run_id: id.into(),
                verdict: None,
            },
            None,
        )
    };
    same(&f, "nothing").await;
    f.append(vec![
        picked("ENG-1", "code"),
        run_started("ENG-1", "r-1", "code", 1),
    ])
    .await;
    same(&f, "a run started").await;
    f.append(vec![finished("r-1")]).await;
    let after = same(&f, "a run finished").await;
    assert_eq!((after.totals.runs, after.today.runs), (1, 1));
    assert_eq!(after.totals.cost_usd, 0.25);
    assert_eq!(after.transitions.len(), 1);
    // Finished again: the `runs` row takes the figures once, not twice.
    f.append(vec![finished("r-1")]).await;
    let again = same(&f, "a run finished twice").await;
    assert_eq!(again.totals.tokens.input, 100);
    // A run started before the store opened, finished after.
    f.append(vec![run_started("ENG-1", "r-2", "code", 2)]).await;
    f.store.close().await;
    let store = f.reopen().await;
    let f = Fixture { store, dir: f.dir };
    same(&f, "reopened").await;
    f.append(vec![finished("r-2")]).await;
    let reopened = same(&f, "a run from before the reopen finished").await;
    assert_eq!(reopened.totals.cost_usd, 0.5);
    // More transitions than the view shows: the newest, newest first.
    for n in 0..25 {
        f.append(vec![transition(
            "ENG-1",
            if n % 2 == 0 { "review" } else { "code" },
            StateKind::Agent,
            Cause::Picked,
        )])
        .await;
    }
    let many = same(&f, "25 transitions").await;
    assert_eq!(many.transitions.len(), 20);
    assert!(many.transitions[0].seq > many.transitions[19].seq);
}

/// An append is one request to SQLite when the store's memory knows the chain head and
/// every ticket the batch names; a ticket's first events, before it has a record, go
/// the long way. Either way memory and disk agree.
#[tokio::test]
async fn appends_on_tickets_memory_knows_take_one_request() {
    let f = Fixture::new().await;
    let counts = |f: &Fixture| {
        let s = f.store.stats();
        (s.transactions, s.one_request)
    };
    f.append(vec![
        picked("ENG-1", "code"),
        intent("ENG-1", "i-1", "In Progress"),
    ])
    .await;
    assert_eq!(counts(&f), (1, 0), "a new ticket's first events");
    // A confirmation names no ticket: its intent's owner comes back from the database.
    f.append(vec![NewEvent::global(EventKind::IntentCompleted {
        intent_id: "i-1".into(),
        already_done: false,
    })])
    .await;
    assert_eq!(counts(&f), (2, 1));
    f.append(vec![
        run_started("ENG-1", "run-1", "code", 1),
        intent("ENG-1", "i-2", "Review"),
    ])
    .await;
    assert_eq!(counts(&f), (3, 2));
    same_as_disk(&f, "appends in one request").await;
    f.append(vec![
        picked("ENG-7", "code"),
        intent("ENG-1", "i-3", "Done"),
    ])
    .await;
    assert_eq!(
        counts(&f),
        (4, 2),
        "a batch naming a ticket never asked about"
    );
    same_as_disk(&f, "a batch naming a new ticket").await;
    // A new ticket the poll asked about (`same_as_disk` asks about ENG-2) is known to
    // have no record: its first events, an intent among them, go in one request, and
    // its pending intents are counted from the outbox in memory: nothing read after.
    f.append(vec![
        picked("ENG-2", "code"),
        intent("ENG-2", "i-4", "In Progress"),
    ])
    .await;
    assert_eq!(counts(&f), (5, 3), "a new ticket the store was asked about");
    same_as_disk(&f, "a new ticket's first events in one request").await;
    let rec = f
        .store
        .record("ENG-2")
        .await
        .expect("record")
        .expect("made");
    assert_eq!(rec.pending_intents, 1);
    // An intent recorded for a ticket before its first record (`same_as_disk` asked
    // about ENG-3), then the record: the outbox in memory counts the intents it had, so
    // nothing is read after either commit.
    f.append(vec![intent("ENG-3", "i-5", "In Progress")]).await;
    assert_eq!(counts(&f), (6, 4), "an intent before the ticket's record");
    f.append(vec![
        picked("ENG-3", "code"),
        intent("ENG-3", "i-6", "Review"),
    ])
    .await;
    assert_eq!(
        counts(&f),
        (7, 5),
        "the first record of a ticket with an intent pending: nothing read after"
    );
    same_as_disk(&f, "a first record over a pending intent").await;
    let rec = f
        .store
        .record("ENG-3")
        .await
        .expect("record")
        .expect("made");
    assert_eq!(rec.pending_intents, 2);
    let report = f.store.verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
}

/// A small batch goes row by row and a large one (a flood of agent output lines) as one
/// statement over a JSON array: both write the same rows, in order, chained, in one
/// request, and memory still equals disk.
#[tokio::test]
async fn small_and_large_batches_write_the_same_chain() {
    let f = Fixture::new().await;
    f.append(vec![picked("ENG-1", "code")]).await;
    f.append(vec![run_started("ENG-1", "run-1", "code", 1)])
        .await;
    // Text that JSON escapes, in the batch that travels as a JSON array.
    let quoted = event(
        "ENG-1",
        EventKind::AgentEvent {
            run_id: "run-1".into(),
            event: serde_json::json!({"n": 43, "text": "a \"quoted\" line\n"}),
        },
    );
    let before = f.store.stats().one_request;
    f.append((0..3).map(|n| output_line("ENG-1", "run-1", n)).collect())
        .await;
    let mut flood: Vec<NewEvent> = (3..43).map(|n| output_line("ENG-1", "run-1", n)).collect();
    flood.push(quoted);
    f.append(flood).await;
    assert_eq!(
        f.store.stats().one_request,
        before + 2,
        "both in one request"
    );
    let events = f.store.events_for("ENG-1").await.expect("events");
    let lines: Vec<i64> = events
        .iter()
        .filter(|e| e.kind == "agent_event")
        .map(|e| e.payload["event"]["n"].as_i64().expect("n"))
        .collect();
    assert_eq!(lines, (0..44).collect::<Vec<i64>>());
    assert_eq!(
        events.last().expect("events").payload["event"]["text"],
        "a \"quoted\" line\n"
    );
    for pair in events.windows(2) {
        assert_eq!(pair[1].seq, pair[0].seq + 1);
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    same_as_disk(&f, "small and large batches").await;
    let report = f.store.verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
}

/// A confirmation in one request of an intent whose ticket memory does not know (done,
/// and the store reopened since): nothing is read after the commit, memory stays
/// ignorant of the ticket and reads it when asked, so it answers what the database holds.
#[tokio::test]
async fn a_confirmation_for_a_ticket_memory_does_not_know_leaves_it_to_be_read() {
    let f = Fixture::new().await;
    f.append(vec![
        picked("ENG-3", "code"),
        intent("ENG-3", "i-9", "In Progress"),
    ])
    .await;
    f.append(vec![to_done("ENG-3")]).await;
    let reopened = f.reopen().await;
    f.store.close().await;
    let f = Fixture {
        dir: f.dir,
        store: reopened,
    };
    f.append(vec![NewEvent::global(EventKind::IntentCompleted {
        intent_id: "i-9".into(),
        already_done: false,
    })])
    .await;
    assert_eq!(f.store.stats().one_request, 1);
    let rec = f
        .store
        .record("ENG-3")
        .await
        .expect("record")
        .expect("a record");
    assert_eq!((rec.phase, rec.pending_intents), (Phase::Done, 0));
    same_as_disk(&f, "a confirmation for a ticket memory did not know").await;
}

/// The daemon's own reads (before a run, at a tick, after a restart) and its
/// verification open no pooled reader connection on a writable SQLite store: each
/// reader is a worker thread with its own page cache, and a drain needs none.
#[tokio::test]
async fn the_daemons_own_reads_open_no_reader_connection() {
    let f = Fixture::new().await;
    f.append(vec![
        picked("ENG-1", "implement"),
        intent("ENG-1", "i-1", "In Progress"),
        run_started("ENG-1", "run-1", "implement", 1),
    ])
    .await;
    f.append(vec![run_finished(
        "ENG-1",
        "run-1",
        RunStatus::Succeeded,
        Phase::Ready,
        Some("session-1"),
    )])
    .await;
    let s = &f.store;
    assert!(s.record("ENG-1").await.expect("record").is_some());
    assert!(s.record("ENG-9").await.expect("unknown record").is_none());
    assert_eq!(s.runs_for("ENG-1").await.expect("runs").len(), 1);
    assert!(s.open_runs().await.expect("open runs").is_empty());
    assert_eq!(s.pending_intents().await.expect("pending").len(), 1);
    assert!(
        s.latest_of_kind("ENG-1", "transition")
            .await
            .expect("latest transition")
            .is_some()
    );
    assert_eq!(
        s.events_of_kind("ENG-1", "run_finished")
            .await
            .expect("kind")
            .len(),
        1
    );
    s.latest_session("ENG-1", "claude").await.expect("session");
    assert!(
        s.recent_of_kind("transition", 5)
            .await
            .expect("recent")
            .len()
            == 1
    );
    s.history(Utc::now().date_naive()).await.expect("history");
    assert!(s.verify().await.expect("verify").is_ok());
    let readers = s.sqlite_readers().expect("a SQLite store");
    assert_eq!(
        readers.size(),
        0,
        "reader connections opened by the daemon's own reads"
    );
    // The dashboard's and the CLI's history-sized queries still use the readers.
    s.events_for("ENG-1").await.expect("events");
    assert_eq!(readers.size(), 1);
}

/// The outbox in memory (`store::outbox`) is what the `pending_intents` table holds
/// after every append: intents recorded (one without a ticket, which the table keeps
/// no row for), completed, failed for good, failed and retried; and after a reopen.
#[tokio::test]
async fn the_pending_intents_in_memory_follow_every_append_exactly() {
    let f = Fixture::new().await;
    let on_disk = |f: &Fixture| {
        let db = f.db();
        async move {
            let disk = disk(&db).await;
            let pending = disk.pending_intents().await.expect("pending");
            disk.close().await;
            pending
        }
    };
    let failed = |id: &str, retryable: bool| {
        NewEvent::global(EventKind::IntentFailed {
            intent_id: id.into(),
            error: format!("{id}: 502"),
            retryable,
        })
    };
    let steps: Vec<(&str, Vec<NewEvent>)> = vec![
        (
            "recorded",
            vec![
                picked("ENG-1", "code"),
                intent("ENG-1", "i-1", "In Progress"),
                intent("ENG-2", "i-2", "In Progress"),
            ],
        ),
        (
            "recorded without a ticket",
            vec![NewEvent::global(EventKind::IntentRecorded {
                intent_id: "i-0".into(),
                op: karajan::store::IntentOp::Comment {
                    tracker_id: "tid-0".into(),
                    body: "hello".into(),
                },
            })],
        ),
        (
            "failed, retried",
            vec![failed("i-1", true), failed("i-1", true)],
        ),
        (
            "completed and recorded",
            vec![
                NewEvent::for_issue(
                    "ENG-2",
                    EventKind::IntentCompleted {
                        intent_id: "i-2".into(),
                        already_done: true,
                    },
                ),
                intent("ENG-3", "i-3", "Review"),
            ],
        ),
        ("failed for good", vec![failed("i-3", false)]),
        ("an unknown intent fails", vec![failed("i-9", true)]),
    ];
    for (step, events) in steps {
        f.append(events).await;
        let memory = f.store.pending_intents().await.expect("pending");
        assert_eq!(memory, on_disk(&f).await, "after {step}");
    }
    let left = f.store.pending_intents().await.expect("pending");
    assert_eq!(left.len(), 1);
    assert_eq!(
        (left[0].attempts, left[0].last_error.as_deref()),
        (2, Some("i-1: 502"))
    );
    let reopened = f.reopen().await;
    assert_eq!(reopened.pending_intents().await.expect("pending"), left);
}
