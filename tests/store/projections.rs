//! The fold from events to projections, observed through the store's read API.

use karajan::domain::{Cause, Phase, RunStatus, StateKind};
use karajan::store::{EventKind, IntentOp, NewEvent, Store, StoreError};
use sqlx::Row;

use super::*;

#[tokio::test]
async fn transition_creates_a_record_and_global_events_touch_no_projection() {
    let f = Fixture::new().await;
    let stored = f.append(vec![note(1), picked("ENG-1", "code")]).await;
    assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(stored[1].kind, "transition");
    assert_eq!(stored[1].payload["to"], "code");
    assert!(
        stored[1].payload.get("kind").is_none(),
        "the kind tag is not in the payload"
    );
    assert_eq!(stored[0].prev_hash, "0".repeat(64));
    assert_eq!(stored[1].prev_hash, stored[0].hash);

    let records = f.store.records().await.expect("records");
    assert_eq!(records.len(), 1);
    let rec = &records[0];
    assert_eq!(rec.identifier, "ENG-1");
    assert_eq!(rec.tracker_id, "tid-ENG-1");
    assert_eq!(rec.state, "code");
    assert_eq!(rec.phase, Phase::Ready);
    assert_eq!(rec.entered_at, stored[1].at);
    assert_eq!(
        f.store.record("ENG-1").await.expect("record"),
        Some(rec.clone())
    );
    assert_eq!(f.store.record("ENG-2").await.expect("record"), None);
    assert_eq!(
        f.store.head().await.expect("head"),
        (2, stored[1].hash.clone())
    );
}

#[tokio::test]
async fn run_lifecycle_fills_runs_retry_queue_sessions_and_totals() {
    let f = Fixture::new().await;
    f.append(vec![picked("ENG-1", "code")]).await;
    let started = f
        .append(vec![run_started("ENG-1", "run-1", "code", 1)])
        .await;
    f.append(vec![NewEvent::for_issue(
        "ENG-1",
        EventKind::RunSpawned {
            run_id: "run-1".into(),
            pid: 4242,
        },
    )])
    .await;

    let rec = f
        .store
        .record("ENG-1")
        .await
        .expect("record")
        .expect("exists");
    assert_eq!(
        rec.phase,
        Phase::Running {
            run_id: "run-1".into(),
            attempt: 1,
            started_at: started[0].at
        }
    );
    assert_eq!(rec.runs.get("code"), Some(&1));
    let open = f.store.open_runs().await.expect("open runs");
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].run_id, "run-1");
    assert_eq!(open[0].pid, Some(4242));
    assert_eq!(open[0].runner, "claude");
    assert_eq!(open[0].workspace, "/ws/ENG-1");
    assert_eq!(open[0].finished_at, None);
    assert_eq!(open[0].status, None);

    let retry = Phase::RetryWaiting {
        attempt: 2,
        due_at: t("2030-01-01T00:00:10.5Z"),
        error: "exit 1".into(),
    };
    let status = RunStatus::Failed {
        reason: "exit 1".into(),
    };
    f.append(vec![run_finished(
        "ENG-1",
        "run-1",
        status,
        retry.clone(),
        Some("sess-9"),
    )])
    .await;

    let rec = f
        .store
        .record("ENG-1")
        .await
        .expect("record")
        .expect("exists");
    assert_eq!(rec.phase, retry);
    assert_eq!(rec.attempts, 1);
    assert!(f.store.open_runs().await.expect("open runs").is_empty());
    let runs = f.store.runs_for("ENG-1").await.expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status.as_deref(), Some("failed"));
    assert_eq!(runs[0].exit_code, Some(1));
    assert_eq!(runs[0].duration_ms, Some(4200));
    assert_eq!(runs[0].tokens.input, 100);
    assert_eq!(runs[0].cost_usd, Some(0.25));
    assert!(runs[0].finished_at.is_some());
    assert_eq!(
        f.store
            .latest_session("ENG-1", "claude")
            .await
            .expect("session"),
        Some("sess-9".into())
    );
    assert_eq!(
        f.store
            .latest_session("ENG-1", "codex")
            .await
            .expect("session"),
        None
    );

    let mut raw = f.raw().await;
    let row = sqlx::query(
        "SELECT state, attempt, due_at, error FROM retry_queue WHERE identifier = 'ENG-1'",
    )
    .fetch_one(&mut raw)
    .await
    .expect("retry row");
    assert_eq!(row.get::<String, _>("state"), "code");
    assert_eq!(row.get::<i64, _>("attempt"), 2);
    assert_eq!(
        row.get::<String, _>("due_at"),
        "2030-01-01T00:00:10.500000000Z"
    );

    // The retry starts a second run; the queue row goes with the phase.
    f.append(vec![run_started("ENG-1", "run-2", "code", 2)])
        .await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM retry_queue")
        .fetch_one(&mut raw)
        .await
        .expect("count");
    assert_eq!(left, 0);
    let totals = f.store.totals().await.expect("totals");
    assert_eq!(totals.runs, 2);
    assert_eq!(totals.tokens.output, 20);
    assert_eq!(totals.tokens.cache_write, 3);
    assert!((totals.cost_usd - 0.25).abs() < 1e-9);
    assert_eq!(f.store.totals_for("ENG-1").await.expect("totals").runs, 2);
    assert_eq!(f.store.totals_for("ENG-2").await.expect("totals").runs, 0);
}

