//! The `nodes` table: who is up, with how many slots, running how many agents.
//!
//! A node registers at start ([`register`]) and heartbeats every third of the lease ttl
//! ([`heartbeat`]), standby or leader. A name belongs to one live process: a second
//! process claiming a name whose heartbeat is fresher than the ttl is refused, naming
//! the first (two processes with one name would take the lease from each other),
//! unless the first ran on this host and its pid is gone (a restart after a kill).
//! A graceful stop marks the row stopped; a killed node's row just stops beating.

use std::time::Duration;

use sqlx::PgPool;

/// This process as a node.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    /// Unique per process: tells a restarted node from a second one with its name.
    pub instance: String,
    pub host: String,
    pub pid: u32,
    pub max_concurrent: usize,
}

impl Node {
    /// This process, named `name` (default: the host name and the pid, unique among
    /// the processes of one host at any moment).
    pub fn this(name: Option<&str>, max_concurrent: usize) -> Node {
        let host = crate::store::lock::hostname();
        let pid = std::process::id();
        Node {
            name: name.map_or_else(|| format!("{host}-{pid}"), str::to_string),
            instance: format!("{pid}-{:016x}", rand::random::<u64>()),
            host,
            pid,
            max_concurrent,
        }
    }
}

/// Register `node`; `Err` names the live process that holds the name.
pub async fn register(pool: &PgPool, node: &Node, ttl: Duration) -> Result<(), RegisterError> {
    let done: Option<String> = sqlx::query_scalar(
        "INSERT INTO nodes (name, instance, host, pid, started_at, heartbeat_at, \
         max_concurrent, running) VALUES ($1, $2, $3, $4, now(), now(), $5, 0) \
         ON CONFLICT (name) DO UPDATE SET instance = EXCLUDED.instance, host = EXCLUDED.host, \
         pid = EXCLUDED.pid, started_at = now(), heartbeat_at = now(), \
         max_concurrent = EXCLUDED.max_concurrent, running = 0, stopped_at = NULL \
         WHERE nodes.instance = EXCLUDED.instance OR nodes.stopped_at IS NOT NULL \
         OR nodes.heartbeat_at < now() - make_interval(secs => $6) \
         RETURNING name",
    )
    .bind(&node.name)
    .bind(&node.instance)
    .bind(&node.host)
    .bind(i64::from(node.pid))
    .bind(i64::try_from(node.max_concurrent).unwrap_or(i64::MAX))
    .bind(ttl.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    if done.is_some() {
        return Ok(());
    }
    let (host, pid, age, instance): (String, i64, f64, String) = sqlx::query_as(
        "SELECT host, pid, CAST(EXTRACT(EPOCH FROM now() - heartbeat_at) AS float8), instance \
         FROM nodes WHERE name = $1",
    )
    .bind(&node.name)
    .fetch_one(pool)
    .await?;
    // A node restarted on its own host right after being killed: its old process is
    // provably gone, so the name is free without waiting out the heartbeat.
    if host == node.host && !alive(pid) {
        let taken = sqlx::query(
            "UPDATE nodes SET instance = $2, pid = $3, started_at = now(), heartbeat_at = now(), \
             max_concurrent = $4, running = 0, stopped_at = NULL \
             WHERE name = $1 AND instance = $5",
        )
        .bind(&node.name)
        .bind(&node.instance)
        .bind(i64::from(node.pid))
        .bind(i64::try_from(node.max_concurrent).unwrap_or(i64::MAX))
        .bind(&instance)
        .execute(pool)
        .await?
        .rows_affected();
        if taken == 1 {
            return Ok(());
        }
    }
    Err(RegisterError::Taken(format!(
        "a live node is already named {} (pid {pid} on {host}, heartbeat {age:.1}s ago): \
         give this one another name with --node",
        node.name
    )))
}

/// Whether a process `pid` exists on this host.
fn alive(pid: i64) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("{0}")]
    Taken(String),
    #[error("cannot register the node: {0}")]
    Db(#[from] sqlx::Error),
}

/// The node is alive and runs `running` agents; `false` when another process took
/// its name over (this one must stop).
pub async fn heartbeat(pool: &PgPool, node: &Node, running: usize) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE nodes SET heartbeat_at = now(), running = $3 WHERE name = $1 AND instance = $2",
    )
    .bind(&node.name)
    .bind(&node.instance)
    .bind(i64::try_from(running).unwrap_or(i64::MAX))
    .execute(pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A graceful stop.
pub async fn stopped(pool: &PgPool, node: &Node) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE nodes SET stopped_at = now(), running = 0 WHERE name = $1 AND instance = $2",
    )
    .bind(&node.name)
    .bind(&node.instance)
    .execute(pool)
    .await
    .map(drop)
}

/// One node as `status` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct NodeRow {
    pub name: String,
    pub host: String,
    pub pid: i64,
    /// Holds the tracker lease now (and it has not expired).
    pub leader: bool,
    /// Seconds since its last heartbeat (database clock).
    pub heartbeat_age_s: f64,
    pub running: i64,
    pub slots: i64,
    /// Stopped gracefully (a killed node just stops beating).
    pub stopped: bool,
}

/// Every node, by name; empty when the store has no cluster tables yet.
pub async fn list_if_any(pool: &PgPool) -> Result<Vec<NodeRow>, sqlx::Error> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('nodes') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if exists { list(pool).await } else { Ok(vec![]) }
}

/// Every node, by name.
pub async fn list(pool: &PgPool) -> Result<Vec<NodeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT n.name, n.host, n.pid, \
         COALESCE(l.holder = n.name AND l.expires_at > now(), false) AS leader, \
         CAST(EXTRACT(EPOCH FROM now() - n.heartbeat_at) AS float8) AS heartbeat_age_s, \
         n.running, n.max_concurrent AS slots, n.stopped_at IS NOT NULL AS stopped \
         FROM nodes n LEFT JOIN leases l ON l.name = 'tracker' ORDER BY n.name",
    )
    .fetch_all(pool)
    .await
}
