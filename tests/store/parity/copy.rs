//! `store::copy` (what `karajan migrate` runs): a SQLite store copied into an empty
//! PostgreSQL one reads back the same through every reader (events, head, records,
//! runs, intents, totals), the byte comparison finds an edited row by seq and column,
//! and a target holding anything is refused without a row written.

use karajan::settings::Secret;
use karajan::store::copy::{self, CopyError};
use karajan::store::{Location, PgUrl, Store};

use super::Backend;
use super::cases::story;
use super::cross::everything;
use crate::pg::TestDb;
use crate::store::t;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_reads_the_same_and_an_edited_row_is_found() {
    let Some(db) = TestDb::create("store::parity::copy::a_copy_reads_the_same").await else {
        return;
    };
    let lite = Backend::sqlite().await;
    let t0 = t("2026-11-21T07:00:00.123456Z");
    for (i, events) in story().into_iter().enumerate() {
        let at = t0 + chrono::Duration::milliseconds(1500 * i64::try_from(i).expect("small"));
        lite.store.append_at(events, at).await.expect("append");
    }
    let url = PgUrl::parse(Secret::new(db.url.clone())).expect("test URL parses");
    let target = karajan::store::postgres::open_write(&url)
        .await
        .expect("target");
    let source = lite.store.sqlite_readers().expect("a SQLite store");

    let copied = copy::copy(&source, &target).await.expect("copy");
    let head = lite.store.head().await.expect("head");
    assert_eq!(copied.events, head.0);
    assert_eq!(copied.head, head);
    assert!(
        copied
            .projections
            .iter()
            .any(|(t, n)| *t == "runs" && *n > 0)
    );

    let on_pg = Store::open_read_only_at(&Location::Postgres(Box::new(url.clone())))
        .await
        .expect("open")
        .expect("a store");
    assert_eq!(everything(&on_pg).await, everything(&lite.store).await);
    assert_eq!(copy::compare(&source, &target).await.expect("same"), head.0);

    // Into a store that holds rows: refused, nothing added.
    match copy::copy(&source, &target).await {
        Err(CopyError::NotEmpty {
            events, head: h, ..
        }) => {
            assert_eq!((events, h), (head.0, head.0));
        }
        other => panic!("not refused: {other:?}"),
    }
    assert_eq!(on_pg.head().await.expect("head"), head);

    // One payload edited behind the store's back: the comparison names its seq.
    let mut conn = db.connect().await;
    sqlx::raw_sql(
        "DROP TRIGGER events_no_update ON events; \
         UPDATE events SET payload = payload || ' ' WHERE seq = 3",
    )
    .execute(&mut conn)
    .await
    .expect("edit");
    drop(conn);
    let e = copy::compare(&source, &target).await.expect_err("differs");
    assert!(
        e.to_string()
            .contains("differs from the source at seq 3 (payload)"),
        "{e}"
    );
    on_pg.close().await;
    target.close().await;
    lite.finish().await;
}
