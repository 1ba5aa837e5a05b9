//! Concurrent appends never fork the chain: in one process (clones of a store) and across
//! two independently opened stores on the same file (two processes' worth of pools).

use std::collections::HashSet;

use karajan::store::Store;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_from_many_tasks_form_one_chain() {
    let f = Fixture::new().await;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..8u32 {
        let store = f.store.clone();
        tasks.spawn(async move {
            let mut seqs = vec![];
            for n in 0..20u32 {
                let stored = store
                    .append(vec![note(task * 1000 + n), note(task * 1000 + n + 500)])
                    .await
                    .expect("append");
                // A batch is contiguous: nobody interleaves inside a transaction.
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
            assert!(all.insert(seq), "seq {seq} handed out twice");
        }
    }
    assert_eq!(all.len(), 320);
    assert_eq!(all.iter().max(), Some(&320));
    let report = f.store.verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.events, 320);
    assert_eq!(report.head_seq, 320);
    let events = f.store.events_page(0, 1000).await.expect("page");
    for pair in events.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_serialize_on_the_database_lock() {
    let f = Fixture::new().await;
    let other = Store::open(&f.db(), &f.dir.path().join("other.checkpoints"))
        .await
        .expect("second store");
    let mut tasks = tokio::task::JoinSet::new();
    for (i, store) in [f.store.clone(), other.clone(), f.store.clone(), other]
        .into_iter()
        .enumerate()
    {
        tasks.spawn(async move {
            for n in 0..15u32 {
                let id = u32::try_from(i).expect("small") * 100 + n;
                store.append(vec![note(id)]).await.expect("append");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
    let report = f.store.verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.events, 60);
}

/// An append is one request when the store's memory knows the head; when another
/// writer moved the head behind its back, that request's guard refuses it and the
/// append goes the long way: after the other's events, never over them.
#[tokio::test]
async fn an_append_after_another_writer_moved_the_head_goes_the_long_way() {
    let f = Fixture::new().await;
    let other = Store::open(&f.db(), &f.dir.path().join("other.checkpoints"))
        .await
        .expect("second store");
    let counts = |s: &Store| {
        let s = s.stats();
        (s.transactions, s.one_request)
    };
    f.store.append(vec![note(1)]).await.expect("append");
    assert_eq!(counts(&f.store), (1, 1));
    let theirs = other
        .append(vec![note(2)])
        .await
        .expect("the other's append");
    let ours = f
        .store
        .append(vec![note(3), note(4)])
        .await
        .expect("append");
    assert_eq!(ours[0].seq, theirs[0].seq + 1);
    assert_eq!(ours[0].prev_hash, theirs[0].hash);
    assert_eq!(counts(&f.store), (2, 1), "the long way");
    // Memory knows the head again.
    f.store.append(vec![note(5)]).await.expect("append");
    assert_eq!(counts(&f.store), (3, 2));
    let report = f.store.verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.events, 5);
    let events = f.store.events_page(0, 10).await.expect("page");
    for pair in events.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
}

/// An append dropped half-way (its caller cancelled, at any point of the transaction)
/// leaves nothing open behind it: the next append on the same store begins its own
/// transaction and commits, the chain has no gap or fork, and what the dropped append
/// wrote is all there or not at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_dropped_half_way_leaves_the_store_writable_and_whole() {
    let f = Fixture::new().await;
    f.append(vec![note(0)]).await;
    let mut dropped = 0;
    for k in 0..80u64 {
        let batch = vec![
            picked(&format!("ENG-{k}"), "code"),
            run_started(&format!("ENG-{k}"), &format!("run-{k}"), "code", 1),
            note(k as u32 + 1000),
        ];
        let cut = std::time::Duration::from_micros(25 * k);
        let stored = tokio::time::timeout(cut, f.store.append(batch)).await;
        if stored.is_err() {
            dropped += 1;
        }
        // Whatever the dropped append left, the next one goes through.
        let after = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            f.store.append(vec![note(k as u32 + 5000)]),
        )
        .await
        .expect("the next append does not wait on a transaction left open")
        .expect("the next append commits");
        assert_eq!(after.len(), 1);
    }
    assert!(dropped > 0, "some appends were dropped half-way");
    // The file, read afresh: one unbroken chain, each batch whole or absent.
    let disk = Store::open_read_only(&f.db())
        .await
        .expect("open read-only")
        .expect("exists");
    let report = disk.verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    let events = disk.events_page(0, 10_000).await.expect("events");
    for k in 0..80u64 {
        let issue = format!("ENG-{k}");
        let of_batch = events
            .iter()
            .filter(|e| e.issue.as_deref() == Some(issue.as_str()))
            .count();
        assert!(
            of_batch == 0 || of_batch == 2,
            "{issue}: {of_batch} of 2 events"
        );
    }
    disk.close().await;
}

/// An append whose caller stops waiting after the database committed it (but before
/// the answer came back) still leaves the store's memory in step with its file: the
/// records and head it answers from memory, and the next append's fold, know of it.
/// The append is polled by hand and dropped the moment another connection sees its
/// rows committed (tried again, on another ticket, when its answer came first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_dropped_after_its_commit_is_known_to_the_store() {
    use std::task::Poll;
    let f = Fixture::new().await;
    let mut watcher = f.raw().await;
    let mut cut = None;
    for attempt in 0..50 {
        let id = format!("ENG-{attempt}");
        let run = format!("run-{attempt}");
        // The store knows the ticket's record in memory before the append is dropped.
        f.append(vec![picked(&id, "code")]).await;
        assert!(f.store.record(&id).await.expect("record").is_some());
        let mut append = Box::pin(f.store.append(vec![run_started(&id, &run, "code", 1)]));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let dropped = loop {
            // Committed (seen from another connection) while the append was not polled
            // since its last request: its answer is waiting, unread.
            let committed: i64 = sqlx::query_scalar("SELECT count(*) FROM runs WHERE run_id = $1")
                .bind(&run)
                .fetch_one(&mut watcher)
                .await
                .expect("count");
            if committed > 0 {
                break true;
            }
            if let Poll::Ready(done) = futures::poll!(append.as_mut()) {
                done.expect("append");
                break false;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the append never committed"
            );
            tokio::time::sleep(std::time::Duration::from_micros(200)).await;
        };
        drop(append);
        if dropped {
            cut = Some((id, run));
            break;
        }
    }
    let (id, run) = cut.expect("an append was dropped after its commit");
    // The next append serializes behind whatever the dropped one still had to do.
    f.append(vec![note(1)]).await;
    let same_as_disk = |what: &'static str| {
        let (f, id) = (&f, &id);
        async move {
            let disk = Store::open_read_only(&f.db())
                .await
                .expect("open read-only")
                .expect("exists");
            assert_eq!(
                f.store.record(id).await.expect("memory"),
                disk.record(id).await.expect("disk"),
                "the record in memory {what}"
            );
            assert_eq!(
                f.store.committed_head().await.expect("memory"),
                disk.head().await.expect("disk"),
                "the head in memory {what}"
            );
            disk.close().await;
        }
    };
    same_as_disk("after the dropped append").await;
    // The next write about the ticket folds from the record the dropped append made.
    f.append(vec![run_finished(
        &id,
        &run,
        karajan::domain::RunStatus::Succeeded,
        karajan::domain::Phase::Succeeded {
            run_id: run.clone(),
            verdict: None,
        },
        None,
    )])
    .await;
    same_as_disk("after the next write").await;
    let report = f.store.verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
}
