//! Read queries over the chain and the projections. Plain `SELECT`s; they never take the
//! write lock, so the dashboard and the CLI can read while the daemon appends (WAL).

use std::collections::{BTreeMap, HashMap};

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::sqlite::{from_json, parse_time, to_u32, to_u64};
use super::tickets::{self, TICKET_COLUMNS};
use super::{PendingIntent, RunRow, StoreError, StoredEvent, Totals};
use crate::domain::{IssueRecord, TokenUsage};

pub fn event_from_row(row: &SqliteRow) -> Result<StoredEvent, StoreError> {
    let seq: i64 = row.try_get("seq")?;
    let at: String = row.try_get("at")?;
    let payload: String = row.try_get("payload")?;
    let prev_hash: Vec<u8> = row.try_get("prev_hash")?;
    let hash: Vec<u8> = row.try_get("hash")?;
    Ok(StoredEvent {
        seq,
        at: parse_time(&at, &format!("event {seq} at"))?,
        issue: row.try_get("issue")?,
        kind: row.try_get("kind")?,
        payload: from_json(&payload, &format!("event {seq} payload"))?,
        prev_hash: hex::encode(prev_hash),
        hash: hex::encode(hash),
    })
}

pub async fn events_for(
    pool: &SqlitePool,
    identifier: &str,
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, at, issue, kind, payload, prev_hash, hash FROM events \
         WHERE issue = ? ORDER BY seq",
    )
    .bind(identifier)
    .fetch_all(pool)
    .await?;
    rows.iter().map(event_from_row).collect()
}

const EVENTS_OF_KIND: &str = "SELECT seq, at, issue, kind, payload, prev_hash, hash \
     FROM events WHERE issue = ? AND kind = ? ORDER BY seq DESC LIMIT ?";

/// One ticket's events of one kind, in seq order (the `events_issue_kind` index: the
/// ticket's other events, agent output lines included, are not read).
pub async fn events_of_kind(
    pool: &SqlitePool,
    identifier: &str,
    kind: &str,
    newest: Option<i64>,
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = sqlx::query(EVENTS_OF_KIND)
        .bind(identifier)
        .bind(kind)
        .bind(newest.unwrap_or(-1))
        .fetch_all(pool)
        .await?;
    let mut events = rows
        .iter()
        .map(event_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    events.reverse();
    Ok(events)
}

/// The latest `limit` events of one kind, newest first.
pub async fn recent_of_kind(
    pool: &SqlitePool,
    kind: &str,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, at, issue, kind, payload, prev_hash, hash FROM events \
         WHERE kind = ? ORDER BY seq DESC LIMIT ?",
    )
    .bind(kind)
    .bind(limit.max(0))
    .fetch_all(pool)
    .await?;
    rows.iter().map(event_from_row).collect()
}

pub async fn events_page(
    pool: &SqlitePool,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, at, issue, kind, payload, prev_hash, hash FROM events \
         WHERE seq > ? ORDER BY seq LIMIT ?",
    )
    .bind(after_seq)
    .bind(limit.max(0))
    .fetch_all(pool)
    .await?;
    rows.iter().map(event_from_row).collect()
}

pub async fn head(pool: &SqlitePool) -> Result<(i64, String), StoreError> {
    let row = sqlx::query("SELECT seq, hash FROM chain_head WHERE id = 1")
        .fetch_one(pool)
        .await?;
    let hash: Vec<u8> = row.try_get("hash")?;
    Ok((row.try_get("seq")?, hex::encode(hash)))
}

/// Every ticket record, or (`active`) only those of tickets not done.
pub async fn records(pool: &SqlitePool, active: bool) -> Result<Vec<IssueRecord>, StoreError> {
    if active {
        records_where(pool, "phase <> 'done'", None).await
    } else {
        records_where(pool, "1", None).await
    }
}

/// The records of the tickets named in `ids` that the store has.
pub async fn records_of(pool: &SqlitePool, ids: &[String]) -> Result<Vec<IssueRecord>, StoreError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let list = serde_json::to_string(ids)
        .map_err(|e| StoreError::Corrupt(format!("identifiers do not serialize: {e}")))?;
    records_where(
        pool,
        "identifier IN (SELECT value FROM json_each(?))",
        Some(&list),
    )
    .await
}

