//! Read queries over the chain and the projections. Plain `SELECT`s; they never take the
//! write lock, so the dashboard and the CLI can read while the daemon appends (WAL).

use std::collections::{BTreeMap, HashMap};

use super::backend::{Conn, DbRow, Pool, on_pool};

use super::sqlite::{from_json, parse_time, to_u32, to_u64};
use super::tickets::{self, TICKET_COLUMNS};
use super::{PendingIntent, RunRow, StoreError, StoredEvent, Totals};
use crate::domain::{IssueRecord, TokenUsage};

pub fn event_from_row(row: &impl DbRow) -> Result<StoredEvent, StoreError> {
    let seq: i64 = row.col("seq")?;
    let at: String = row.col("at")?;
    let payload: String = row.col("payload")?;
    let prev_hash: Vec<u8> = row.col("prev_hash")?;
    let hash: Vec<u8> = row.col("hash")?;
    Ok(StoredEvent {
        seq,
        at: parse_time(&at, &format!("event {seq} at"))?,
        issue: row.col("issue")?,
        kind: row.col("kind")?,
        payload: from_json(&payload, &format!("event {seq} payload"))?,
        prev_hash: super::chain::hex_of(&prev_hash),
        hash: super::chain::hex_of(&hash),
    })
}

pub async fn events_for(pool: &Pool, identifier: &str) -> Result<Vec<StoredEvent>, StoreError> {
    on_pool!(pool, |p| {
        let rows = sqlx::query(
            "SELECT seq, at, issue, kind, payload, prev_hash, hash FROM events \
         WHERE issue = $1 ORDER BY seq",
        )
        .bind(identifier)
        .fetch_all(p)
        .await?;
        rows.iter().map(event_from_row).collect()
    })
}

/// A ticket's events of one kind, newest first. No `LIMIT $n`: SQLite plans a bound
/// `LIMIT` with its value, so rebinding one makes it prepare the statement again on
/// every execution (a run's start reads these, issue 11); the one-row form is its own
/// text.
const EVENTS_OF_KIND: &str = "SELECT seq, at, issue, kind, payload, prev_hash, hash \
     FROM events WHERE issue = $1 AND kind = $2 ORDER BY seq DESC";
const LATEST_OF_KIND: &str = "SELECT seq, at, issue, kind, payload, prev_hash, hash \
     FROM events WHERE issue = $1 AND kind = $2 ORDER BY seq DESC LIMIT 1";

/// One ticket's events of one kind, in seq order (the `events_issue_kind` index: the
/// ticket's other events, agent output lines included, are not read); only the latest
/// when `latest`.
pub async fn events_of_kind(
    pool: &Pool,
    identifier: &str,
    kind: &str,
    latest: bool,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = if latest {
        LATEST_OF_KIND
    } else {
        EVENTS_OF_KIND
    };
    let mut events = on_pool!(pool, |p| {
        let rows = sqlx::query(sql)
            .bind(identifier)
            .bind(kind)
            .fetch_all(p)
            .await?;
        rows.iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()?
    });
    events.reverse();
    Ok(events)
}

