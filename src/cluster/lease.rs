//! Named leases with fencing tokens in the `leases` table (Postgres migration
//! `0002_cluster.sql`), on the database's clock.
//!
//! - [`acquire`]: one atomic `UPDATE … WHERE holder = me OR expires_at < now()`. Every
//!   acquisition opens a new *term*: the token grows by one, whoever held it before
//!   (so a node that lost its lease and takes it back cannot have its old term's writes
//!   accepted either).
//! - [`renew`]: pushes the expiry on, only while the row still names this holder and
//!   token and has not expired; a renewal that finds anything else has lost the lease.
//! - [`release`]: a graceful stop expires the lease at once, so a standby takes over at
//!   its next heartbeat instead of waiting out the ttl.
//!
//! `now()` is the database's clock: the nodes' clocks never decide who holds a lease.

use std::time::Duration;

use sqlx::PgPool;

/// The lease whose holder polls the tracker, decides and writes to it.
pub const TRACKER: &str = "tracker";

/// Take `lease` for `node` if it is free, expired, or already `node`'s; the new token.
pub async fn acquire(
    pool: &PgPool,
    lease: &str,
    node: &str,
    ttl: Duration,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE leases SET holder = $2, token = token + 1, \
         expires_at = now() + make_interval(secs => $3) \
         WHERE name = $1 AND (holder = $2 OR expires_at < now()) RETURNING token",
    )
    .bind(lease)
    .bind(node)
    .bind(ttl.as_secs_f64())
    .fetch_optional(pool)
    .await
}

/// Extend `node`'s term `token` of `lease` by `ttl` from now; `false`: the lease is lost
/// (expired, or taken by another term).
pub async fn renew(
    pool: &PgPool,
    lease: &str,
    node: &str,
    token: i64,
    ttl: Duration,
) -> Result<bool, sqlx::Error> {
    let renewed: Option<i64> = sqlx::query_scalar(
        "UPDATE leases SET expires_at = now() + make_interval(secs => $4) \
         WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > now() \
         RETURNING token",
    )
    .bind(lease)
    .bind(node)
    .bind(token)
    .bind(ttl.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    Ok(renewed.is_some())
}

/// Expire `node`'s term `token` of `lease` now (a graceful stop). The holder's name stays
/// (status shows who held it last).
pub async fn release(
    pool: &PgPool,
    lease: &str,
    node: &str,
    token: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE leases SET expires_at = '-infinity' \
         WHERE name = $1 AND holder = $2 AND token = $3",
    )
    .bind(lease)
    .bind(node)
    .bind(token)
    .execute(pool)
    .await
    .map(drop)
}

/// A lease as the database sees it now.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct LeaseRow {
    pub name: String,
    pub holder: Option<String>,
    pub token: i64,
    /// Whether it has not expired.
    pub live: bool,
    /// Seconds until it expires (negative: since it expired; `None`: never held).
    pub expires_in: Option<f64>,
}

/// `lease` as it stands; `None` when the store has no such lease.
pub async fn read(pool: &PgPool, lease: &str) -> Result<Option<LeaseRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, holder, token, expires_at > now() AS live, \
         CASE WHEN expires_at = '-infinity' THEN NULL \
         ELSE CAST(EXTRACT(EPOCH FROM expires_at - now()) AS float8) END AS expires_in \
         FROM leases WHERE name = $1",
    )
    .bind(lease)
    .fetch_optional(pool)
    .await
}
