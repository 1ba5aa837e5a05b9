//! Append, read and project on both engines (see `parity!`).

use std::collections::HashSet;

use karajan::domain::run::{Accounting, UsageBasis};
use karajan::domain::{Phase, RunStatus, TokenUsage};
use karajan::store::{EventKind, Grouping, NewEvent};

use super::parity;
use crate::store::{intent, note, picked, run_finished, run_started};

/// A ticket's life: picked, a run that fails and is retried, an intent recorded and
/// confirmed, a second ticket left running; plus global notes.
pub fn story() -> Vec<Vec<NewEvent>> {
    vec![
        vec![picked("ENG-2", "Implement"), note(1)],
        vec![picked("ENG-1", "Implement")],
        vec![run_started("ENG-1", "r-1", "Implement", 1)],
        vec![run_finished(
            "ENG-1",
            "r-1",
            RunStatus::Failed {
                reason: "exit 1".into(),
            },
            Phase::Ready,
            Some("sess-1"),
        )],
        vec![
            run_started("ENG-1", "r-2", "Implement", 2),
            intent("ENG-1", "i-1", "In Progress"),
        ],
        vec![
            run_finished(
                "ENG-1",
                "r-2",
                RunStatus::Succeeded,
                Phase::Waiting,
                Some("sess-2"),
            ),
            intent("ENG-1", "i-2", "Review"),
        ],
        vec![NewEvent::for_issue(
            "ENG-1",
            karajan::store::EventKind::IntentCompleted {
                intent_id: "i-1".into(),
                already_done: false,
            },
        )],
        vec![run_started("ENG-2", "r-3", "Implement", 1)],
        vec![note(2)],
    ]
}

