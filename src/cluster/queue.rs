//! The run queue (`run_queue`, `run_reports`, `run_sessions`; Postgres migration
//! `0003_run_queue.sql`): how every node of a cluster runs agents while the lease
//! holder stays the chain's only writer.
//!
//! The holder ([`enqueue`]) queues each run it decides under its term's token. A node
//! with a free slot claims the oldest runs of the *current* term made with its own
//! workflow digest ([`claim`], `FOR UPDATE SKIP LOCKED`: two nodes never claim one
//! row), preferring a run whose session it holds: another node takes such a run only
//! once it has waited `prefer_wait`, or when the session's node is gone. The claimant
//! reports through [`report`] (only while the row is still its own), the holder takes
//! the reports ([`take_reports`]) and records them. A claimant whose heartbeat is a ttl
//! old ([`lost_claims`]) has had its agents killed by their guards: its runs end as
//! failed and are retried. A new term first waits for the old term's rows to go
//! ([`old_term_rows`]): their claimants stop them when they see the token change.

use std::time::Duration;

use sqlx::PgPool;

use super::plan::{Report, RunPlan};

/// Queue `plan` under `term`, made with the workflow `digest`.
pub async fn enqueue(
    pool: &PgPool,
    term: i64,
    digest: &str,
    plan: &RunPlan,
) -> Result<(), sqlx::Error> {
    let body = serde_json::to_string(plan).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO run_queue (run_id, issue, term, digest, resume_session, plan) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&plan.run_id)
    .bind(&plan.snapshot.identifier)
    .bind(term)
    .bind(digest)
    .bind(&plan.resume_session)
    .bind(body)
    .execute(pool)
    .await?;
    super::wake::notify(pool).await
}

/// Ask for the run to stop. `true`: no node had claimed it, and it is gone.
pub async fn cancel(pool: &PgPool, run_id: &str, reason: &str) -> Result<bool, sqlx::Error> {
    let gone = sqlx::query("DELETE FROM run_queue WHERE run_id = $1 AND claimed_by IS NULL")
        .bind(run_id)
        .execute(pool)
        .await?
        .rows_affected();
    if gone == 1 {
        return Ok(true);
    }
    sqlx::query("UPDATE run_queue SET cancel = $2 WHERE run_id = $1 AND cancel IS NULL")
        .bind(run_id)
        .bind(reason)
        .execute(pool)
        .await?;
    super::wake::notify(pool).await?;
    Ok(false)
}

/// The run is settled (its end recorded, or given up): its row and reports go.
pub async fn remove(pool: &PgPool, run_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM run_queue WHERE run_id = $1")
        .bind(run_id)
        .execute(pool)
        .await
        .map(drop)
}

/// Take (delete) up to `limit` reports, oldest first: `(run_id, report)`. A report that
/// does not parse is dropped with a warning (a node of another version).
pub async fn take_reports(pool: &PgPool, limit: i64) -> Result<Vec<(String, Report)>, sqlx::Error> {
    let mut rows: Vec<(i64, String, String, String)> = sqlx::query_as(
        "DELETE FROM run_reports WHERE id IN \
         (SELECT id FROM run_reports ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING id, run_id, kind, body",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.sort_by_key(|r| r.0);
    Ok(rows
        .into_iter()
        .filter_map(|(_, run_id, kind, body)| {
            let text = format!("{{\"kind\":{},\"body\":{body}}}", serde_json::json!(kind));
            match serde_json::from_str::<Report>(&text) {
                Ok(r) => Some((run_id, r)),
                Err(e) => {
                    tracing::warn!(run = %run_id, %kind, error = %e, "a run report that does not parse: dropped");
                    None
                }
            }
        })
        .collect())
}

/// Claimed runs of `term` whose node stopped beating a ttl ago (its guards have killed
/// their agents by then), stopped, or was replaced by another process: `(run_id, node)`.
pub async fn lost_claims(
    pool: &PgPool,
    term: i64,
    ttl: Duration,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT q.run_id, q.claimed_by FROM run_queue q LEFT JOIN nodes n ON n.name = q.claimed_by \
         WHERE q.term = $1 AND q.claimed_by IS NOT NULL AND (n.name IS NULL \
         OR n.instance <> q.claimed_instance OR n.stopped_at IS NOT NULL \
         OR n.heartbeat_at < now() - make_interval(secs => $2))",
    )
    .bind(term)
    .bind(ttl.as_secs_f64())
    .fetch_all(pool)
    .await
}

