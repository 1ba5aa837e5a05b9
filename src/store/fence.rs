//! Fencing: a cluster node's appends carry its lease, and the store rejects a stale one.
//!
//! A node of a cluster (`store.cluster: true`, see `cluster`) may append only while it
//! holds the tracker lease. Its store carries a [`Fence`] (the lease's name, the node
//! and the token it was granted), and every append transaction, after taking the chain
//! head's row lock, reads the `leases` row `FOR SHARE` and goes on only when the row
//! still names this holder with this token and has not expired by the database's
//! clock. Otherwise the transaction is rolled back and the append fails with
//! [`StoreError::Fenced`], writing nothing.
//!
//! `FOR SHARE` makes the check and the commit one step as far as a takeover is
//! concerned: a node taking the lease (an `UPDATE` of that row) waits until an append
//! that already passed the check has committed, so the new holder's recovery reads it.
//! A node paused past its lease (SIGSTOP, a long GC, a partition) therefore cannot add
//! a single event once another node may have taken over, and since every tracker write
//! is recorded as an intent before it is made, it cannot start one either.

use super::StoreError;
use super::backend::{Conn, on_conn};

/// The lease a cluster node's appends are made under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease's name (`tracker`).
    pub lease: String,
    /// The node holding it.
    pub holder: String,
    /// The fencing token the node was granted when it took the lease.
    pub token: i64,
}

/// Inside an append's transaction (after the chain head's lock): `Err(Fenced)` unless
/// the lease still names `fence`'s holder and token and has not expired.
pub(crate) async fn check(conn: &mut Conn<'_>, fence: &Fence) -> Result<(), StoreError> {
    let row: Option<(Option<String>, i64, bool)> = on_conn!(conn, |c| sqlx::query_as(
        "SELECT holder, token, expires_at > now() FROM leases WHERE name = $1 FOR SHARE"
    )
    .bind(&fence.lease)
    .fetch_optional(c)
    .await)?;
    match row {
        Some((Some(holder), token, true)) if holder == fence.holder && token == fence.token => {
            Ok(())
        }
        Some((holder, token, live)) => Err(StoreError::Fenced {
            lease: fence.lease.clone(),
            node: fence.holder.clone(),
            token: fence.token,
            now: match holder {
                Some(h) if live => format!("held by {h} with token {token}"),
                Some(h) => format!("expired (last held by {h}, token {token})"),
                None => "free".into(),
            },
        }),
        None => Err(StoreError::Fenced {
            lease: fence.lease.clone(),
            node: fence.holder.clone(),
            token: fence.token,
            now: "missing from the store".into(),
        }),
    }
}