/// The latest `limit` events of one kind, newest first.
pub async fn recent_of_kind(
    pool: &Pool,
    kind: &str,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    on_pool!(pool, |p| {
        let rows = sqlx::query(
            "SELECT seq, at, issue, kind, payload, prev_hash, hash FROM events \
         WHERE kind = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(kind)
        .bind(limit.max(0))
        .fetch_all(p)
        .await?;
        rows.iter().map(event_from_row).collect()
    })
}

/// Up to `limit` comment intents (`intent_recorded` events whose op is `comment`) with
/// seq below `before`, newest first (the `events_kind` index; the payload is canonical
/// JSON, so the op reads `"op":"comment"`, and a comment's body cannot hold that text
/// unescaped).
pub async fn comment_intents_before(
    pool: &Pool,
    before: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    on_pool!(pool, |p| {
        let rows = sqlx::query(
            "SELECT seq, at, issue, kind, payload, prev_hash, hash FROM events \
         WHERE kind = 'intent_recorded' AND seq < $1 AND payload LIKE '%\"op\":\"comment\"%' \
         ORDER BY seq DESC LIMIT $2",
        )
        .bind(before)
        .bind(limit.max(0))
        .fetch_all(p)
        .await?;
        rows.iter().map(event_from_row).collect()
    })
}

pub async fn events_page(
    pool: &Pool,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    on_pool!(pool, |p| {
        let rows = sqlx::query(
            "SELECT seq, at, issue, kind, payload, prev_hash, hash FROM events \
         WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit.max(0))
        .fetch_all(p)
        .await?;
        rows.iter().map(event_from_row).collect()
    })
}

pub async fn head(pool: &Pool) -> Result<(i64, String), StoreError> {
    let (seq, hash): (i64, Vec<u8>) = on_pool!(pool, |p| {
        sqlx::query_as("SELECT seq, hash FROM chain_head WHERE id = 1")
            .fetch_one(p)
            .await?
    });
    Ok((seq, hex::encode(hash)))
}

/// Every ticket record, or (`active`) only those of tickets not done.
pub async fn records(pool: &Pool, active: bool) -> Result<Vec<IssueRecord>, StoreError> {
    if active {
        records_where(pool, "phase <> 'done'", None).await
    } else {
        records_where(pool, "TRUE", None).await
    }
}

/// The records of the tickets named in `ids` that the store has.
pub async fn records_of(pool: &Pool, ids: &[String]) -> Result<Vec<IssueRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let list = serde_json::to_string(ids)
        .map_err(|e| StoreError::Corrupt(format!("identifiers do not serialize: {e}")))?;
    records_where(pool, pool.dialect().identifier_in_json(), Some(&list)).await
}

/// The records of the tickets whose `tickets` row matches `filter` (SQL over that table,
/// with at most one parameter, `$1`, bound to `bind`), with rework counts and pending intents.
async fn records_where(
    pool: &Pool,
    filter: &str,
    bind: Option<&str>,
) -> Result<Vec<IssueRecord>, StoreError> {
    let of_tickets =
        format!(" WHERE identifier IN (SELECT identifier FROM tickets WHERE {filter})");
    on_pool!(pool, |p| {
        let query = |sql: String| {
            let q = sqlx::query(sqlx::AssertSqlSafe(sql));
            match bind {
                Some(b) => q.bind(b.to_string()),
                None => q,
            }
        };
        let mut rework: HashMap<String, BTreeMap<String, u32>> = HashMap::new();
        for row in query(format!(
            "SELECT identifier, gate, count FROM rework_counts{of_tickets}"
        ))
        .fetch_all(p)
        .await?
        {
            let count = to_u32(row.col("count")?, "rework count")?;
            rework
                .entry(row.col("identifier")?)
                .or_default()
                .insert(row.col("gate")?, count);
        }
        let mut pending: HashMap<String, u32> = HashMap::new();
        for row in query(format!(
            "SELECT identifier, count(*) AS n FROM pending_intents{of_tickets} GROUP BY identifier"
        ))
        .fetch_all(p)
        .await?
        {
            pending.insert(
                row.col("identifier")?,
                to_u32(row.col("n")?, "pending count")?,
            );
        }
        let rows = query(format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE {filter} ORDER BY identifier"
        ))
        .fetch_all(p)
        .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.col("identifier")?;
                let rw = rework.remove(&id).unwrap_or_default();
                let n = pending.get(&id).copied().unwrap_or(0);
                tickets::record_from_row(row, rw, n)
            })
            .collect()
    })
}

pub async fn record(pool: &Pool, identifier: &str) -> Result<Option<IssueRecord>, StoreError> {
    on_pool!(pool, |p| {
        let mut conn = p.acquire().await?;
        let conn = &mut Conn::from(&mut *conn);
        let Some(mut rec) = tickets::load(conn, identifier).await? else {
            return Ok(None);
        };
        rec.pending_intents = tickets::pending_count(conn, identifier).await?;
        Ok(Some(rec))
    })
}

const RUN_COLUMNS: &str = "run_id, identifier, state, run_number, attempt, runner, pid, \
     started_at, finished_at, status, exit_code, duration_ms, tokens_input, tokens_output, \
     tokens_cache_read, tokens_cache_write, cost_usd, config_digest, prompt_digest, \
     workspace, log_dir";