parity! {
    /// What an append returns is what the store reads back, and the chain links.
    async fn append_read_round_trip(b: Backend) {
        let mut appended = vec![];
        for batch in story() {
            appended.extend(b.store.append(batch).await.expect("append"));
        }
        let read = b.store.events_page(0, 1000).await.expect("page");
        assert_eq!(read, appended, "{}", b.name);
        assert_eq!(read.len(), 12);
        for (i, e) in read.iter().enumerate() {
            assert_eq!(e.seq, i64::try_from(i).expect("small") + 1);
        }
        for pair in read.windows(2) {
            assert_eq!(pair[1].prev_hash, pair[0].hash);
        }
        assert_eq!(
            b.store.head().await.expect("head"),
            (12, read[11].hash.clone())
        );
        let of_kind = b.store.events_of_kind("ENG-1", "run_started").await.expect("kind");
        assert_eq!(of_kind.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 6]);
        let latest = b.store.latest_of_kind("ENG-1", "run_started").await.expect("latest");
        assert_eq!(latest.map(|e| e.seq), Some(6));
        let report = b.store.verify().await.expect("verify");
        assert!(report.is_ok(), "{}: {report:?}", b.name);
        assert_eq!(report.events, 12);
    }

    /// The fold gives the records, runs, sessions, intents and totals the story implies,
    /// and a reopened store (no memory of the appends) reads the same.
    async fn projections_follow_the_events(b: Backend) {
        for batch in story() {
            b.store.append(batch).await.expect("append");
        }
        for store in [b.store.clone(), b.reopen("again.checkpoints").await] {
            let records = store.records().await.expect("records");
            let ids: Vec<_> = records.iter().map(|r| r.identifier.as_str()).collect();
            assert_eq!(ids, ["ENG-1", "ENG-2"], "{}", b.name);
            let eng1 = &records[0];
            assert_eq!(eng1.phase, Phase::Waiting);
            assert_eq!(eng1.pending_intents, 1);
            assert_eq!(eng1.runs.get("Implement"), Some(&2));
            assert!(matches!(records[1].phase, Phase::Running { .. }));
            let runs = store.runs_for("ENG-1").await.expect("runs");
            assert_eq!(runs.len(), 2);
            assert_eq!(runs[0].status.as_deref(), Some("failed"));
            assert_eq!(runs[0].exit_code, Some(1));
            assert_eq!(runs[1].tokens.input, 100);
            let open = store.open_runs().await.expect("open runs");
            assert_eq!(open.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), ["r-3"]);
            let pending = store.pending_intents().await.expect("intents");
            assert_eq!(pending.iter().map(|p| p.intent_id.as_str()).collect::<Vec<_>>(), ["i-2"]);
            assert_eq!(
                store.latest_session("ENG-1", "claude").await.expect("session").as_deref(),
                Some("sess-2")
            );
            let totals = store.totals().await.expect("totals");
            assert_eq!(totals.runs, 3);
            assert_eq!(totals.tokens.output, 40);
            assert!((totals.cost_usd - 0.5).abs() < 1e-9, "{totals:?}");
            let by_state = store.totals_by(Grouping::State, None).await.expect("by state");
            assert_eq!(by_state.len(), 1);
            assert_eq!(by_state[0].0, "Implement");
            let by_day = store.totals_by(Grouping::Day, Some("ENG-1")).await.expect("by day");
            assert_eq!(by_day.len(), 1);
            assert_eq!(by_day[0].1.runs, 2);
            let today = chrono::Utc::now().date_naive();
            assert_eq!(store.totals_on(today).await.expect("today").runs, 3);
            let one = store.record("ENG-1").await.expect("record").expect("has one");
            assert_eq!(&one, eng1);
            assert!(store.record("ENG-404").await.expect("record").is_none());
        }
    }

    /// A second `RunStarted` with a used run id is refused, and nothing of its batch
    /// is written (the transaction rolls back on both engines).
    async fn a_refused_batch_writes_nothing(b: Backend) {
        b.store
            .append(vec![picked("ENG-1", "Implement"), run_started("ENG-1", "r-1", "Implement", 1)])
            .await
            .expect("append");
        let refused = b
            .store
            .append(vec![note(7), run_started("ENG-1", "r-1", "Implement", 2)])
            .await;
        assert!(refused.is_err(), "{}", b.name);
        assert_eq!(b.store.head().await.expect("head").0, 2);
        let after = b.store.append(vec![note(8)]).await.expect("append after");
        assert_eq!(after[0].seq, 3);
        assert!(b.store.verify().await.expect("verify").is_ok());
    }

    /// Many tasks on two store handles (two pools, as two processes would have) append
    /// at once: one chain, no seq twice, no gap, and it verifies.
    async fn concurrent_appenders_never_fork_the_chain(b: Backend) {
        let other = b.reopen("other.checkpoints").await;
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..8u32 {
            let store = if task % 2 == 0 { b.store.clone() } else { other.clone() };
            tasks.spawn(async move {
                let mut seqs = vec![];
                for n in 0..15u32 {
                    let stored = store
                        .append(vec![note(task * 1000 + n), note(task * 1000 + n + 500)])
                        .await
                        .expect("append");
                    assert_eq!(stored[1].seq, stored[0].seq + 1);
                    assert_eq!(stored[1].prev_hash, stored[0].hash);
                    seqs.extend(stored.iter().map(|e| e.seq));
                }
                seqs
            });
        }
        let mut all = HashSet::new();
        while let Some(seqs) = tasks.join_next().await {
            for seq in seqs.expect("task") {
                assert!(all.insert(seq), "{}: seq {seq} handed out twice", b.name);
            }
        }
        assert_eq!(all.len(), 240);
        assert_eq!(all.iter().max(), Some(&240));
        let report = b.store.verify().await.expect("verify");
        assert!(report.is_ok(), "{}: {report:?}", b.name);
        assert_eq!((report.events, report.head_seq), (240, 240));
        other.close().await;
    }

    /// What planning a run reads in one query is what the three separate reads say.
    async fn run_history_is_the_three_reads_in_one(b: Backend) {
        for batch in story() {
            b.store.append(batch).await.expect("append");
        }
        let one = b.store.run_history("ENG-1", Some("claude")).await.expect("history");
        let transition = b.store.latest_of_kind("ENG-1", "transition").await.expect("latest");
        assert_eq!(one.last_transition, transition.map(|t| t.payload), "{}", b.name);
        assert!(one.last_transition.is_some());
        let runs = b.store.runs_for("ENG-1").await.expect("runs");
        assert_eq!(one.last_run_at, runs.iter().filter_map(|r| r.finished_at).max());
        assert!(one.last_run_at.is_some());
        assert_eq!(one.session.as_deref(), Some("sess-2"), "{}", b.name);
        assert_eq!(
            one.session,
            b.store.latest_session("ENG-1", "claude").await.expect("session")
        );
        // A running ticket has no finished run; no runner asked, no session read.
        let two = b.store.run_history("ENG-2", None).await.expect("history");
        assert!(two.last_transition.is_some() && two.last_run_at.is_none());
        assert_eq!(two.session, None);
        let none = b.store.run_history("ENG-9", Some("claude")).await.expect("history");
        assert_eq!(none, karajan::store::RunHistory::default(), "{}", b.name);
    }

    /// The resumed session's usage so far comes with the run's history: the latest total
    /// a run of that session reported (the thread's total where the CLI reports one, an
    /// older event's `tokens` otherwise), skipping runs that reported none and runs of
    /// other sessions, as reading all the ticket's runs did.
    async fn run_history_carries_the_resumed_sessions_usage(b: Backend) {
        let tokens = |input| TokenUsage {
            input,
            ..TokenUsage::default()
        };
        let finished = |issue: &str, run: &str, session: &str, own, accounting| {
            let mut event =
                run_finished(issue, run, RunStatus::Succeeded, Phase::Ready, Some(session));
            if let EventKind::RunFinished {
                tokens: t,
                accounting: a,
                ..
            } = &mut event.kind
            {
                *t = tokens(own);
                *a = accounting;
            }
            event
        };
        let reported = |thread: Option<u64>| Accounting {
            usage: UsageBasis::Reported,
            thread_tokens: thread.map(tokens),
            ..Accounting::default()
        };
        let runs = [
            // Recorded before `accounting` existed: its tokens were the thread's total.
            finished("ENG-5", "r-0", "th", 10, None),
            finished("ENG-5", "r-1", "th", 5, Some(reported(Some(15)))),
            finished("ENG-5", "r-2", "other", 99, None),
            // Stopped before the CLI reported the thread's usage: no total.
            finished("ENG-5", "r-3", "th", 0, Some(reported(None))),
        ];
        for (n, run) in runs.into_iter().enumerate() {
            let id = format!("r-{n}");
            b.store
                .append(vec![run_started("ENG-5", &id, "Implement", 1), run])
                .await
                .expect("append");
        }
        let history = b.store.run_history("ENG-5", Some("claude")).await.expect("history");
        assert_eq!(history.session.as_deref(), Some("th"), "{}", b.name);
        assert_eq!(history.session_usage, Some(tokens(15)), "{}", b.name);
        // Not asked for a runner's session: none.
        let plain = b.store.run_history("ENG-5", None).await.expect("history");
        assert_eq!(plain.session_usage, None, "{}", b.name);
        // Only a legacy total: that one.
        b.store
            .append(vec![
                run_started("ENG-6", "r-x", "Implement", 1),
                finished("ENG-6", "r-x", "th", 10, None),
            ])
            .await
            .expect("append");
        let legacy = b.store.run_history("ENG-6", Some("claude")).await.expect("history");
        assert_eq!(legacy.session_usage, Some(tokens(10)), "{}", b.name);
    }
}
