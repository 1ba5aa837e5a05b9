//! A SQLite database as a store holds it: a pool of connections (a writable store's
//! readers, a read-only store), or a writable store's one writer connection, held for
//! the store's life instead of pooled.
//!
//! Why the writer is not in a pool: sqlx tests every connection given back to a pool
//! (`PoolConnection`'s drop spawns a task that pings it: for SQLite a message to the
//! connection's worker thread and an answer back) before another task may take it. The
//! writer runs every append and the daemon's own reads, each taking the connection and
//! giving it back, so every one of them cost a second trip to the worker thread, as
//! many as the statements themselves: on the drain benchmark about 850 pings, each two
//! thread wake-ups (issue 11). Held behind a mutex, the connection goes from one user to
//! the next with no message at all.
//!
//! What the pool did besides, the holder does: a user dropped half-way through a
//! transaction it opened (see `sqlite_append`, which marks the connection with
//! [`Held::close_on_drop`]) leaves it to be rolled back before the next user gets it
//! (the pool closed such a connection instead, and SQLite rolled back), and
//! [`SqliteDb::close`] closes the connection once its current user is done.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteQueryResult, SqliteRow, SqliteStatement, SqliteTypeInfo};
use sqlx::{Connection, Either, Execute, Executor, Sqlite, SqliteConnection, SqlitePool};

/// How long [`SqliteDb::acquire`] waits for the writer (sqlx's default for a pool).
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A store's SQLite connections: a pool, or the held writer. Cheap to clone.
#[derive(Clone, Debug)]
pub enum SqliteDb {
    Pool(SqlitePool),
    Writer(Arc<Writer>),
}

/// The writer connection (`None` once closed) and whether it must be rolled back before
/// its next use.
#[derive(Debug)]
pub struct Writer {
    conn: Arc<tokio::sync::Mutex<Option<SqliteConnection>>>,
    roll_back: AtomicBool,
}

/// One connection, taken from a [`SqliteDb`] until dropped.
pub enum Held {
    Pooled(PoolConnection<Sqlite>),
    Writer(
        tokio::sync::OwnedMutexGuard<Option<SqliteConnection>>,
        Arc<Writer>,
    ),
}

impl SqliteDb {
    /// The writer connection, held from now on.
    pub fn writer(conn: SqliteConnection) -> SqliteDb {
        SqliteDb::Writer(Arc::new(Writer {
            conn: Arc::new(tokio::sync::Mutex::new(Some(conn))),
            roll_back: AtomicBool::new(false),
        }))
    }

    /// A connection: the pool's next free one, or the writer once its current user is
    /// done (rolled back first when its last user left a transaction open).
    pub async fn acquire(&self) -> Result<Held, sqlx::Error> {
        let writer = match self {
            SqliteDb::Pool(pool) => return Ok(Held::Pooled(pool.acquire().await?)),
            SqliteDb::Writer(writer) => writer,
        };
        // As long as a pool waits for a connection before giving up: a user that never
        // gives the writer back is a bug, reported rather than waited on forever.
        let mut guard = tokio::time::timeout(ACQUIRE_TIMEOUT, writer.conn.clone().lock_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?;
        let Some(conn) = guard.as_mut() else {
            return Err(sqlx::Error::PoolClosed);
        };
        if writer.roll_back.load(Ordering::Acquire) {
            match sqlx::query("ROLLBACK").execute(&mut *conn).await {
                Ok(_) => {}
                // Nothing was open (the transaction had ended, or never began).
                Err(sqlx::Error::Database(db)) if db.message().contains("no transaction") => {}
                Err(e) => return Err(e),
            }
            writer.roll_back.store(false, Ordering::Release);
        }
        Ok(Held::Writer(guard, writer.clone()))
    }

    /// Close every connection: the pool's once given back, the writer once its current
    /// user is done. Later uses fail (`PoolClosed`).
    pub async fn close(&self) {
        match self {
            SqliteDb::Pool(pool) => pool.close().await,
            SqliteDb::Writer(writer) => {
                let conn = writer.conn.lock().await.take();
                if let Some(conn) = conn {
                    let _ = conn.close().await;
                }
            }
        }
    }
}

impl Held {
    /// The user is leaving a transaction open (it is being dropped half-way): the pool's
    /// connection is closed instead of given back, the writer rolled back before its
    /// next use.
    pub fn close_on_drop(&mut self) {
        match self {
            Held::Pooled(conn) => conn.close_on_drop(),
            Held::Writer(_, writer) => writer.roll_back.store(true, Ordering::Release),
        }
    }
}

impl Deref for Held {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match self {
            Held::Pooled(conn) => conn,
            Held::Writer(guard, _) => guard.as_ref().expect("held while open"),
        }
    }
}