/// How many agents the live nodes may run in all (their `max_concurrent`).
pub async fn capacity(pool: &PgPool, ttl: Duration) -> Result<usize, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(sum(max_concurrent), 0) AS BIGINT) FROM nodes \
         WHERE stopped_at IS NULL AND heartbeat_at > now() - make_interval(secs => $1)",
    )
    .bind(ttl.as_secs_f64())
    .fetch_one(pool)
    .await?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Rows of terms before `term` still in the way, after removing those no live agent
/// can belong to (never claimed, or claimed by a node a ttl silent). The rest are
/// being stopped by their claimants, which remove them.
pub async fn old_term_rows(pool: &PgPool, term: i64, ttl: Duration) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "DELETE FROM run_queue q WHERE q.term < $1 AND (q.claimed_by IS NULL OR NOT EXISTS \
         (SELECT 1 FROM nodes n WHERE n.name = q.claimed_by AND n.instance = q.claimed_instance \
          AND n.stopped_at IS NULL AND n.heartbeat_at > now() - make_interval(secs => $2)))",
    )
    .bind(term)
    .bind(ttl.as_secs_f64())
    .execute(pool)
    .await?;
    sqlx::query_scalar("SELECT count(*) FROM run_queue WHERE term < $1")
        .bind(term)
        .fetch_one(pool)
        .await
}

/// A run a node claimed.
#[derive(Debug)]
pub struct Claimed {
    pub term: i64,
    pub plan: RunPlan,
    /// The node that holds the session the plan resumes, if known.
    pub session_node: Option<String>,
}

/// Claim up to `free` runs of the current term for this node (see the module doc).
pub async fn claim(
    pool: &PgPool,
    node: &str,
    instance: &str,
    digest: &str,
    free: usize,
    prefer_wait: Duration,
    ttl: Duration,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
        "WITH pick AS ( \
           SELECT q.run_id, s.node AS session_node FROM run_queue q \
           LEFT JOIN run_sessions s ON s.session_id = q.resume_session \
           LEFT JOIN nodes n ON n.name = s.node \
           WHERE q.claimed_by IS NULL AND q.cancel IS NULL AND q.digest = $3 \
             AND q.term = (SELECT token FROM leases WHERE name = 'tracker') \
             AND (s.node IS NULL OR s.node = $1 OR n.name IS NULL OR n.stopped_at IS NOT NULL \
                  OR n.heartbeat_at < now() - make_interval(secs => $6) \
                  OR q.queued_at < now() - make_interval(secs => $5)) \
           ORDER BY (s.node IS NOT DISTINCT FROM $1) DESC, q.queued_at, q.run_id \
           LIMIT $4 FOR UPDATE OF q SKIP LOCKED) \
         UPDATE run_queue r SET claimed_by = $1, claimed_instance = $2, claimed_at = now() \
         FROM pick WHERE r.run_id = pick.run_id \
         RETURNING r.term, r.plan, pick.session_node",
    )
    .bind(node)
    .bind(instance)
    .bind(digest)
    .bind(i64::try_from(free).unwrap_or(i64::MAX))
    .bind(prefer_wait.as_secs_f64())
    .bind(ttl.as_secs_f64())
    .fetch_all(pool)
    .await?;
    let mut claimed = vec![];
    for (term, body, session_node) in rows {
        match serde_json::from_str::<RunPlan>(&body) {
            Ok(plan) => claimed.push(Claimed {
                term,
                plan,
                session_node,
            }),
            Err(e) => {
                tracing::warn!(error = %e, "a queued run's plan does not parse; leaving it");
            }
        }
    }
    Ok(claimed)
}

