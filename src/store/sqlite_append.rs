//! The append transaction on SQLite, in fewer trips to the connection's worker thread.
//!
//! sqlx runs every SQLite statement on the connection's own worker thread: each one is
//! a message there and an answer back, two thread wake-ups, and its `begin` and
//! `commit` wait besides for the caller to acknowledge the answer. An append through
//! sqlx's transaction API took about nine such waits (measured on the writer's thread:
//! 7,440 voluntary context switches for 862 appends over the drain benchmark). Here the
//! transaction is opened and the chain head read in one request (`BEGIN IMMEDIATE;
//! SELECT …`: SQLite runs both, in order, on the worker), and the head written and the
//! transaction committed in another (`UPDATE chain_head …; COMMIT`, the last statement
//! of `append::append_in`, which Postgres ends with the update alone), four waits
//! fewer. Between the two, the append's writes go as one request (see `script`):
//! three requests in all when the store's memory knows the tickets the batch touches.
//!
//! sqlx does not know of a transaction opened by a statement, so this module owns its
//! end: an error rolls it back before the connection goes back to the pool; a
//! connection whose transaction could not be ended (the rollback failed, or the append
//! was dropped half-way, as when its caller is cancelled) is closed instead of being
//! returned, and SQLite rolls back what a closed connection left uncommitted. No other
//! user of the pool can see the transaction half-done.

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use super::append::{Batch, Changed, append_in};
use super::backend::Conn;
use super::{StoreError, StoredEvent};

/// Takes the database's write lock (two writers, in this process or another, queue on
/// `busy_timeout` instead of both reading the same head), then reads the head.
const BEGIN_AND_HEAD: &str = "BEGIN IMMEDIATE; SELECT seq, hash FROM chain_head WHERE id = 1";

/// `HEAD_UPDATE`, then the commit.
const UPDATE_AND_COMMIT: &str = "UPDATE chain_head SET seq = $1, hash = $2 WHERE id = 1; COMMIT";

/// A connection with a transaction open: closed, not returned to the pool, unless the
/// transaction was ended (`ended`).
struct Open(Option<PoolConnection<Sqlite>>);

impl Open {
    fn conn(&mut self) -> &mut SqliteConnection {
        self.0
            .as_mut()
            .expect("a connection until the transaction ends")
    }

    /// The transaction is over (committed or rolled back): back to the pool.
    fn ended(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if let Some(conn) = self.0.as_mut() {
            conn.close_on_drop();
        }
    }
}

/// [`append_tracked`](super::append::append_tracked) on SQLite.
pub(super) async fn append(
    pool: &SqlitePool,
    batch: &Batch<'_>,
) -> Result<(Vec<StoredEvent>, Changed), StoreError> {
    let mut open = Open(Some(pool.acquire().await?));
    let conn = open.conn();
    let committed = match sqlx::query_as(BEGIN_AND_HEAD).fetch_one(&mut *conn).await {
        Ok(head) => append_in(&mut Conn::Sqlite(conn), head, UPDATE_AND_COMMIT, batch).await,
        Err(e) => Err(e.into()),
    };
    match committed {
        Ok(out) => {
            open.ended();
            Ok(out)
        }
        Err(e) => {
            // Nothing may be open when the connection goes back (SQLite refuses a
            // rollback with no transaction: one that never began, or a failed commit
            // that already ended it, and that refusal is harmless here).
            let rolled_back = match sqlx::query("ROLLBACK").execute(open.conn()).await {
                Ok(_) => true,
                Err(sqlx::Error::Database(db)) => db.message().contains("no transaction"),
                Err(_) => false,
            };
            if rolled_back {
                open.ended();
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::append::HEAD_UPDATE;
    use super::*;

    #[test]
    fn the_commit_writes_the_head_as_every_engine_does() {
        assert_eq!(UPDATE_AND_COMMIT, format!("{HEAD_UPDATE}; COMMIT"));
    }
}
