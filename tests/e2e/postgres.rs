//! The real binary on a PostgreSQL store (issue 14, item 1): the offline quickstart with
//! `store.url: postgres://postgres:$PGPW@…` runs end to end, `status`, `history` and
//! `verify` read the same store, no SQLite file is created, the URL's password never
//! appears in any output (debug logs included), and a second writer is refused by the
//! advisory lock. Skipped with a message where `DATABASE_URL` is unset.

use std::process::Output;
use std::time::Duration;

use super::single_daemon::{daemon_stderr, wait_output};
use super::support::{Scratch, command, stderr, stdout};
use crate::pg::TestDb;

/// A password the server ignores (trust authentication) but karajan must never show.
pub(super) const PASSWORD: &str = "pg-s3cr3t-Xq7";

/// `url` with `$PGPW` as its password (the workflow expands it at load).
pub(super) fn with_password_var(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (userinfo, host) = match rest.split_once('@') {
        Some((u, h)) => (u.split(':').next().unwrap_or("postgres"), h),
        None => ("postgres", rest),
    };
    format!("{scheme}://{userinfo}:$PGPW@{host}")
}

/// The quickstart with its store in `db`.
fn quickstart_on(db: &TestDb) -> Scratch {
    let s = Scratch::quickstart();
    let mut wf = std::fs::read_to_string(s.workflow()).expect("workflow");
    wf.push_str(&format!("store:\n  url: {}\n", with_password_var(&db.url)));
    std::fs::write(s.workflow(), wf).expect("write workflow");
    s
}

fn karajan(s: &Scratch, args: &[&str]) -> Output {
    command()
        .args(args)
        .current_dir(s.path())
        .env("KARAJAN_LOG", "debug")
        .env("PGPW", PASSWORD)
        .output()
        .expect("karajan runs")
}

fn no_password(what: &str, out: &Output) {
    for text in [stdout(out), stderr(out)] {
        assert!(
            !text.contains(PASSWORD),
            "{what} shows the password:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_runs_on_postgres_and_every_reader_reads_it() {
    let Some(db) = TestDb::create("e2e::postgres::the_quickstart_runs_on_postgres").await else {
        return;
    };
    let s = quickstart_on(&db);
    let check = karajan(&s, &["check", "workflow.yaml", "--offline"]);
    assert!(check.status.success(), "{}", stderr(&check));
    no_password("check", &check);

    let once = karajan(&s, &["run", "workflow.yaml", "--once"]);
    assert!(once.status.success(), "run --once:\n{}", stderr(&once));
    no_password("run --once", &once);
    assert!(stdout(&once).contains("QS-1"), "{}", stdout(&once));
    assert!(!s.db().exists(), "no SQLite store beside a Postgres one");

    let status = karajan(&s, &["status", "workflow.yaml"]);
    assert!(status.status.success(), "{}", stderr(&status));
    no_password("status", &status);
    assert!(stdout(&status).contains("QS-1"), "{}", stdout(&status));

    let history = karajan(&s, &["history", "QS-1", "--workflow", "workflow.yaml"]);
    assert!(history.status.success(), "{}", stderr(&history));
    no_password("history", &history);
    assert!(
        stdout(&history).contains("run_finished"),
        "{}",
        stdout(&history)
    );

    let verify = karajan(&s, &["verify", "workflow.yaml"]);
    assert!(verify.status.success(), "{}", stderr(&verify));
    no_password("verify", &verify);
    // The rows are in Postgres: the verified count is the table's.
    let mut conn = db.connect().await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert!(rows > 5, "{rows}");
    assert!(
        stdout(&verify).starts_with(&format!("ok: {rows} events verified")),
        "{}",
        stdout(&verify)
    );
    drop(conn);

    // An edited row is found by the binary's `verify` on Postgres too.
    let mut conn = db.connect().await;
    sqlx::raw_sql(
        "DROP TRIGGER events_no_update ON events; \
         UPDATE events SET payload = '{\"x\":1}' WHERE seq = 3",
    )
    .execute(&mut conn)
    .await
    .expect("tamper");
    drop(conn);
    let tampered = karajan(&s, &["verify", "workflow.yaml"]);
    assert!(!tampered.status.success());
    assert!(
        stdout(&tampered).contains("BROKEN seq 3"),
        "{}",
        stdout(&tampered)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_or_unreachable_store_url_is_a_clear_error_naming_the_key() {
    let s = Scratch::quickstart();
    let mut wf = std::fs::read_to_string(s.workflow()).expect("workflow");
    wf.push_str("store:\n  url: postgres://karajan:$PGPW@127.0.0.1:1/nowhere\n");
    std::fs::write(s.workflow(), &wf).expect("write");
    let once = karajan(&s, &["run", "workflow.yaml", "--once"]);
    assert_eq!(once.status.code(), Some(1), "{}", stderr(&once));
    no_password("an unreachable server", &once);
    let err = stderr(&once);
    assert!(
        err.contains("store.url") && err.contains("127.0.0.1:1/nowhere"),
        "{err}"
    );

    std::fs::write(s.workflow(), wf.replace("postgres://", "mysql://")).expect("write");
    let check = karajan(&s, &["check", "workflow.yaml", "--offline"]);
    assert!(!check.status.success());
    no_password("a bad scheme", &check);
    assert!(stderr(&check).contains("store.url"), "{}", stderr(&check));

    // Unset variable: named, value never shown.
    std::fs::write(s.workflow(), wf).expect("write");
    let unset = command()
        .args(["check", "workflow.yaml", "--offline"])
        .current_dir(s.path())
        .env_remove("PGPW")
        .output()
        .expect("runs");
    assert!(!unset.status.success());
    let err = stderr(&unset);
    assert!(err.contains("store.url") && err.contains("PGPW"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_on_one_postgres_store_is_refused_and_names_the_first() {
    let Some(db) = TestDb::create("e2e::postgres::a_second_writer_is_refused").await else {
        return;
    };
    let s = quickstart_on(&db);
    let log = std::fs::File::create(s.path().join("first.stderr")).expect("log");
    let first = command()
        .args(["run", "workflow.yaml", "--no-watch"])
        .current_dir(s.path())
        .env("KARAJAN_LOG", "info")
        .env("PGPW", PASSWORD)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("first daemon");
    let first = super::single_daemon::Daemon::from(first);
    // The first daemon holds the lock once it has written to the store.
    let started = std::time::Instant::now();
    loop {
        let mut conn = db.connect().await;
        let n: Option<i64> = sqlx::query_scalar(
            "SELECT seq FROM chain_head WHERE id = 1 AND to_regclass('chain_head') IS NOT NULL",
        )
        .fetch_optional(&mut conn)
        .await
        .unwrap_or(None);
        if n.unwrap_or(0) > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the first daemon never wrote:\n{}",
            daemon_stderr(&s, "first")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let second = command()
        .args(["run", "workflow.yaml", "--once"])
        .current_dir(s.path())
        .env("KARAJAN_LOG", "info")
        .env("PGPW", PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("second");
    let out = wait_output(second, Duration::from_secs(30)).expect("the second exits at once");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    no_password("the refused writer", &out);
    let err = stderr(&out);
    assert!(
        err.contains("another karajan is already writing this store"),
        "{err}"
    );
    assert!(err.contains(&format!("pid {}", first.id())), "{err}");
    assert!(err.contains("advisory lock"), "{err}");
    // Readers keep working beside the writer.
    let status = karajan(&s, &["status", "workflow.yaml"]);
    assert!(status.status.success(), "{}", stderr(&status));
    drop(first);
}
