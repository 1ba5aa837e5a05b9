//! `karajan migrate --to postgres://…` with the real binary (issue 14, item 5): the
//! quickstart's SQLite store, after a `run --once`, is copied into a fresh PostgreSQL
//! database; the workflow pointed at it then prints the same `status`, `history` and
//! `verify` as on SQLite (so the same head hash, checked with the same checkpoint file
//! and key). Refused, with exit code and message: a bad or incomplete `--to`, a store a
//! daemon holds, a target that is not empty. The password never appears in any output.
//! Skipped with a message where `DATABASE_URL` is unset.

use std::process::Output;

use super::postgres::{PASSWORD, with_password_var};
use super::support::{Scratch, command, stderr, stdout};
use crate::pg::TestDb;

fn karajan(s: &Scratch, args: &[&str]) -> Output {
    let out = command()
        .args(args)
        .current_dir(s.path())
        .env("KARAJAN_LOG", "debug")
        .env("PGPW", PASSWORD)
        .output()
        .expect("karajan runs");
    for text in [stdout(&out), stderr(&out)] {
        assert!(
            !text.contains(PASSWORD),
            "{args:?} shows the password:\n{text}"
        );
    }
    out
}

/// `status`, `history QS-1` and `verify`, each's stdout, all succeeding.
fn readings(s: &Scratch) -> Vec<String> {
    [
        &["status", "workflow.yaml"][..],
        &["history", "QS-1", "--workflow", "workflow.yaml"],
        &["verify", "workflow.yaml"],
    ]
    .iter()
    .map(|args| {
        let out = karajan(s, args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    })
    .collect()
}

async fn pg_head(db: &TestDb) -> (i64, String, i64) {
    let mut conn = db.connect().await;
    let (seq, hash): (i64, Vec<u8>) =
        sqlx::query_as("SELECT seq, hash FROM chain_head WHERE id = 1")
            .fetch_one(&mut conn)
            .await
            .expect("head");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    (seq, hex::encode(hash), rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_moves_to_postgres_and_reads_the_same() {
    let Some(db) = TestDb::create("e2e::migrate::a_sqlite_store_moves_to_postgres").await else {
        return;
    };
    let s = Scratch::quickstart();
    s.once();
    let on_sqlite = readings(&s);
    let url = with_password_var(&db.url);

    // A bad URL, an unset variable: usage errors naming what is wrong, nothing written.
    let literal = url.replace("$PGPW", PASSWORD);
    let bad_port = literal.replacen("127.0.0.1:5432", "127.0.0.1:notaport", 1);
    assert_ne!(bad_port, literal, "DATABASE_URL is on 127.0.0.1:5432");
    let bad = karajan(&s, &["migrate", "--to", &bad_port]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("--to is not a valid PostgreSQL URL"),
        "{}",
        stderr(&bad)
    );
    let unset = karajan(
        &s,
        &["migrate", "--to", "postgres://u:$KARAJAN_NO_SUCH_VAR@h/d"],
    );
    assert_eq!(unset.status.code(), Some(2), "{}", stderr(&unset));
    assert!(
        stderr(&unset).contains("KARAJAN_NO_SUCH_VAR"),
        "{}",
        stderr(&unset)
    );
    let mysql = karajan(&s, &["migrate", "--to", "mysql://u:x@h/d"]);
    assert_eq!(mysql.status.code(), Some(2), "{}", stderr(&mysql));

    // A daemon holding the store: refused, naming the lock.
    let held = karajan::store::lock::acquire(&s.db()).expect("lock");
    let refused = karajan(&s, &["migrate", "--to", &url]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("already writing this store"),
        "{}",
        stderr(&refused)
    );
    drop(held);
    let mut conn = db.connect().await;
    let untouched: bool = sqlx::query_scalar("SELECT to_regclass('events') IS NULL")
        .fetch_one(&mut conn)
        .await
        .expect("query");
    assert!(untouched, "nothing created while refused");
    drop(conn);

    // The copy, with the literal password in --to: it is never printed.
    let moved = karajan(&s, &["migrate", "--to", &literal]);
    assert!(moved.status.success(), "migrate:\n{}", stderr(&moved));
    let said = stdout(&moved);
    let source = karajan::store::Store::open_read_only(&s.db())
        .await
        .expect("open")
        .expect("a store");
    let (seq, hash) = source.head().await.expect("head");
    source.close().await;
    assert!(seq > 5, "{seq}");
    assert_eq!(
        pg_head(&db).await,
        (seq, hash.clone(), seq),
        "the head and every row"
    );
    assert!(
        said.contains(&format!("compared {seq} events byte for byte")),
        "{said}"
    );
    assert!(
        said.contains(&format!("head seq {seq} hash {hash}")),
        "{said}"
    );
    assert!(
        said.contains("url: postgres://postgres:$PGPASSWORD@"),
        "{said}"
    );

    // Again, into the store it just filled: refused, and the target is unchanged.
    let again = karajan(&s, &["migrate", "--to", &url]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(
        stderr(&again).contains(&format!("is not empty (it holds {seq} events")),
        "{}",
        stderr(&again)
    );
    assert_eq!(pg_head(&db).await, (seq, hash.clone(), seq));

    // The workflow pointed at PostgreSQL reads the same, with the same checkpoint file
    // and key (`verify`'s first line names the head hash).
    let mut wf = std::fs::read_to_string(s.workflow()).expect("workflow");
    wf.push_str(&format!("store:\n  url: {url}\n"));
    std::fs::write(s.workflow(), wf).expect("write workflow");
    std::fs::rename(s.db(), s.path().join("old.db")).expect("move the SQLite file away");
    let on_postgres = readings(&s);
    assert_eq!(on_postgres, on_sqlite);
    assert!(on_postgres[2].starts_with(&format!(
        "ok: {seq} events verified; head seq {seq} hash {hash}"
    )));
    assert!(
        on_postgres[2].contains("signatures checked with"),
        "{}",
        on_postgres[2]
    );
    assert!(!s.db().exists(), "the readers created no SQLite file");
}