/// Unclaimed runs of the current term, queued over `age` ago, planned with another
/// workflow than `digest`: `(digest, runs)`. A node that sees them says so (their
/// workflow text differs from its own, so it leaves them to nodes that have theirs).
pub async fn foreign_digests(
    pool: &PgPool,
    digest: &str,
    age: Duration,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT digest, count(*) FROM run_queue WHERE claimed_by IS NULL AND digest <> $1 \
         AND term = (SELECT token FROM leases WHERE name = 'tracker') \
         AND queued_at < now() - make_interval(secs => $2) GROUP BY digest ORDER BY digest",
    )
    .bind(digest)
    .bind(age.as_secs_f64())
    .fetch_all(pool)
    .await
}

/// What a claimant must know about its runs: each one's row (its term, and whether the
/// holder asked it to stop) and the lease's current token. A run missing here has been
/// given up by the holder.
pub struct Watch {
    pub token: i64,
    pub rows: Vec<(String, i64, Option<String>)>,
}

pub async fn watch(pool: &PgPool, instance: &str) -> Result<Watch, sqlx::Error> {
    let token: i64 = sqlx::query_scalar("SELECT token FROM leases WHERE name = 'tracker'")
        .fetch_one(pool)
        .await?;
    let rows = sqlx::query_as(
        "SELECT run_id, term, cancel FROM run_queue WHERE claimed_instance = $1 ORDER BY run_id",
    )
    .bind(instance)
    .fetch_all(pool)
    .await?;
    Ok(Watch { token, rows })
}

/// Report on a run this process claimed; `false` when the row is no longer its own
/// (the holder gave the run up, or its term ended and the row went).
pub async fn report(
    pool: &PgPool,
    run_id: &str,
    instance: &str,
    report: &Report,
) -> Result<bool, sqlx::Error> {
    let body = match report {
        Report::Events(e) => serde_json::to_string(e),
        Report::Activity(a) => serde_json::to_string(a),
        Report::Done(d) => serde_json::to_string(d),
    }
    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let n = sqlx::query(
        "INSERT INTO run_reports (run_id, kind, body) SELECT $1, $2, $3 \
         WHERE EXISTS (SELECT 1 FROM run_queue WHERE run_id = $1 AND claimed_instance = $4)",
    )
    .bind(run_id)
    .bind(report.kind())
    .bind(body)
    .bind(instance)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A claimant's run of an ended term stopped: its row goes (nobody relays it).
pub async fn drop_claim(pool: &PgPool, run_id: &str, instance: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM run_queue WHERE run_id = $1 AND claimed_instance = $2")
        .bind(run_id)
        .bind(instance)
        .execute(pool)
        .await
        .map(drop)
}

/// `node` holds agent session `session` (it ran the run that reported it).
pub async fn remember_session(pool: &PgPool, session: &str, node: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO run_sessions (session_id, node) VALUES ($1, $2) \
         ON CONFLICT (session_id) DO UPDATE SET node = EXCLUDED.node, at = now()",
    )
    .bind(session)
    .bind(node)
    .execute(pool)
    .await
    .map(drop)
}

/// The ticket's workspaces are to go on every node (see `claimant`); old notices (a
/// day) are pruned on the way.
pub async fn announce_removal(pool: &PgPool, issue: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM workspace_removals WHERE at < now() - interval '1 day'")
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO workspace_removals (issue) VALUES ($1) \
         ON CONFLICT (issue) DO UPDATE SET at = now()",
    )
    .bind(issue)
    .execute(pool)
    .await
    .map(drop)
}

/// Removals announced after `since` (database time, epoch seconds), oldest first, each
/// with its time. Reading one twice is harmless (a removal is idempotent).
pub async fn removals_since(
    pool: &PgPool,
    since: Option<f64>,
) -> Result<Vec<(String, f64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT issue, CAST(EXTRACT(EPOCH FROM at) AS float8) FROM workspace_removals \
         WHERE $1::float8 IS NULL OR at > to_timestamp($1) ORDER BY at",
    )
    .bind(since)
    .fetch_all(pool)
    .await
}
