//! A fresh PostgreSQL database per test, on the server `DATABASE_URL` names
//! (`postgres://postgres@127.0.0.1:5432/test` on the project's machines and CI).
//!
//! [`TestDb::create`] makes a database with a unique name and [`Drop`] removes it
//! (`DROP DATABASE … WITH (FORCE)`, which also ends connections a failed test left open),
//! so tests never see each other's rows and a failing test leaves nothing behind. Where
//! `DATABASE_URL` is unset, `create` returns `None` after printing that the test is
//! skipped (in `cargo test`'s output, uncaptured): the Postgres half of a test is
//! visibly skipped, never silently passed.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct TestDb {
    /// The server's options (its own database), for creating and dropping.
    admin: PgConnectOptions,
    /// The URL of the fresh database.
    pub url: String,
    pub name: String,
}

impl TestDb {
    /// A new empty database, or `None` (with a message naming `test`) when
    /// `DATABASE_URL` is unset.
    pub async fn create(test: &str) -> Option<TestDb> {
        let Ok(base) = std::env::var("DATABASE_URL") else {
            // Straight to stderr, not `eprintln!`: the test harness would hide a
            // passing test's `eprintln!`, and a skip must be seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED (Postgres half): {test}: DATABASE_URL is not set"
            );
            return None;
        };
        let admin = PgConnectOptions::from_str(&base).expect("DATABASE_URL is a postgres URL");
        let name = format!(
            "karajan_t{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst),
            rand::random::<u32>()
        );
        let mut conn = admin.connect().await.expect("connect to DATABASE_URL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create the test database");
        conn.close().await.ok();
        let url = with_database(&base, &name);
        Some(TestDb { admin, url, name })
    }

    /// A direct connection to the test database (for editing rows behind the store).
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .expect("connect to the test database")
    }
}

/// `base` with its database replaced by `name` (query parameters kept).
pub fn with_database(base: &str, name: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let host_end = head[scheme_end..]
        .find('/')
        .map_or(head.len(), |i| scheme_end + i);
    let mut url = format!("{}/{name}", &head[..host_end]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop may run inside a runtime (or while panicking): use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut conn = admin.connect().await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: test database {} was not dropped", self.name);
        }
    }
}

#[test]
fn with_database_replaces_only_the_database() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/test?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}
