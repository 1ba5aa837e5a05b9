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
        let mut guard = writer.conn.clone().lock_owned().await;
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