fn run_from_row(row: &impl DbRow) -> Result<RunRow, StoreError> {
    let run_id: String = row.col("run_id")?;
    let what = |c: &str| format!("run {run_id} {c}");
    let started_at: String = row.col("started_at")?;
    let finished_at: Option<String> = row.col("finished_at")?;
    let pid: Option<i64> = row.col("pid")?;
    let duration: Option<i64> = row.col("duration_ms")?;
    Ok(RunRow {
        identifier: row.col("identifier")?,
        state: row.col("state")?,
        run_number: to_u32(row.col("run_number")?, &what("run_number"))?,
        attempt: to_u32(row.col("attempt")?, &what("attempt"))?,
        runner: row.col("runner")?,
        pid: pid.map(|p| to_u32(p, &what("pid"))).transpose()?,
        started_at: parse_time(&started_at, &what("started_at"))?,
        finished_at: finished_at
            .map(|t| parse_time(&t, &what("finished_at")))
            .transpose()?,
        status: row.col("status")?,
        exit_code: row.col("exit_code")?,
        duration_ms: duration
            .map(|d| to_u64(d, &what("duration_ms")))
            .transpose()?,
        tokens: TokenUsage {
            input: to_u64(row.col("tokens_input")?, &what("tokens"))?,
            output: to_u64(row.col("tokens_output")?, &what("tokens"))?,
            cache_read: to_u64(row.col("tokens_cache_read")?, &what("tokens"))?,
            cache_write: to_u64(row.col("tokens_cache_write")?, &what("tokens"))?,
        },
        cost_usd: row.col("cost_usd")?,
        config_digest: row.col("config_digest")?,
        prompt_digest: row.col("prompt_digest")?,
        workspace: row.col("workspace")?,
        log_dir: row.col("log_dir")?,
        run_id,
    })
}

pub async fn open_runs(pool: &Pool) -> Result<Vec<RunRow>, StoreError> {
    let sql =
        format!("SELECT {RUN_COLUMNS} FROM runs WHERE finished_at IS NULL ORDER BY started_seq");
    on_pool!(pool, |p| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?;
        rows.iter().map(run_from_row).collect()
    })
}

pub async fn runs_for(pool: &Pool, identifier: &str) -> Result<Vec<RunRow>, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE identifier = $1 ORDER BY started_seq");
    on_pool!(pool, |p| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(identifier)
            .fetch_all(p)
            .await?;
        rows.iter().map(run_from_row).collect()
    })
}

/// The latest `limit` runs over every ticket, oldest first.
pub async fn recent_runs(pool: &Pool, limit: i64) -> Result<Vec<RunRow>, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY started_seq DESC LIMIT $1");
    let mut runs = on_pool!(pool, |p| {
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(p)
            .await?;
        rows.iter()
            .map(run_from_row)
            .collect::<Result<Vec<_>, StoreError>>()
    })?;
    runs.reverse();
    Ok(runs)
}

pub async fn pending_intents(pool: &Pool) -> Result<Vec<PendingIntent>, StoreError> {
    on_pool!(pool, |p| {
        let rows = sqlx::query(
            "SELECT intent_id, identifier, op, attempts, last_error, recorded_at \
         FROM pending_intents ORDER BY recorded_seq",
        )
        .fetch_all(p)
        .await?;
        rows.iter()
            .map(|row| {
                let intent_id: String = row.col("intent_id")?;
                let op: String = row.col("op")?;
                let recorded_at: String = row.col("recorded_at")?;
                Ok(PendingIntent {
                    identifier: row.col("identifier")?,
                    op: from_json(&op, &format!("intent {intent_id} op"))?,
                    attempts: to_u32(row.col("attempts")?, "intent attempts")?,
                    last_error: row.col("last_error")?,
                    recorded_at: parse_time(
                        &recorded_at,
                        &format!("intent {intent_id} recorded_at"),
                    )?,
                    intent_id,
                })
            })
            .collect()
    })
}

pub async fn latest_session(
    pool: &Pool,
    identifier: &str,
    runner: &str,
) -> Result<Option<String>, StoreError> {
    Ok(on_pool!(pool, |p| {
        sqlx::query_scalar("SELECT session_id FROM sessions WHERE identifier = $1 AND runner = $2")
            .bind(identifier)
            .bind(runner)
            .fetch_optional(p)
            .await?
    }))
}

fn totals_from_row(row: &impl DbRow) -> Result<Totals, StoreError> {
    Ok(Totals {
        runs: to_u64(row.col("runs")?, "run count")?,
        tokens: TokenUsage {
            input: to_u64(row.col("input")?, "input tokens")?,
            output: to_u64(row.col("output")?, "output tokens")?,
            cache_read: to_u64(row.col("cache_read")?, "cache-read tokens")?,
            cache_write: to_u64(row.col("cache_write")?, "cache-write tokens")?,
        },
        cost_usd: row.col("cost")?,
    })
}

/// Sums are cast back to 64-bit integers and doubles: Postgres sums `bigint` as
/// `numeric` (`DOUBLE PRECISION` is a SQLite type name with `REAL` affinity).
const TOTALS_SELECT: &str = "SELECT count(*) AS runs, \
     CAST(coalesce(sum(tokens_input), 0) AS BIGINT) AS input, \
     CAST(coalesce(sum(tokens_output), 0) AS BIGINT) AS output, \
     CAST(coalesce(sum(tokens_cache_read), 0) AS BIGINT) AS cache_read, \
     CAST(coalesce(sum(tokens_cache_write), 0) AS BIGINT) AS cache_write, \
     CAST(coalesce(sum(cost_usd), 0) AS DOUBLE PRECISION) AS cost FROM runs";

