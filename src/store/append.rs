//! The append transaction: the only code that writes events.
//!
//! One transaction reads the one-row `chain_head` so that no other writer can read it
//! before this one commits: on SQLite, `BEGIN IMMEDIATE` takes the write lock up front
//! (two writers, in this process or another, queue on `busy_timeout` instead of both
//! reading the same head; the transaction itself is `sqlite_append`'s); on Postgres,
//! `SELECT … FOR UPDATE` locks the row (writers on other connections, processes or
//! machines queue on it, then read the head it committed). It then inserts the events
//! with their hashes, folds each into the projections, advances `chain_head`, and
//! commits. Any error rolls the whole batch
//! back: events and projections never disagree, and the chain never forks.
//!
//! Statements per transaction are kept few and constant: a batch of events is one
//! `INSERT … SELECT` over a JSON array (`json_each` on SQLite, `json_array_elements` on
//! Postgres: one SQL text, so one cached prepared statement, whatever the batch size,
//! and one round trip), except a small batch on SQLite (at most [`ROW_BY_ROW`] events,
//! nearly every append), where the script is one request anyway: there each event is a
//! one-row `INSERT` with its hashes bound as blobs (a multi-row insert makes SQLite
//! keep a statement journal, a copy of every page it touches, and the JSON array is
//! parsed once per column: together about a tenth of the daemon's instructions on the
//! drain benchmark, issue 11). The bound keeps the scripts' shapes few: each shape is
//! a prepared statement per SQL statement in it, cached by the connection. Each
//! touched ticket record is read once (where the
//! store's memory does not know it) and written once (see `projection::Fold`), and the
//! row projections are one statement per event that has one (runs, intents, sessions).
//! The writes are gathered in a [`Script`] and sent together: one request to SQLite's
//! worker thread for all of them, so an append on SQLite is three requests (`BEGIN`
//! with the head's read, the writes, the head's update with `COMMIT`), plus a read of
//! each touched ticket the store's memory does not know (and a cluster node's fence
//! check); or one request, when the store's memory knows the head and the tickets
//! (see `sqlite_append`).

use chrono::{DateTime, Utc};

use super::backend::{Conn, Dialect, Pool, on_conn};
use super::canonical::canonical_json;
use super::chain::{Hash, Link, event_hash_canonical, format_at, hex_of};
use super::event::NewEvent;
use super::fence::Fence;
use super::script::{Arg, Script};
use super::{StoreError, StoredEvent, projection, tickets};
use crate::domain::IssueRecord;

/// The event's JSON without its `kind` tag: what the `payload` column holds.
pub fn payload_of(event: &NewEvent) -> Result<serde_json::Value, StoreError> {
    let mut value = serde_json::to_value(&event.kind).map_err(|e| {
        StoreError::Corrupt(format!(
            "event {} does not serialize: {e}",
            event.kind.name()
        ))
    })?;
    match value.as_object_mut() {
        Some(map) => {
            map.shift_remove("kind");
        }
        None => {
            return Err(StoreError::Corrupt(format!(
                "event {} does not serialize to an object",
                event.kind.name()
            )));
        }
    }
    Ok(value)
}

/// Append `events` in one transaction; returns the stored rows.
pub async fn append(
    pool: &Pool,
    events: &[NewEvent],
    now: DateTime<Utc>,
    fence: Option<&Fence>,
) -> Result<Vec<StoredEvent>, StoreError> {
    Ok(append_tracked(pool, events, now, None, fence, None)
        .await?
        .0)
}

/// What a committed append changed of the ticket records: each touched ticket with its
/// record as committed (`pending_intents` counted), `None` when it has none.
pub type Changed = Vec<(String, Option<IssueRecord>)>;

