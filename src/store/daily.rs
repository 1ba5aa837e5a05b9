//! Figures per UTC day, for the dashboard's chart and `GET /api/v1/stats/daily`: the
//! runs started that day and what they cost, and the tickets that reached a terminal
//! state that day (throughput).
//!
//! Runs count by the day they *started*, as the daily budget and the overview's "today"
//! spend do, so today's bar and the spend card never disagree; the query is a range
//! over the `runs_started_at` index. Finished tickets are `transition` events whose
//! `to_kind` is `terminal`, matched in the canonical payload text (`store::canonical`:
//! no whitespace, keys as written, a string's own quotes escaped), so the pattern
//! `"to_kind":"terminal"` can only match the field itself, on both engines alike.
//! Days without any figure are listed with zeros, so a chart has no holes.

use chrono::{Days, NaiveDate};
use serde::Serialize;

use super::StoreError;
use super::backend::{DbRow, Pool, on_pool};
use super::sqlite::to_u64;

/// One UTC day's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayFigures {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Runs started that day.
    pub runs: u64,
    /// Of those, the runs that failed (any end but `succeeded`, not counting the ones
    /// still running or cut short by a usage limit).
    pub failed: u64,
    /// What the runs started that day cost (USD).
    pub cost_usd: f64,
    /// Tickets that reached a terminal state that day.
    pub finished: u64,
}

const RUNS: &str = "SELECT substr(started_at, 1, 10) AS day, count(*) AS runs, \
     CAST(coalesce(sum(CASE WHEN status IS NOT NULL AND status NOT IN ('succeeded', 'usage_limited') \
       THEN 1 ELSE 0 END), 0) AS BIGINT) AS failed, \
     CAST(coalesce(sum(cost_usd), 0) AS DOUBLE PRECISION) AS cost \
     FROM runs WHERE started_at >= $1 AND started_at < $2 GROUP BY day ORDER BY day";

const FINISHED: &str = "SELECT substr(at, 1, 10) AS day, count(*) AS finished FROM events \
     WHERE kind = 'transition' AND at >= $1 AND at < $2 \
     AND payload LIKE '%\"to_kind\":\"terminal\"%' GROUP BY day ORDER BY day";

/// The `days` UTC days ending with `last` (inclusive), oldest first.
pub async fn daily(pool: &Pool, last: NaiveDate, days: u32) -> Result<Vec<DayFigures>, StoreError> {
    let days = days.max(1);
    let first = last
        .checked_sub_days(Days::new(u64::from(days - 1)))
        .unwrap_or(last);
    let end = last.succ_opt().unwrap_or(last);
    let (from, to) = (
        first.format("%Y-%m-%d").to_string(),
        end.format("%Y-%m-%d").to_string(),
    );
    let mut out: Vec<DayFigures> = first
        .iter_days()
        .take(days as usize)
        .map(|d| DayFigures {
            day: d.format("%Y-%m-%d").to_string(),
            runs: 0,
            failed: 0,
            cost_usd: 0.0,
            finished: 0,
        })
        .collect();
    let index = |out: &[DayFigures], day: &str| out.iter().position(|d| d.day == day);
    on_pool!(pool, |p| {
        let rows = sqlx::query(RUNS).bind(&from).bind(&to).fetch_all(p).await?;
        for row in &rows {
            let day: String = row.col("day")?;
            if let Some(i) = index(&out, &day) {
                out[i].runs = to_u64(row.col("runs")?, "runs")?;
                out[i].failed = to_u64(row.col("failed")?, "failed runs")?;
                out[i].cost_usd = row.col::<f64>("cost")? + 0.0;
            }
        }
        let rows = sqlx::query(FINISHED)
            .bind(&from)
            .bind(&to)
            .fetch_all(p)
            .await?;
        for row in &rows {
            let day: String = row.col("day")?;
            if let Some(i) = index(&out, &day) {
                out[i].finished = to_u64(row.col("finished")?, "finished tickets")?;
            }
        }
    });
    Ok(out)
}
