//! Point 16 (part): every recorded event reaches the live feed, including those the
//! run tasks record (`run_spawned`, agent events, the `after_run` hook).

use std::sync::Arc;

use karajan::orchestrator::{Engine, Options};
use karajan::store::Store;
use tokio_util::sync::CancellationToken;

use super::support::edit_workflow;
use crate::e2e::support::Scratch;

#[tokio::test]
async fn the_live_feed_carries_every_recorded_event_without_gaps() {
    let s = Scratch::quickstart();
    // An after_run hook: recorded by the run task too.
    edit_workflow(&s, "hooks:\n", "hooks:\n  after_run: \"true\"\n");
    let wf = karajan::workflow_load::load(&s.workflow()).unwrap_or_else(|e| panic!("{e}"));
    let tracker = karajan::tracker::from_config(&wf).unwrap();
    std::fs::create_dir_all(wf.store.path.parent().unwrap()).unwrap();
    std::fs::create_dir_all(&wf.store.logs).unwrap();
    let store = Store::open(&wf.store.path, &wf.store.checkpoints)
        .await
        .unwrap();
    let engine = Engine::new(Arc::new(wf), tracker, store.clone());
    let opts = Options {
        once: true,
        watch: false,
        shutdown: CancellationToken::new(),
    };
    // A current-thread runtime: the actor cannot record anything before we subscribe.
    let (handle, task) = karajan::orchestrator::spawn(engine, opts);
    let mut feed = handle.subscribe();
    task.await.unwrap().unwrap();
    let mut seen = vec![];
    let mut kinds = vec![];
    while let Ok(e) = feed.try_recv() {
        if let Some(seq) = e.seq {
            seen.push(seq);
            kinds.push(e.kind.clone());
        }
    }
    seen.sort_unstable();
    let store = Store::open_read_only(&s.db()).await.unwrap().unwrap();
    let (head, _) = store.head().await.unwrap();
    let expected: Vec<i64> = (1..=head).collect();
    assert!(
        kinds.iter().any(|k| k == "run_spawned"),
        "a run was spawned: {kinds:?}"
    );
    assert!(kinds.iter().any(|k| k == "hook_ran"), "{kinds:?}");
    assert_eq!(seen, expected, "every recorded event, once, no gaps");
}