/// [`append`], also returning (when `known`, the store's in-memory records, is given)
/// the records the transaction changed, for those records (see `cache`). What `known`
/// knows of a ticket is taken instead of reading it: the record before the events, and
/// its pending intents, counted from there by what the transaction added and removed.
///
/// `head`, the chain head as this process's last append left it (the writable store's
/// memory), lets SQLite run the whole transaction as one request (see `sqlite_append`);
/// the head in the database is checked in it, so a wrong one costs only a retry.
pub async fn append_tracked(
    pool: &Pool,
    events: &[NewEvent],
    now: DateTime<Utc>,
    known: Option<&projection::Known>,
    fence: Option<&Fence>,
    head: Option<HeadHint<'_>>,
) -> Result<(Vec<StoredEvent>, Changed), StoreError> {
    if events.is_empty() {
        return Ok((vec![], vec![]));
    }
    let batch = Batch {
        events,
        now,
        known,
        fence,
        head,
    };
    match pool {
        Pool::Sqlite(p) => super::sqlite_append::append(p, &batch).await,
        Pool::Postgres(p) => {
            let mut tx = p.begin().await?;
            // Locks the row, so a concurrent appender, in this process or another,
            // waits here and then reads the head this one committed.
            let head: (i64, Vec<u8>) =
                sqlx::query_as("SELECT seq, hash FROM chain_head WHERE id = 1 FOR UPDATE")
                    .fetch_one(&mut *tx)
                    .await?;
            let out = append_in(
                &mut Conn::Postgres(&mut tx),
                head,
                Wrap::Open(HEAD_UPDATE),
                &batch,
            )
            .await?;
            tx.commit().await?;
            Ok(out)
        }
    }
}

/// What one append writes, and with what it folds the records.
pub(super) struct Batch<'a> {
    pub events: &'a [NewEvent],
    pub now: DateTime<Utc>,
    pub known: Option<&'a projection::Known>,
    pub fence: Option<&'a Fence>,
    /// The head the caller believes the database holds (see [`append_tracked`]).
    pub head: Option<HeadHint<'a>>,
}

/// A ticket's pending intents before an append, as the writable SQLite store's outbox in
/// memory holds them (see `outbox`): exact, its appends being the database's only ones.
pub type PendingOf = dyn Fn(&str) -> u32 + Send + Sync;

/// The chain head as the writable store's last append left it, and the counter of the
/// appends made in one request with it (see `StoreStats`).
#[derive(Clone, Copy)]
pub struct HeadHint<'a> {
    pub seq: i64,
    pub hash: Hash,
    pub one_request: &'a std::sync::atomic::AtomicU64,
    /// The outbox in memory, which counts the pending intents of a ticket memory holds
    /// no record of: nothing is read after the commit for it.
    pub pending: Option<&'a PendingOf>,
}

/// How [`append_in`] ends its transaction.
pub(super) enum Wrap {
    /// The caller opened it and read the head under its lock: the head's update (`$1`
    /// the new head's seq, `$2` its hash), run last, which on SQLite also commits.
    Open(&'static str),
    /// Nothing is open: the writes go as one request that opens the transaction,
    /// checks the head given (see [`GUARD`]), writes, advances the head and commits
    /// (SQLite only, one SQL text). The caller makes sure the fold reads nothing
    /// (`sqlite_append::reads_nothing`); a ticket memory has no record of and the
    /// events made none is left out of the records handed back (memory reads it when
    /// asked). The one read that can be left after the commit is a pending-intent
    /// count: of a ticket whose first record the events made when no outbox in memory
    /// counts its intents ([`HeadHint::pending`]; memory's records count no intents of
    /// a ticket without a record), or one that memory's own count would take below zero
    /// (memory wrong); exact because the writable store is its database's only writer
    /// (the store lock) and holds its append lock throughout. An append that read
    /// nothing counts as made in one request (`StoreStats::one_request`).
    Whole,
}

/// Fails the transaction (a primary-key violation on `chain_head`) unless the head is
/// `$1` (seq) and `$2` (hash): another writer moved it, or memory is wrong.
pub(super) const GUARD: &str = "INSERT INTO chain_head (id, seq, hash) \
     SELECT 1, 0, zeroblob(32) WHERE NOT EXISTS \
     (SELECT 1 FROM chain_head WHERE id = 1 AND seq = $1 AND hash = $2)";

/// Advances the chain head to the last event appended (`$1` its seq, `$2` its hash).
pub(super) const HEAD_UPDATE: &str = "UPDATE chain_head SET seq = $1, hash = $2 WHERE id = 1";

/// The statement that inserts a whole batch: `$1` the time, `$2` a JSON array of
/// `[seq, issue, kind, payload text, prev hex, hash hex]` rows. One SQL text whatever
/// the batch size (one cached prepared statement).
fn insert_batch_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "INSERT INTO events (seq, at, issue, kind, payload, prev_hash, hash) \
             SELECT value ->> 0, $1, value ->> 1, value ->> 2, value ->> 3, \
             unhex(value ->> 4), unhex(value ->> 5) FROM json_each($2) ORDER BY key"
        }
        Dialect::Postgres => {
            "INSERT INTO events (seq, at, issue, kind, payload, prev_hash, hash) \
             SELECT CAST(value ->> 0 AS bigint), $1, value ->> 1, value ->> 2, value ->> 3, \
             decode(value ->> 4, 'hex'), decode(value ->> 5, 'hex') \
             FROM json_array_elements(CAST($2 AS json)) WITH ORDINALITY AS e(value, ord) \
             ORDER BY ord"
        }
    }
}

