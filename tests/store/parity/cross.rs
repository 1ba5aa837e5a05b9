//! The two engines compared with each other: the same events appended at the same
//! times give the same rows (hashes included, so the same bytes were hashed), the same
//! head and the same projections.

use karajan::store::{Grouping, Store};

use super::Backend;
use super::cases::story;
use crate::store::t;

/// Everything a reader can get from a store, for comparing two of them.
pub(super) async fn everything(store: &Store) -> String {
    let mut out = String::new();
    let events = store.events_page(0, 10_000).await.expect("events");
    out += &format!("events {events:?}\n");
    out += &format!("head {:?}\n", store.head().await.expect("head"));
    out += &format!("records {:?}\n", store.records().await.expect("records"));
    for id in ["ENG-1", "ENG-2"] {
        out += &format!("runs {id} {:?}\n", store.runs_for(id).await.expect("runs"));
        out += &format!(
            "totals {id} {:?}\n",
            store.totals_for(id).await.expect("totals")
        );
    }
    out += &format!("open {:?}\n", store.open_runs().await.expect("open"));
    out += &format!(
        "intents {:?}\n",
        store.pending_intents().await.expect("intents")
    );
    out += &format!("totals {:?}\n", store.totals().await.expect("totals"));
    for by in [Grouping::State, Grouping::Day] {
        out += &format!(
            "by {by:?} {:?}\n",
            store.totals_by(by, None).await.expect("by")
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_events_give_the_same_bytes_head_and_projections_on_both_engines() {
    let test = "store::parity::cross::the_same_events_give_the_same_bytes_head_and_projections_on_both_engines";
    let Some(pg) = Backend::postgres(test).await else {
        return;
    };
    let lite = Backend::sqlite().await;
    let t0 = t("2026-11-21T07:00:00.123456Z");
    for (i, (a, b)) in story().into_iter().zip(story()).enumerate() {
        let at = t0 + chrono::Duration::milliseconds(1500 * i64::try_from(i).expect("small"));
        lite.store.append_at(a, at).await.expect("sqlite append");
        pg.store.append_at(b, at).await.expect("postgres append");
    }
    let (l, p) = (everything(&lite.store).await, everything(&pg.store).await);
    assert_eq!(l, p);
    let (lh, ph) = (
        lite.store.head().await.expect("head"),
        pg.store.head().await.expect("head"),
    );
    assert_eq!(lh, ph);
    assert_eq!(lh.0, 12);
    for b in [&lite, &pg] {
        let report = b.store.verify().await.expect("verify");
        assert!(report.is_ok(), "{}: {report:?}", b.name);
        assert_eq!(report.head_hash, lh.1);
    }
    lite.finish().await;
    pg.finish().await;
}
