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