/// The most events a SQLite append inserts one row at a time; a larger batch (a
/// flood of agent output lines) is one statement over a JSON array.
pub(super) const ROW_BY_ROW: usize = 8;

/// The statement that inserts one event on SQLite, its hashes as blobs.
const INSERT_ONE_SQLITE: &str = "INSERT INTO events (seq, at, issue, kind, payload, prev_hash, hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// The body of the append transaction, on either engine, after the chain `head` (seq
/// and hash) was read under the write lock: the events, their projections and the
/// records they changed, then `advance` (`$1` the new head's seq, `$2` its hash:
/// [`HEAD_UPDATE`], which on SQLite also commits).
pub(super) async fn append_in(
    conn: &mut Conn<'_>,
    head: (i64, Vec<u8>),
    wrap: Wrap,
    batch: &Batch<'_>,
) -> Result<(Vec<StoredEvent>, Changed), StoreError> {
    let Batch {
        events,
        now,
        known,
        fence,
        head: _,
    } = *batch;
    let dialect = conn.dialect();
    let (mut seq, head_hash) = head;
    // A cluster node writes only under its lease (see `fence`), checked under the
    // head's lock, in this transaction.
    if let Some(fence) = fence {
        super::fence::check(conn, fence).await?;
    }
    let mut prev: Hash = head_hash
        .try_into()
        .map_err(|_| StoreError::Corrupt("chain_head.hash is not 32 bytes".into()))?;
    // The head as read, which the one-request transaction checks the database holds.
    let (head_seq, head_prev) = (seq, prev);
    let at_text = format_at(now);
    let at = super::sqlite::parse_time(&at_text, "event time")?;
    let mut stored = Vec::with_capacity(events.len());
    let mut script = Script::default();
    if let Wrap::Whole = wrap {
        script.push("BEGIN IMMEDIATE", vec![]);
        script.push(GUARD, vec![head_seq.into(), Arg::Blob(head_prev.to_vec())]);
    }
    let row_by_row = dialect == Dialect::Sqlite && events.len() <= ROW_BY_ROW;
    // Otherwise the batch's rows, inserted by one statement after the loop.
    let mut rows = vec![];
    let mut prev_hex = hex_of(&prev);
    for event in events {
        seq += 1;
        let kind = event.kind.name();
        let payload = payload_of(event)?;
        let canonical = canonical_json(&payload);
        let link = Link {
            prev_hash: &prev,
            seq,
            at: &at_text,
            issue: event.issue.as_deref(),
            kind,
            payload: &payload,
        };
        let hash = event_hash_canonical(&link, &canonical);
        let hash_hex = hex_of(&hash);
        if row_by_row {
            script.push(
                INSERT_ONE_SQLITE,
                vec![
                    seq.into(),
                    at_text.as_str().into(),
                    event.issue.as_deref().into(),
                    kind.into(),
                    canonical.into(),
                    Arg::Blob(prev.to_vec()),
                    Arg::Blob(hash.to_vec()),
                ],
            );
        } else {
            rows.push(serde_json::json!([
                seq,
                event.issue,
                kind,
                canonical,
                prev_hex,
                hash_hex
            ]));
        }
        stored.push(StoredEvent {
            seq,
            at,
            issue: event.issue.clone(),
            kind: kind.to_string(),
            payload,
            prev_hash: std::mem::replace(&mut prev_hex, hash_hex.clone()),
            hash: hash_hex,
        });
        prev = hash;
    }
    if !row_by_row {
        let rows = serde_json::Value::Array(rows).to_string();
        script.push(
            insert_batch_sql(dialect),
            vec![at_text.as_str().into(), rows.into()],
        );
    }
    let mut fold = projection::Fold::knowing(known);
    for (event, row) in events.iter().zip(&stored) {
        fold.apply(conn, &mut script, row.seq, at, event).await?;
    }
    fold.save(&mut script)?;
    if let Wrap::Whole = wrap {
        script.push(HEAD_UPDATE, vec![seq.into(), Arg::Blob(prev.to_vec())]);
        script.push("COMMIT", vec![]);
    }
    let removed = script.run(conn).await?;
    let touched = fold.left(removed);
    let mut changed = vec![];
    let mut read_after = false;
    let pending_of = batch.head.and_then(|h| h.pending);
    if let Some(known) = known {
        changed.reserve(touched.len());
        for left in touched {
            let id = left.identifier;
            // The record before this transaction, pending intents counted.
            let before = known(&id).flatten();
            let rec = match (left.record, &before) {
                (Some(rec), _) => Some(rec),
                // Unchanged by the events: as it was.
                (None, Some(before)) => Some((**before).clone()),
                // Memory has no record of it and the events made none: after the
                // commit (`Wrap::Whole`) nothing is read, and what memory knows of it
                // (nothing, or no record) still holds; in the transaction it is read,
                // so memory learns it.
                (None, None) if matches!(wrap, Wrap::Whole) => continue,
                (None, None) => tickets::load(conn, &id).await?,
            };
            let rec = match rec {
                Some(mut rec) => {
                    let base = match &before {
                        Some(b) => Some(b.pending_intents),
                        None => pending_of.map(|count| count(&id)),
                    };
                    let counted =
                        base.and_then(|b| u32::try_from(i64::from(b) + left.pending_delta).ok());
                    rec.pending_intents = match counted {
                        Some(n) => n,
                        None => {
                            read_after = true;
                            tickets::pending_count(conn, &id).await?
                        }
                    };
                    Some(rec)
                }
                None => None,
            };
            changed.push((id, rec));
        }
    }
    if let (Wrap::Whole, Some(hint), false) = (&wrap, batch.head, read_after) {
        super::writer::Counters::bump(hint.one_request);
    }
    if let Wrap::Open(advance) = wrap {
        on_conn!(conn, |c| sqlx::query(advance)
            .bind(seq)
            .bind(&prev[..])
            .execute(c)
            .await
            .map(drop))?;
    }
    Ok((stored, changed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventKind, Store};
    use sqlx::Connection;

    /// Every batch size up to [`ROW_BY_ROW`] is a script shape of its own, each a set of
    /// prepared statements the writer connection caches; past it, all sizes share the
    /// JSON insert, so a run's output flushed in batches of any size up to 256 lines
    /// does not fill that cache with scripts of hundreds of prepared inserts.
    #[tokio::test]
    async fn batches_past_row_by_row_share_one_prepared_script() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("k.db"), &dir.path().join("k.cp"))
            .await
            .expect("open");
        let line = |n: usize| {
            NewEvent::for_issue(
                "ENG-1",
                EventKind::AgentEvent {
                    run_id: "run-1".into(),
                    event: serde_json::json!({ "n": n }),
                },
            )
        };
        let cached = |store: &Store| {
            let Pool::Sqlite(pool) = &store.pool else {
                unreachable!("a SQLite store")
            };
            let pool = pool.clone();
            async move {
                let conn = pool.acquire().await.expect("the writer");
                conn.cached_statements_size()
            }
        };
        store
            .append((0..1).map(line).collect())
            .await
            .expect("append");
        let before = cached(&store).await;
        for size in ROW_BY_ROW + 1..ROW_BY_ROW + 41 {
            store
                .append((0..size).map(line).collect())
                .await
                .expect("append");
        }
        let after = cached(&store).await;
        assert!(
            after <= before + 2,
            "40 batch sizes past {ROW_BY_ROW} cached {} scripts more",
            after - before
        );
        let report = store.verify().await.expect("verify");
        assert!(report.is_ok(), "{report:?}");
    }
}