/// The records of the tickets whose `tickets` row matches `filter` (SQL over that table,
/// with at most one `?`, bound to `bind`), with rework counts and pending intents.
async fn records_where(
    pool: &SqlitePool,
    filter: &str,
    bind: Option<&str>,
) -> Result<Vec<IssueRecord>, StoreError> {
    let of_tickets =
        format!(" WHERE identifier IN (SELECT identifier FROM tickets WHERE {filter})");
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
    .fetch_all(pool)
    .await?
    {
        let count = to_u32(row.try_get("count")?, "rework count")?;
        rework
            .entry(row.try_get("identifier")?)
            .or_default()
            .insert(row.try_get("gate")?, count);
    }
    let mut pending: HashMap<String, u32> = HashMap::new();
    for row in query(format!(
        "SELECT identifier, count(*) AS n FROM pending_intents{of_tickets} GROUP BY identifier"
    ))
    .fetch_all(pool)
    .await?
    {
        pending.insert(
            row.try_get("identifier")?,
            to_u32(row.try_get("n")?, "pending count")?,
        );
    }
    let rows = query(format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE {filter} ORDER BY identifier"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("identifier")?;
            let rw = rework.remove(&id).unwrap_or_default();
            let n = pending.get(&id).copied().unwrap_or(0);
            tickets::record_from_row(row, rw, n)
        })
        .collect()
}

pub async fn record(
    pool: &SqlitePool,
    identifier: &str,
) -> Result<Option<IssueRecord>, StoreError> {
    let mut conn = pool.acquire().await?;
    let Some(mut rec) = tickets::load(&mut conn, identifier).await? else {
        return Ok(None);
    };
    rec.pending_intents = tickets::pending_count(&mut conn, identifier).await?;
    Ok(Some(rec))
}

const RUN_COLUMNS: &str = "run_id, identifier, state, run_number, attempt, runner, pid, \
     started_at, finished_at, status, exit_code, duration_ms, tokens_input, tokens_output, \
     tokens_cache_read, tokens_cache_write, cost_usd, config_digest, prompt_digest, \
     workspace, log_dir";

fn run_from_row(row: &SqliteRow) -> Result<RunRow, StoreError> {
    let run_id: String = row.try_get("run_id")?;
    let what = |c: &str| format!("run {run_id} {c}");
    let started_at: String = row.try_get("started_at")?;
    let finished_at: Option<String> = row.try_get("finished_at")?;
    let pid: Option<i64> = row.try_get("pid")?;
    let duration: Option<i64> = row.try_get("duration_ms")?;
    Ok(RunRow {
        identifier: row.try_get("identifier")?,
        state: row.try_get("state")?,
        run_number: to_u32(row.try_get("run_number")?, &what("run_number"))?,
        attempt: to_u32(row.try_get("attempt")?, &what("attempt"))?,
        runner: row.try_get("runner")?,
        pid: pid.map(|p| to_u32(p, &what("pid"))).transpose()?,
        started_at: parse_time(&started_at, &what("started_at"))?,
        finished_at: finished_at
            .map(|t| parse_time(&t, &what("finished_at")))
            .transpose()?,
        status: row.try_get("status")?,
        exit_code: row.try_get("exit_code")?,
        duration_ms: duration
            .map(|d| to_u64(d, &what("duration_ms")))
            .transpose()?,
        tokens: TokenUsage {
            input: to_u64(row.try_get("tokens_input")?, &what("tokens"))?,
            output: to_u64(row.try_get("tokens_output")?, &what("tokens"))?,
            cache_read: to_u64(row.try_get("tokens_cache_read")?, &what("tokens"))?,
            cache_write: to_u64(row.try_get("tokens_cache_write")?, &what("tokens"))?,
        },
        cost_usd: row.try_get("cost_usd")?,
        config_digest: row.try_get("config_digest")?,
        prompt_digest: row.try_get("prompt_digest")?,
        workspace: row.try_get("workspace")?,
        log_dir: row.try_get("log_dir")?,
        run_id,
    })
}

pub async fn open_runs(pool: &SqlitePool) -> Result<Vec<RunRow>, StoreError> {
    let sql =
        format!("SELECT {RUN_COLUMNS} FROM runs WHERE finished_at IS NULL ORDER BY started_seq");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    rows.iter().map(run_from_row).collect()
}

pub async fn runs_for(pool: &SqlitePool, identifier: &str) -> Result<Vec<RunRow>, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE identifier = ? ORDER BY started_seq");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(identifier)
        .fetch_all(pool)
        .await?;
    rows.iter().map(run_from_row).collect()
}

/// The latest `limit` runs over every ticket, oldest first.
pub async fn recent_runs(pool: &SqlitePool, limit: i64) -> Result<Vec<RunRow>, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY started_seq DESC LIMIT ?");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(pool)
        .await?;
    let mut runs = rows
        .iter()
        .map(run_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    runs.reverse();
    Ok(runs)
}

