//! The tracker lease and fencing, on a real PostgreSQL store: one holder at a time, a
//! token that grows on every acquisition, the database's clock deciding expiry, and a
//! stale holder's append rejected with nothing written.

use std::time::Duration;

use karajan::cluster::lease::{self, TRACKER};
use karajan::cluster::nodes::{self, Node};
use karajan::settings::Secret;
use karajan::store::{EventKind, Fence, Location, NewEvent, PgUrl, Store, StoreError};
use sqlx::PgPool;

use crate::pg::TestDb;

async fn open(db: &TestDb, dir: &std::path::Path, name: &str) -> Store {
    let url = PgUrl::parse(Secret::new(db.url.clone())).expect("url");
    Store::open_at(
        &Location::Postgres(Box::new(url)),
        &dir.join(format!("{name}.checkpoints")),
    )
    .await
    .expect("store opens")
}

fn started() -> Vec<NewEvent> {
    vec![NewEvent::global(EventKind::DaemonStarted {
        version: "test".into(),
        pid: 1,
    })]
}

fn fence(node: &str, token: i64) -> Fence {
    Fence {
        lease: TRACKER.into(),
        holder: node.into(),
        token,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_at_a_time_and_a_stale_holder_cannot_append() {
    let Some(db) = TestDb::create("cluster::lease::one_holder_at_a_time").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // Opening the store migrates it (the cluster tables included).
    let plain = open(&db, dir.path(), "plain").await;
    let pool = PgPool::connect(&db.url).await.expect("pool");
    let ttl = Duration::from_millis(1500);

    let a = lease::acquire(&pool, TRACKER, "a", ttl)
        .await
        .expect("acquire");
    assert_eq!(a, Some(1), "a free lease is taken with the first token");
    assert_eq!(
        lease::acquire(&pool, TRACKER, "b", ttl)
            .await
            .expect("acquire"),
        None,
        "a live lease is not taken by another node"
    );
    assert!(
        lease::renew(&pool, TRACKER, "a", 1, ttl)
            .await
            .expect("renew")
    );
    assert!(
        !lease::renew(&pool, TRACKER, "b", 1, ttl)
            .await
            .expect("renew"),
        "only the holder renews"
    );

    let store_a = open(&db, dir.path(), "a").await.fenced(fence("a", 1));
    store_a.append(started()).await.expect("the holder appends");

    // a stops renewing (paused): once the database's clock passes the expiry, its
    // appends are rejected even before anyone else takes the lease...
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    let (head, _) = plain.head().await.expect("head");
    assert_eq!(head, 1);
    let err = store_a.append(started()).await.expect_err("expired");
    assert!(matches!(err, StoreError::Fenced { .. }), "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(
        !lease::renew(&pool, TRACKER, "a", 1, ttl)
            .await
            .expect("renew")
    );

    // ...and after b took it, with the next token.
    let b = lease::acquire(&pool, TRACKER, "b", ttl)
        .await
        .expect("acquire");
    assert_eq!(b, Some(2), "every acquisition is a new term");
    let err = store_a.append(started()).await.expect_err("stale");
    let text = err.to_string();
    assert!(
        text.contains("held by b with token 2") && text.contains("node a"),
        "{text}"
    );
    assert_eq!(
        plain.head().await.expect("head").0,
        head,
        "nothing was written"
    );

    let store_b = open(&db, dir.path(), "b").await.fenced(fence("b", 2));
    store_b
        .append(started())
        .await
        .expect("the new holder appends");
    // A node taking back a lease it lost opens a new term: its old token stays stale.
    lease::release(&pool, TRACKER, "b", 2)
        .await
        .expect("release");
    assert_eq!(
        lease::acquire(&pool, TRACKER, "a", ttl)
            .await
            .expect("acquire"),
        Some(3),
        "a released lease is free at once"
    );
    assert!(matches!(
        store_a.append(started()).await,
        Err(StoreError::Fenced { .. })
    ));
    assert!(matches!(
        store_b.append(started()).await,
        Err(StoreError::Fenced { .. })
    ));
    // Each node keeps its own checkpoint file; the last writer's vouches for the head.
    let report = store_b.verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        report.events, 2,
        "only the holders' appends are in the chain"
    );
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_node_name_is_not_taken_by_a_second_process() {
    let Some(db) = TestDb::create("cluster::lease::a_live_node_name").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let _store = open(&db, dir.path(), "s").await;
    let pool = PgPool::connect(&db.url).await.expect("pool");
    let ttl = Duration::from_millis(1500);
    let first = Node::this(Some("n1"), 2);
    nodes::register(&pool, &first, ttl).await.expect("first");
    let second = Node::this(Some("n1"), 2);
    let err = nodes::register(&pool, &second, ttl)
        .await
        .expect_err("a live name is refused");
    assert!(err.to_string().contains("--node"), "{err}");
    // Once the first stops beating (killed), its name is free again.
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    nodes::register(&pool, &second, ttl)
        .await
        .expect("taken over");
    assert!(
        !nodes::heartbeat(&pool, &first, 0).await.expect("beat"),
        "the first process learns its name is gone"
    );
    let listed = nodes::list(&pool).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].slots, listed[0].running), (2, 0));
    pool.close().await;
}