pub async fn totals(pool: &Pool, identifier: Option<&str>) -> Result<Totals, StoreError> {
    on_pool!(pool, |p| {
        let row = match identifier {
            None => {
                sqlx::query(sqlx::AssertSqlSafe(TOTALS_SELECT))
                    .fetch_one(p)
                    .await?
            }
            Some(id) => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "{TOTALS_SELECT} WHERE identifier = $1"
                )))
                .bind(id)
                .fetch_one(p)
                .await?
            }
        };
        totals_from_row(&row)
    })
}

/// How to group run totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// By workflow state.
    State,
    /// By UTC day the run started (`YYYY-MM-DD`).
    Day,
}

/// The run totals of one UTC day, keyed like `Grouping::Day`: a range over the
/// `runs_started_at` index (`started_at` is RFC 3339 UTC, so text order is time order
/// and the day's runs are those from `day` up to the next day).
pub async fn totals_on(pool: &Pool, day: chrono::NaiveDate) -> Result<Totals, StoreError> {
    let next = day.succ_opt().unwrap_or(day);
    on_pool!(pool, |p| {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{TOTALS_SELECT} {TOTALS_ON_WHERE}"
        )))
        .bind(day.format("%Y-%m-%d").to_string())
        .bind(next.format("%Y-%m-%d").to_string())
        .fetch_one(p)
        .await?;
        totals_from_row(&row)
    })
}

/// The filter of [`totals_on`].
const TOTALS_ON_WHERE: &str = "WHERE started_at >= $1 AND started_at < $2";

/// The UTC day a run started on, as stored (`started_at` is RFC 3339 in UTC).
const DAY_KEY: &str = "substr(started_at, 1, 10)";

/// Run totals grouped by state or by day, optionally for one ticket, in key order.
pub async fn totals_by(
    pool: &Pool,
    by: Grouping,
    identifier: Option<&str>,
) -> Result<Vec<(String, Totals)>, StoreError> {
    let key = match by {
        Grouping::State => "state",
        Grouping::Day => DAY_KEY,
    };
    let filter = if identifier.is_some() {
        " WHERE identifier = $1"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {key} AS grp, {} {filter} GROUP BY grp ORDER BY grp",
        TOTALS_SELECT.trim_start_matches("SELECT ")
    );
    on_pool!(pool, |p| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
        if let Some(id) = identifier {
            q = q.bind(id);
        }
        let rows = q.fetch_all(p).await?;
        rows.iter()
            .map(|row| Ok((row.col::<String>("grp")?, totals_from_row(row)?)))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for `sql` (its `detail` lines, joined).
    async fn plan(pool: &sqlx::SqlitePool, sql: &str) -> String {
        use sqlx::Row;
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
        for _ in 0..sql.matches('$').count() {
            query = query.bind("x");
        }
        let rows = query.fetch_all(pool).await.expect("plan");
        rows.iter()
            .map(|r| r.try_get::<String, _>("detail").expect("detail"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The per-poll and per-run-start queries use an index, so they do not grow with
    /// the history of runs and agent output lines.
    #[tokio::test]
    async fn history_queries_use_their_indexes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("store.db");
        let (writer, readers) = crate::store::sqlite::open_write(&db).await.expect("opens");
        let spend = plan(&readers, &format!("{TOTALS_SELECT} {TOTALS_ON_WHERE}")).await;
        assert!(spend.contains("USING INDEX runs_started_at"), "{spend}");
        let kind = plan(&readers, EVENTS_OF_KIND).await;
        assert!(kind.contains("USING INDEX events_issue_kind"), "{kind}");
        // A run's planning: its two reads of events, each on the ticket's index.
        let history = plan(
            &readers,
            super::super::run_history::run_history_sql(super::super::backend::Dialect::Sqlite),
        )
        .await;
        assert_eq!(
            history.matches("USING INDEX events_issue_kind").count(),
            2,
            "{history}"
        );
        assert!(!history.contains("SCAN events"), "{history}");
        let active = plan(
            &readers,
            &format!(
                "SELECT {TICKET_COLUMNS} FROM tickets WHERE phase <> 'done' ORDER BY identifier"
            ),
        )
        .await;
        assert!(active.contains("tickets_active"), "{active}");
        writer.close().await;
        readers.close().await;
    }
}
