//! A store is either one daemon's or a cluster's, never both at once.
//!
//! A single daemon on a Postgres store holds the store's advisory lock (`store::pg_lock`)
//! and appends unfenced; cluster nodes do not take that lock (a paused ex-holder would
//! keep it on its open connection and block every failover) and append under the
//! tracker lease. Mixing them would make two writers, so each side checks the other:
//! - a single daemon, once it holds the advisory lock, refuses to start while a node
//!   holds a live tracker lease ([`cluster_holder`]);
//! - a node that has just taken the lease checks that no single daemon holds the
//!   advisory lock ([`single_daemon`]: the lock is taken and at once released), and
//!   lets the lease go if one does.
//!
//! Whichever checks second sees the other, so they never both write.

use sqlx::{Connection, PgConnection};

use crate::store::PgUrl;
use crate::store::lock::LockError;

/// The node holding a live tracker lease on this store, if any.
pub async fn cluster_holder(url: &PgUrl) -> Result<Option<String>, String> {
    let mut conn = PgConnection::connect_with(&url.options())
        .await
        .map_err(|e| url.scrub(&e.to_string()))?;
    let holder: Option<Option<String>> = sqlx::query_scalar(
        "SELECT CASE WHEN to_regclass('leases') IS NULL THEN NULL ELSE \
         (SELECT holder FROM leases WHERE name = 'tracker' AND expires_at > now()) END",
    )
    .fetch_optional(&mut conn)
    .await
    .map_err(|e| url.scrub(&e.to_string()))?;
    let _ = conn.close().await;
    Ok(holder.flatten())
}

/// `Some(who)` when a single daemon holds the store's advisory lock.
pub async fn single_daemon(url: &PgUrl) -> Result<Option<String>, String> {
    match crate::store::pg_lock::acquire(url).await {
        Ok(lock) => {
            lock.release().await;
            Ok(None)
        }
        Err(LockError::Held { holder, .. }) => Ok(Some(holder)),
        Err(e) => Err(e.to_string()),
    }
}