#[tokio::test]
async fn a_finish_for_a_run_the_ticket_moved_past_keeps_the_new_phase() {
    let f = Fixture::new().await;
    f.append(vec![
        picked("ENG-1", "code"),
        run_started("ENG-1", "run-1", "code", 1),
    ])
    .await;
    f.append(vec![NewEvent::for_issue(
        "ENG-1",
        EventKind::Held {
            column: "Blocked".into(),
        },
    )])
    .await;
    let cancelled = RunStatus::Cancelled {
        reason: "left column".into(),
    };
    f.append(vec![run_finished(
        "ENG-1",
        "run-1",
        cancelled,
        Phase::Ready,
        None,
    )])
    .await;
    let rec = f
        .store
        .record("ENG-1")
        .await
        .expect("record")
        .expect("exists");
    assert_eq!(
        rec.phase,
        Phase::Held {
            column: "Blocked".into()
        }
    );
    assert_eq!(rec.attempts, 0);
    let runs = f.store.runs_for("ENG-1").await.expect("runs");
    assert_eq!(runs[0].status.as_deref(), Some("cancelled"));
}

#[tokio::test]
async fn rework_counts_escalation_and_resume_follow_the_record() {
    let f = Fixture::new().await;
    let rework = Cause::Rework {
        gate: "review".into(),
        count: 2,
    };
    f.append(vec![
        picked("ENG-1", "code"),
        transition(
            "ENG-1",
            "review",
            StateKind::Gate,
            Cause::AgentFinished { run_id: "r".into() },
        ),
        transition("ENG-1", "code", StateKind::Agent, rework),
    ])
    .await;
    let rec = f
        .store
        .record("ENG-1")
        .await
        .expect("record")
        .expect("exists");
    assert_eq!(rec.rework_count("review"), 2);
    let mut raw = f.raw().await;
    let count: i64 = sqlx::query_scalar(
        "SELECT count FROM rework_counts WHERE identifier = 'ENG-1' AND gate = 'review'",
    )
    .fetch_one(&mut raw)
    .await
    .expect("rework row");
    assert_eq!(count, 2);

    f.append(vec![NewEvent::for_issue(
        "ENG-1",
        EventKind::Escalated {
            reason: "rework limit".into(),
        },
    )])
    .await;
    let rec = f
        .store
        .record("ENG-1")
        .await
        .expect("record")
        .expect("exists");
    assert_eq!(
        rec.phase,
        Phase::Escalated {
            reason: "rework limit".into()
        }
    );
    f.append(vec![
        NewEvent::for_issue(
            "ENG-1",
            EventKind::Resumed {
                state_kind: StateKind::Agent,
            },
        ),
        transition(
            "ENG-1",
            "review",
            StateKind::Gate,
            Cause::AgentFinished {
                run_id: "r2".into(),
            },
        ),
        transition(
            "ENG-1",
            "done",
            StateKind::Terminal,
            Cause::Approved {
                gate: "review".into(),
            },
        ),
    ])
    .await;
    let rec = f
        .store
        .record("ENG-1")
        .await
        .expect("record")
        .expect("exists");
    assert_eq!(rec.phase, Phase::Done);
    assert_eq!(rec.state, "done");
    assert!(rec.rework.is_empty());
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM rework_counts")
        .fetch_one(&mut raw)
        .await
        .expect("count");
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn intents_are_pending_until_completed_or_abandoned() {
    let f = Fixture::new().await;
    f.append(vec![
        picked("ENG-1", "code"),
        intent("ENG-1", "i-1", "In Progress"),
        intent("ENG-1", "i-2", "Human Review"),
        intent("ENG-1", "i-3", "Done"),
    ])
    .await;
    let pending = f.store.pending_intents().await.expect("pending");
    assert_eq!(
        pending
            .iter()
            .map(|p| p.intent_id.as_str())
            .collect::<Vec<_>>(),
        vec!["i-1", "i-2", "i-3"]
    );
    assert_eq!(
        pending[0].op,
        IntentOp::Move {
            tracker_id: "tid-ENG-1".into(),
            column: "In Progress".into()
        }
    );
    assert_eq!(pending[0].attempts, 0);
    let rec = f
        .store
        .record("ENG-1")
        .await
        .expect("record")
        .expect("exists");
    assert_eq!(rec.pending_intents, 3);
    assert_eq!(
        f.store.records().await.expect("records")[0].pending_intents,
        3
    );

    let failed = |id: &str, retryable: bool| {
        NewEvent::for_issue(
            "ENG-1",
            EventKind::IntentFailed {
                intent_id: id.into(),
                error: "HTTP 502".into(),
                retryable,
            },
        )
    };
    f.append(vec![
        failed("i-1", true),
        failed("i-1", true),
        failed("i-3", false),
    ])
    .await;
    f.append(vec![NewEvent::for_issue(
        "ENG-1",
        EventKind::IntentCompleted {
            intent_id: "i-2".into(),
            already_done: false,
        },
    )])
    .await;
    let pending = f.store.pending_intents().await.expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].intent_id, "i-1");
    assert_eq!(pending[0].attempts, 2);
    assert_eq!(pending[0].last_error.as_deref(), Some("HTTP 502"));
    let rec = f
        .store
        .record("ENG-1")
        .await
        .expect("record")
        .expect("exists");
    assert_eq!(rec.pending_intents, 1);
}