impl DerefMut for Held {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            Held::Pooled(conn) => conn,
            Held::Writer(guard, _) => guard.as_mut().expect("held while open"),
        }
    }
}

/// Queries run on `&SqliteDb` as on a pool: each takes a connection for itself (see
/// [`SqliteDb::acquire`]). On the writer, a query's rows are gathered before the
/// connection is given back (the store's queries read them all anyway).
impl<'c> Executor<'c> for &'c SqliteDb {
    type Database = Sqlite;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<SqliteQueryResult, SqliteRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        if let SqliteDb::Pool(pool) = self {
            return pool.fetch_many(query);
        }
        futures::stream::once(async move {
            let items = match self.acquire().await {
                Ok(mut conn) => conn.fetch_many(query).collect::<Vec<_>>().await,
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(items)
        })
        .flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<SqliteRow>, sqlx::Error>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Sqlite>,
    {
        Box::pin(async move { self.acquire().await?.fetch_optional(query).await })
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [SqliteTypeInfo],
    ) -> BoxFuture<'e, Result<SqliteStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        Box::pin(async move { self.acquire().await?.prepare_with(sql, parameters).await })
    }

    fn describe<'e>(
        self,
        sql: sqlx::SqlStr,
    ) -> BoxFuture<'e, Result<sqlx::Describe<Sqlite>, sqlx::Error>>
    where
        'c: 'e,
    {
        Box::pin(async move { self.acquire().await?.describe(sql).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::ConnectOptions;

    async fn writer(dir: &tempfile::TempDir) -> SqliteDb {
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("w.db"))
            .create_if_missing(true)
            .connect()
            .await
            .expect("connect");
        sqlx::query("CREATE TABLE t (n INTEGER)")
            .execute(&mut conn)
            .await
            .expect("table");
        SqliteDb::writer(conn)
    }

    async fn count(db: &SqliteDb) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(db)
            .await
            .expect("count")
    }

    /// A user that leaves a transaction open (dropped half-way) leaves it to be rolled
    /// back before the next user: what it wrote is gone, and the writer works on.
    #[tokio::test]
    async fn a_transaction_left_open_is_rolled_back_before_the_next_user() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = writer(&dir).await;
        {
            let mut held = db.acquire().await.expect("acquire");
            sqlx::query("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)")
                .execute(&mut *held)
                .await
                .expect("begin");
            held.close_on_drop();
        }
        assert_eq!(count(&db).await, 0, "rolled back");
        sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&db)
            .await
            .expect("insert");
        assert_eq!(count(&db).await, 1);
        // Marked but with nothing open: the refused rollback is no error.
        db.acquire().await.expect("acquire").close_on_drop();
        assert_eq!(count(&db).await, 1);
    }

    /// Queries on `&SqliteDb` take the writer one at a time; a closed writer refuses.
    #[tokio::test]
    async fn the_writer_serves_one_user_at_a_time_until_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = writer(&dir).await;
        let inserts = (0..20).map(|n| {
            let db = db.clone();
            tokio::spawn(async move {
                sqlx::query("INSERT INTO t VALUES ($1)")
                    .bind(n)
                    .execute(&db)
                    .await
                    .expect("insert");
            })
        });
        for insert in inserts.collect::<Vec<_>>() {
            insert.await.expect("task");
        }
        assert_eq!(count(&db).await, 20);
        db.close().await;
        assert!(matches!(db.acquire().await, Err(sqlx::Error::PoolClosed)));
        assert!(sqlx::query("SELECT 1").execute(&db).await.is_err());
    }

    /// A user that never gives the writer back is reported after the wait a pool
    /// allows, not waited on forever.
    #[tokio::test(start_paused = true)]
    async fn a_writer_never_given_back_times_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = writer(&dir).await;
        let _held = db.acquire().await.expect("acquire");
        let started = tokio::time::Instant::now();
        assert!(matches!(db.acquire().await, Err(sqlx::Error::PoolTimedOut)));
        assert_eq!(started.elapsed(), ACQUIRE_TIMEOUT);
    }
}
