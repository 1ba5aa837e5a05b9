//! Opening the SQLite database, and the small codecs every query module shares.
//!
//! Durability settings (the same for every connection of a writable store):
//! - `journal_mode=WAL`: readers (dashboard, `karajan history`) never block the writer.
//! - `synchronous=FULL`: a commit is on disk when `append` returns. With `NORMAL` a power
//!   loss may roll back the last commits in WAL mode, and the checkpoint file (written
//!   after the commit) would then claim rows the database no longer has: `verify` would
//!   report a truncated tail that nobody caused. The cost is one WAL `fsync` per append,
//!   which the benchmark (`cargo bench --bench engine`) measures.
//! - `busy_timeout=10s`: another process holding the write lock makes us wait, not fail.
//! - `foreign_keys=ON` (sqlx's default), although the schema declares none today.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::StoreError;

/// How long a connection waits for a lock held by another connection or process.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const MAX_CONNECTIONS: u32 = 4;

/// The options of a writable store: create if missing, WAL, `synchronous=FULL`.
pub fn write_options(db: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(BUSY_TIMEOUT)
}

/// The options of a read-only store: never creates the database, sets no journal mode.
///
/// When no `-wal` file sits beside the database, no writer is active and every commit
/// is in the main file, so it is opened `immutable`: SQLite then creates no `-shm` or
/// `-wal` file either, and a dry run truly writes nothing. With a `-wal` present (a
/// daemon running, or one that died) the WAL must be read, so a plain read-only open is
/// used; SQLite shares the writer's `-shm` index then.
pub fn read_options(db: &Path) -> SqliteConnectOptions {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let quiescent = !std::path::Path::new(&wal).exists();
    SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(false)
        .read_only(true)
        .immutable(quiescent)
        .busy_timeout(BUSY_TIMEOUT)
}

/// Open a writable pool: creates the parent directory and the file, applies migrations.
pub async fn open_write(db: &Path) -> Result<SqlitePool, StoreError> {
    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
            path: parent.display().to_string(),
            source,
        })?;
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(write_options(db))
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// Open a read-only pool, or `None` when the file does not exist.
pub async fn open_read(db: &Path) -> Result<Option<SqlitePool>, StoreError> {
    match std::fs::metadata(db) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::Io {
                path: db.display().to_string(),
                source,
            });
        }
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(read_options(db))
        .await?;
    Ok(Some(pool))
}

/// Projection timestamps: RFC 3339 UTC with nine fractional digits, so text order is
/// time order and nothing is lost.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub fn parse_time(text: &str, what: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::<Utc>::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("{what}: `{text}` is not a time: {e}")))
}

/// Counts and durations are `u64`/`u32` in Rust and `INTEGER` (i64) in SQLite.
pub fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub fn to_u64(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what}: {n} is negative")))
}

pub fn to_u32(n: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what}: {n} is out of range")))
}

pub fn json_text<T: serde::Serialize>(value: &T, what: &str) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("{what} does not serialize: {e}")))
}

pub fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("{what}: stored JSON is invalid: {e}")))
}