#[tokio::test]
async fn a_failing_batch_rolls_back_events_and_projections() {
    let f = Fixture::new().await;
    let first = f
        .append(vec![
            picked("ENG-1", "code"),
            run_started("ENG-1", "run-1", "code", 1),
        ])
        .await;
    // The second RunStarted reuses run-1: the runs projection refuses it.
    let err = f
        .store
        .append(vec![
            picked("ENG-2", "code"),
            run_started("ENG-2", "run-1", "code", 1),
        ])
        .await
        .expect_err("duplicate run id is refused");
    assert!(matches!(err, StoreError::Db(_)), "{err:?}");
    assert_eq!(
        f.store.head().await.expect("head"),
        (2, first[1].hash.clone())
    );
    assert_eq!(f.store.record("ENG-2").await.expect("record"), None);
    assert_eq!(f.store.events_page(0, 100).await.expect("page").len(), 2);
    // The chain continues where it was.
    let next = f.append(vec![note(3)]).await;
    assert_eq!(next[0].seq, 3);
    assert_eq!(next[0].prev_hash, first[1].hash);
    assert!(f.store.verify().await.expect("verify").is_ok());
}

#[tokio::test]
async fn reads_events_by_ticket_and_by_page_and_survive_a_reopen() {
    let f = Fixture::new().await;
    let mut batch = vec![];
    for n in 0..10 {
        batch.push(note(n));
        if n % 3 == 0 {
            batch.push(intent("ENG-7", &format!("i-{n}"), "Todo"));
        }
    }
    let stored = f.append(batch).await;
    let mine = f.store.events_for("ENG-7").await.expect("events for");
    assert_eq!(mine.len(), 4);
    assert!(mine.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(mine.iter().all(|e| e.issue.as_deref() == Some("ENG-7")));
    assert_eq!(mine[0], stored[1]);

    let page = f.store.events_page(3, 4).await.expect("page");
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![4, 5, 6, 7]
    );
    assert_eq!(page, stored[3..7].to_vec());
    assert!(f.store.events_page(14, 10).await.expect("page").is_empty());

    f.store.close().await;
    let again = f.reopen().await;
    assert_eq!(again.pending_intents().await.expect("pending").len(), 4);
    let more = again.append(vec![note(99)]).await.expect("append");
    assert_eq!(more[0].seq, 15);
    assert_eq!(more[0].prev_hash, stored[13].hash);
    let report = again.verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.events, 15);
}

#[tokio::test]
async fn open_creates_directories_and_read_only_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nested/state/k.db");
    assert!(
        Store::open_read_only(&missing)
            .await
            .expect("no error")
            .is_none()
    );
    assert!(
        !dir.path().join("nested").exists(),
        "read-only open created files"
    );
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);

    let cp = dir.path().join("nested/state/k.db.checkpoints");
    let store = Store::open(&missing, &cp).await.expect("opens");
    store
        .append(vec![picked("ENG-1", "code")])
        .await
        .expect("append");
    store.flush_checkpoints().await.expect("flush");
    let mut raw = raw(&missing).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");

    let ro = Store::open_read_only(&missing)
        .await
        .expect("opens")
        .expect("exists");
    assert_eq!(ro.records().await.expect("records").len(), 1);
    assert!(matches!(
        ro.append(vec![note(1)]).await,
        Err(StoreError::Db(_))
    ));
    let report = ro
        .clone()
        .with_checkpoints(&cp)
        .verify()
        .await
        .expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.events, 1);
}

#[tokio::test]
async fn an_opened_pull_request_is_kept_in_the_record_across_later_events() {
    let f = Fixture::new().await;
    f.append(vec![picked("ENG-1", "code")]).await;
    f.append(vec![NewEvent::for_issue(
        "ENG-1",
        EventKind::PullRequestOpened {
            repo: "acme/app".into(),
            number: 7,
            url: "https://github.com/acme/app/pull/7".into(),
            branch: "karajan/ENG-1".into(),
            created: true,
            head: None,
        },
    )])
    .await;
    let expected = Some(karajan::domain::PullRequestRef {
        repo: "acme/app".into(),
        number: 7,
        url: "https://github.com/acme/app/pull/7".into(),
        head: None,
        merged: false,
    });
    let rec = f
        .store
        .record("ENG-1")
        .await
        .expect("record")
        .expect("exists");
    assert_eq!(rec.pull_request, expected);
    f.append(vec![run_started("ENG-1", "run-1", "code", 1)])
        .await;
    let records = f.store.records().await.expect("records");
    assert_eq!(
        records[0].pull_request, expected,
        "read from the tickets table"
    );
}