pub async fn pending_intents(pool: &SqlitePool) -> Result<Vec<PendingIntent>, StoreError> {
    let rows = sqlx::query(
        "SELECT intent_id, identifier, op, attempts, last_error, recorded_at \
         FROM pending_intents ORDER BY recorded_seq",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let intent_id: String = row.try_get("intent_id")?;
            let op: String = row.try_get("op")?;
            let recorded_at: String = row.try_get("recorded_at")?;
            Ok(PendingIntent {
                identifier: row.try_get("identifier")?,
                op: from_json(&op, &format!("intent {intent_id} op"))?,
                attempts: to_u32(row.try_get("attempts")?, "intent attempts")?,
                last_error: row.try_get("last_error")?,
                recorded_at: parse_time(&recorded_at, &format!("intent {intent_id} recorded_at"))?,
                intent_id,
            })
        })
        .collect()
}

pub async fn latest_session(
    pool: &SqlitePool,
    identifier: &str,
    runner: &str,
) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT session_id FROM sessions WHERE identifier = ? AND runner = ?")
            .bind(identifier)
            .bind(runner)
            .fetch_optional(pool)
            .await?,
    )
}

fn totals_from_row(row: &SqliteRow) -> Result<Totals, StoreError> {
    Ok(Totals {
        runs: to_u64(row.try_get("runs")?, "run count")?,
        tokens: TokenUsage {
            input: to_u64(row.try_get("input")?, "input tokens")?,
            output: to_u64(row.try_get("output")?, "output tokens")?,
            cache_read: to_u64(row.try_get("cache_read")?, "cache-read tokens")?,
            cache_write: to_u64(row.try_get("cache_write")?, "cache-write tokens")?,
        },
        cost_usd: row.try_get("cost")?,
    })
}

const TOTALS_SELECT: &str = "SELECT count(*) AS runs, \
     coalesce(sum(tokens_input), 0) AS input, coalesce(sum(tokens_output), 0) AS output, \
     coalesce(sum(tokens_cache_read), 0) AS cache_read, \
     coalesce(sum(tokens_cache_write), 0) AS cache_write, \
     coalesce(total(cost_usd), 0.0) AS cost FROM runs";

pub async fn totals(pool: &SqlitePool, identifier: Option<&str>) -> Result<Totals, StoreError> {
    let row = match identifier {
        None => {
            sqlx::query(sqlx::AssertSqlSafe(TOTALS_SELECT))
                .fetch_one(pool)
                .await?
        }
        Some(id) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{TOTALS_SELECT} WHERE identifier = ?"
            )))
            .bind(id)
            .fetch_one(pool)
            .await?
        }
    };
    totals_from_row(&row)
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
pub async fn totals_on(pool: &SqlitePool, day: chrono::NaiveDate) -> Result<Totals, StoreError> {
    let next = day.succ_opt().unwrap_or(day);
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{TOTALS_SELECT} {TOTALS_ON_WHERE}"
    )))
    .bind(day.format("%Y-%m-%d").to_string())
    .bind(next.format("%Y-%m-%d").to_string())
    .fetch_one(pool)
    .await?;
    totals_from_row(&row)
}

/// The filter of [`totals_on`].
const TOTALS_ON_WHERE: &str = "WHERE started_at >= ? AND started_at < ?";

/// The UTC day a run started on, as stored (`started_at` is RFC 3339 in UTC).
const DAY_KEY: &str = "substr(started_at, 1, 10)";

/// Run totals grouped by state or by day, optionally for one ticket, in key order.
pub async fn totals_by(
    pool: &SqlitePool,
    by: Grouping,
    identifier: Option<&str>,
) -> Result<Vec<(String, Totals)>, StoreError> {
    let key = match by {
        Grouping::State => "state",
        Grouping::Day => DAY_KEY,
    };
    let filter = if identifier.is_some() {
        " WHERE identifier = ?"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {key} AS grp, {} {filter} GROUP BY grp ORDER BY grp",
        TOTALS_SELECT.trim_start_matches("SELECT ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(id) = identifier {
        q = q.bind(id);
    }
    let rows = q.fetch_all(pool).await?;
    rows.iter()
        .map(|row| Ok((row.try_get::<String, _>("grp")?, totals_from_row(row)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for `sql` (its `detail` lines, joined).
    async fn plan(pool: &SqlitePool, sql: &str) -> String {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
        for _ in 0..sql.matches('?').count() {
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
