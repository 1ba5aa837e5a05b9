//! One writer per Postgres store: a session advisory lock, the counterpart of the
//! SQLite store's lock file (`lock`, whose module docs say why there is one writer).
//!
//! - `pg_try_advisory_lock` on a connection of its own, held for the writer's whole life
//!   and taken before the store is opened or migrated. The key is derived from the
//!   schema the URL's connection uses (`current_schema()`), so two stores in two schemas
//!   of one database do not exclude each other; a store is one database and schema.
//! - The server releases the lock when that connection ends: the process exiting or
//!   being killed (the kernel closes its socket), or the connection being lost. A stale
//!   lock never blocks a restart.
//! - The lock connection's `application_name` says who holds it (pid, host, start
//!   time), so a refused second writer names the running one, read from
//!   `pg_stat_activity`, with the same message as the file lock.
//! - The lock excludes karajan writers only; the read-only verbs never take it.
//!
//! Later (issue 14's cluster) several nodes share one store: they take a lease in the
//! database instead, and this lock is what a node without the cluster setting keeps.

use sqlx::{Connection, PgConnection};

use super::location::PgUrl;
use super::lock::LockError;

/// The lock's key: a 64-bit hash of the store's schema, computed by the server.
const KEY: &str = "hashtextextended('karajan store ' || current_schema(), 0)";

/// The held lock; dropping it (or dying) closes its connection and releases it.
pub struct AdvisoryLock {
    conn: PgConnection,
}

impl AdvisoryLock {
    /// Release the lock now (dropping the lock also does, when its connection closes).
    pub async fn release(self) {
        let _ = self.conn.close().await;
    }
}

impl std::fmt::Debug for AdvisoryLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdvisoryLock")
    }
}

/// Take the store's lock without waiting. [`LockError::Held`] names the holder.
pub async fn acquire(url: &PgUrl) -> Result<AdvisoryLock, LockError> {
    let holder = format!(
        "karajan pid {} host {} since {}",
        std::process::id(),
        super::lock::hostname(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let place = format!("PostgreSQL advisory lock on {} (store.url)", url.describe());
    let failed = |e: sqlx::Error| LockError::Db {
        place: place.clone(),
        error: url.scrub(&e.to_string()),
    };
    let options = url.options().application_name(&holder);
    let mut conn = PgConnection::connect_with(&options).await.map_err(failed)?;
    let got: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT pg_try_advisory_lock({KEY})"
    )))
    .fetch_one(&mut conn)
    .await
    .map_err(failed)?;
    if got {
        return Ok(AdvisoryLock { conn });
    }
    let holder = holder_of(&mut conn).await;
    let _ = conn.close().await;
    Err(LockError::Held {
        holder,
        path: place,
    })
}

/// "pid 12, host box, since 2026-01-01T00:00:00Z": the holding connection's name.
async fn holder_of(conn: &mut PgConnection) -> String {
    let sql = format!(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
         AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND ((CAST(l.classid AS bigint) << 32) | CAST(l.objid AS bigint)) = {KEY}"
    );
    let name: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_optional(&mut *conn)
        .await
        .ok()
        .flatten();
    match name.as_deref().and_then(|n| n.strip_prefix("karajan ")) {
        Some(rest) => describe(rest),
        None => "its pid, host and start time are not visible to this user".into(),
    }
}

/// `pid 1 host h since t` -> `pid 1, host h, since t`.
fn describe(name: &str) -> String {
    name.replacen(" host ", ", host ", 1)
        .replacen(" since ", ", since ", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_reads_like_the_file_locks() {
        assert_eq!(
            describe("pid 12 host box since 2026-01-01T00:00:00Z"),
            "pid 12, host box, since 2026-01-01T00:00:00Z"
        );
    }
}
