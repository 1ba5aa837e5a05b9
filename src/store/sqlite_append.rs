//! The append transaction on SQLite, in as few trips to the connection's worker thread
//! as it can.
//!
//! sqlx runs every SQLite statement on the connection's own worker thread: each one is
//! a message there and an answer back, two thread wake-ups, and its `begin` and
//! `commit` wait besides for the caller to acknowledge the answer. An append through
//! sqlx's transaction API took about nine such waits (measured on the writer's thread:
//! 7,440 voluntary context switches for 862 appends over the drain benchmark).
//!
//! When the store's memory knows the chain head and what the tickets the batch names
//! have of a record (see `reads_nothing`), an append is one request: `BEGIN IMMEDIATE`, a
//! guard that fails unless the database's head is the one memory holds
//! (`append::GUARD`), the writes (see `script`), the head's update and `COMMIT`, one
//! SQL text that SQLite runs in order on the worker. The guard failing (another writer despite the store lock, or memory
//! wrong) rolls that attempt back and the append runs again the long way.
//!
//! The long way is three requests: the transaction is opened and the chain head read in
//! one (`BEGIN IMMEDIATE; SELECT …`), the writes go as another, and the head is written
//! and the transaction committed in a third (`UPDATE chain_head …; COMMIT`, the last
//! statement of `append::append_in`, which Postgres ends with the update alone).
//!
//! sqlx does not know of a transaction opened by a statement, so this module owns its
//! end: an error rolls it back before the connection is given back; a connection whose
//! transaction could not be ended (the rollback failed, or the append was dropped
//! half-way, as when its caller is cancelled) is marked so (`Held::close_on_drop`): the
//! writer is rolled back before its next user gets it, a pooled connection is closed
//! (SQLite rolls back what a closed connection left uncommitted). No other user of the
//! connection can see the transaction half-done.

use sqlx::SqliteConnection;

use super::append::{Batch, Changed, Wrap, append_in};
use super::backend::Conn;
use super::sqlite_db::{Held, SqliteDb};
use super::{StoreError, StoredEvent};

/// Takes the database's write lock (two writers, in this process or another, queue on
/// `busy_timeout` instead of both reading the same head), then reads the head.
const BEGIN_AND_HEAD: &str = "BEGIN IMMEDIATE; SELECT seq, hash FROM chain_head WHERE id = 1";

/// `HEAD_UPDATE`, then the commit.
const UPDATE_AND_COMMIT: &str = "UPDATE chain_head SET seq = $1, hash = $2 WHERE id = 1; COMMIT";

/// A connection with a transaction open: not given back as it is (see
/// [`Held::close_on_drop`]) unless the transaction was ended (`ended`).
struct Open(Option<Held>);

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

/// [`append_tracked`](super::append::append_tracked) on SQLite: in one request when
/// the batch names the head, else (or when the database's head is not that one) the
/// long way.
pub(super) async fn append(
    pool: &SqliteDb,
    batch: &Batch<'_>,
) -> Result<(Vec<StoredEvent>, Changed), StoreError> {
    if let Some(hint) = batch.head.filter(|_| reads_nothing(batch)) {
        let mut open = Open(Some(pool.acquire().await?));
        let whole = append_in(
            &mut Conn::Sqlite(open.conn()),
            (hint.seq, hint.hash.to_vec()),
            Wrap::Whole,
            batch,
        )
        .await;
        match end(open, whole).await {
            Err(e) if head_moved(&e) => {
                tracing::warn!(
                    seq = hint.seq,
                    "the store's head was not where its memory had it; appending the long way"
                );
            }
            Ok(done) => return Ok(done),
            Err(e) => return Err(e),
        }
    }
    let mut open = Open(Some(pool.acquire().await?));
    let conn = open.conn();
    let committed = match sqlx::query_as(BEGIN_AND_HEAD).fetch_one(&mut *conn).await {
        Ok(head) => {
            append_in(
                &mut Conn::Sqlite(conn),
                head,
                Wrap::Open(UPDATE_AND_COMMIT),
                batch,
            )
            .await
        }
        Err(e) => Err(e.into()),
    };
    end(open, committed).await
}

/// Whether the batch can be appended in one request: no fence to check (a cluster's,
/// Postgres only) and every ticket it names known to the store's memory, with its
/// record or as having none, so the fold reads nothing (see `Wrap::Whole`). A new
/// ticket the poll asked about is known to have none: its first events go in one
/// request too, and its pending intents, which memory does not count for a ticket
/// without a record, are counted after the commit (`append::append_in`). Only a
/// ticket memory was never asked about goes the long way.
fn reads_nothing(batch: &Batch<'_>) -> bool {
    let Some(known) = batch.known else {
        return false;
    };
    batch.fence.is_none()
        && batch
            .events
            .iter()
            .filter_map(|e| e.issue.as_deref())
            .all(|id| known(id).is_some())
}

/// The connection back to the pool with no transaction open, or closed.
async fn end<T>(mut open: Open, outcome: Result<T, StoreError>) -> Result<T, StoreError> {
    match outcome {
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

/// Whether the one-request append's guard refused: `chain_head`'s key violated.
fn head_moved(e: &StoreError) -> bool {
    match e {
        StoreError::Db(sqlx::Error::Database(db)) => {
            db.is_unique_violation() && db.message().contains("chain_head.id")
        }
        _ => false,
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
