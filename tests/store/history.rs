//! Queries that must not grow with history (issue 11 point 6), and the store's explicit
//! durability point (point 5): the records of tickets still in play, one kind of a
//! ticket's events without its agent output lines, today's spend, `Store::sync`.

use karajan::domain::{Cause, Phase, RunStatus, StateKind};

use super::{Fixture, intent, output_line, picked, run_finished, run_started, transition};

#[tokio::test]
async fn active_records_leave_out_done_tickets() {
    let f = Fixture::new().await;
    f.append(vec![picked("ENG-1", "code")]).await;
    f.append(vec![transition(
        "ENG-1",
        "done",
        StateKind::Terminal,
        Cause::HumanMoved {
            column: "Done".into(),
        },
    )])
    .await;
    f.append(vec![
        picked("ENG-2", "code"),
        intent("ENG-2", "i-1", "Code"),
    ])
    .await;
    let all = f.store.records().await.expect("records");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].phase, Phase::Done);
    let active = f.store.active_records().await.expect("active records");
    let ids: Vec<&str> = active.iter().map(|r| r.identifier.as_str()).collect();
    assert_eq!(ids, vec!["ENG-2"]);
    assert_eq!(active[0].pending_intents, 1);
    assert_eq!(active[0], all[1]);
}

#[tokio::test]
async fn one_kind_of_a_tickets_events_comes_without_its_output_lines() {
    let f = Fixture::new().await;
    f.append(vec![
        picked("ENG-1", "code"),
        run_started("ENG-1", "r1", "code", 1),
    ])
    .await;
    f.append((0..40).map(|n| output_line("ENG-1", "r1", n)).collect())
        .await;
    f.append(vec![run_finished(
        "ENG-1",
        "r1",
        RunStatus::Succeeded,
        Phase::Succeeded {
            run_id: "r1".into(),
            verdict: None,
        },
        Some("s-1"),
    )])
    .await;
    f.append(vec![transition(
        "ENG-1",
        "review",
        StateKind::Gate,
        Cause::AgentFinished {
            run_id: "r1".into(),
        },
    )])
    .await;
    let all = f.store.events_for("ENG-1").await.expect("events");
    let finished = f
        .store
        .events_of_kind("ENG-1", "run_finished")
        .await
        .expect("run_finished events");
    let expected: Vec<_> = all
        .iter()
        .filter(|e| e.kind == "run_finished")
        .cloned()
        .collect();
    assert_eq!(finished, expected);
    let transitions = f
        .store
        .events_of_kind("ENG-1", "transition")
        .await
        .expect("transitions");
    assert_eq!(transitions.len(), 2);
    assert!(transitions[0].seq < transitions[1].seq);
    let latest = f
        .store
        .latest_of_kind("ENG-1", "transition")
        .await
        .expect("latest");
    assert_eq!(latest.as_ref(), transitions.last());
    assert_eq!(
        f.store
            .latest_of_kind("ENG-2", "transition")
            .await
            .expect("none"),
        None
    );
}

#[tokio::test]
async fn todays_spend_counts_the_runs_started_today_only() {
    let f = Fixture::new().await;
    f.append(vec![
        picked("ENG-1", "code"),
        run_started("ENG-1", "r1", "code", 1),
    ])
    .await;
    f.append(vec![run_finished(
        "ENG-1",
        "r1",
        RunStatus::Succeeded,
        Phase::Succeeded {
            run_id: "r1".into(),
            verdict: None,
        },
        None,
    )])
    .await;
    let today = chrono::Utc::now().date_naive();
    let totals = f.store.totals_on(today).await.expect("today");
    assert_eq!(totals.runs, 1);
    assert!((totals.cost_usd - 0.25).abs() < 1e-9, "{totals:?}");
    for other in [
        today.pred_opt().expect("yesterday"),
        today.succ_opt().expect("tomorrow"),
    ] {
        assert_eq!(f.store.totals_on(other).await.expect("other day").runs, 0);
    }
    // The same figure as the per-day grouping.
    let by_day = f
        .store
        .totals_by(karajan::store::Grouping::Day, None)
        .await
        .expect("by day");
    assert_eq!(by_day, vec![(today.format("%Y-%m-%d").to_string(), totals)]);
}

/// A durability point (before every tracker write) makes the commits durable, and
/// leaves the checkpoint file to its writer, at most once a second (issue 11: the drain
/// bench rewrote and signed the file before each of its 200 tracker writes).
#[tokio::test]
async fn sync_makes_the_commits_durable_without_writing_the_checkpoint_file() {
    let f = Fixture::new().await;
    let before = f.store.stats();
    for n in 0..5 {
        // The store's own append (the fixture's also writes the file).
        f.store.append(vec![super::note(n)]).await.expect("append");
        f.store.sync().await.expect("sync");
    }
    let after = f.store.stats();
    // Each sync found a new commit to make durable (the background writer may have
    // synced too, before its write).
    assert!(
        after.wal_syncs - before.wal_syncs >= 5,
        "{before:?} → {after:?}"
    );
    // The file: its writer's leading write, and one at the end of its second at most.
    assert!(
        after.checkpoint_writes - before.checkpoint_writes <= 2,
        "{before:?} → {after:?}"
    );
    f.store.sync().await.expect("sync again");
    assert_eq!(
        f.store.stats().wal_syncs,
        after.wal_syncs,
        "nothing new: nothing to sync"
    );
}

#[tokio::test]
async fn flushing_syncs_the_wal_and_brings_the_checkpoint_file_to_the_head() {
    let f = Fixture::new().await;
    let stored = f.append((1..=3).map(super::note).collect()).await;
    let more = f.append((4..=6).map(super::note).collect()).await;
    let before = f.store.stats();
    assert_eq!(before.transactions, 2);
    f.store.flush_checkpoints().await.expect("flush");
    let text = std::fs::read_to_string(f.checkpoints()).expect("checkpoint file");
    let head = more.last().expect("rows");
    assert!(
        text.contains(&format!("head {} {}", head.seq, head.hash)),
        "{text}"
    );
    assert!(stored.len() == 3);
    let after = f.store.stats();
    // Whether the background writer got there first or `sync` did, every checkpoint
    // write came with a WAL sync before it, and nothing is left to write.
    assert_eq!(after.wal_syncs, after.checkpoint_writes);
    assert!(after.checkpoint_writes >= 1);
    f.store.flush_checkpoints().await.expect("flush again");
    assert_eq!(f.store.stats(), after, "a second flush has nothing to do");
}
