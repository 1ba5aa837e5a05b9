//! The store parity suite: one set of store tests, each run on SQLite and on PostgreSQL.
//!
//! [`parity!`] turns each test body (an `async fn` taking a [`Backend`]) into a module
//! with two tests, `sqlite` and `postgres`; the Postgres one runs in a database of its
//! own (see `tests/pg.rs`) and is skipped with a message where `DATABASE_URL` is unset.
//! `cross` compares the two engines with each other (same events, same bytes).

mod cases;
mod copy;
mod cross;
mod daily;
mod processes;
mod tamper;

use karajan::settings::Secret;
use karajan::store::{Location, PgUrl, Store};

use crate::pg::TestDb;

/// One engine's store for one test: its location and checkpoint file.
pub struct Backend {
    pub name: &'static str,
    pub dir: tempfile::TempDir,
    pub location: Location,
    /// The Postgres database (`None` on SQLite); dropped with the backend.
    pub pg: Option<TestDb>,
    pub store: Store,
}

impl Backend {
    pub async fn sqlite() -> Backend {
        let dir = tempfile::tempdir().expect("tempdir");
        let location = Location::Sqlite(dir.path().join("k.db"));
        Backend::open("sqlite", dir, location, None).await
    }

    /// `None` (after saying so) when `DATABASE_URL` is unset.
    pub async fn postgres(test: &str) -> Option<Backend> {
        let db = TestDb::create(test).await?;
        let url = PgUrl::parse(Secret::new(db.url.clone())).expect("test URL parses");
        let dir = tempfile::tempdir().expect("tempdir");
        Some(Backend::open("postgres", dir, Location::Postgres(Box::new(url)), Some(db)).await)
    }

    async fn open(
        name: &'static str,
        dir: tempfile::TempDir,
        location: Location,
        pg: Option<TestDb>,
    ) -> Backend {
        let checkpoints = dir.path().join("k.checkpoints");
        let store = Store::open_at(&location, &checkpoints)
            .await
            .expect("store opens");
        Backend {
            name,
            dir,
            location,
            pg,
            store,
        }
    }

    /// Another writable handle on the same store (another process's pool).
    pub async fn reopen(&self, checkpoints: &str) -> Store {
        Store::open_at(&self.location, &self.dir.path().join(checkpoints))
            .await
            .expect("store reopens")
    }

    /// Run `sql` (statements separated by `;`) behind the store's back, with the
    /// append-only triggers dropped first, as an editor of the database would.
    pub async fn edit(&self, sql: &str) {
        match &self.pg {
            None => {
                let mut conn = crate::store::raw(&self.dir.path().join("k.db")).await;
                sqlx::raw_sql(
                    "DROP TRIGGER IF EXISTS events_no_update; \
                     DROP TRIGGER IF EXISTS events_no_delete;",
                )
                .execute(&mut conn)
                .await
                .expect("drop triggers");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(&mut conn)
                    .await
                    .expect("edit sql");
            }
            Some(db) => {
                let mut conn = db.connect().await;
                sqlx::raw_sql(
                    "DROP TRIGGER IF EXISTS events_no_update ON events; \
                     DROP TRIGGER IF EXISTS events_no_delete ON events;",
                )
                .execute(&mut conn)
                .await
                .expect("drop triggers");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(&mut conn)
                    .await
                    .expect("edit sql");
            }
        }
    }

    /// Close the store's pools (before the Postgres database is dropped).
    pub async fn finish(self) {
        self.store.close().await;
    }
}

/// `parity! { async fn name(b: Backend) { … } … }`: each body runs once on SQLite
/// (`name::sqlite`) and once on Postgres (`name::postgres`).
macro_rules! parity {
    ($(#[$doc:meta])* async fn $name:ident($b:ident: Backend) $body:block $($rest:tt)*) => {
        $(#[$doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($b: &crate::store::parity::Backend) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let b = crate::store::parity::Backend::sqlite().await;
                body(&b).await;
                b.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let test = concat!(module_path!(), "::postgres");
                let Some(b) = crate::store::parity::Backend::postgres(test).await else {
                    return;
                };
                body(&b).await;
                b.finish().await;
            }
        }
        parity! { $($rest)* }
    };
    () => {};
}
pub(crate) use parity;
