//! Opening the SQLite database, and the small codecs every query module shares.
//!
//! Connections: a writable store has exactly **one writer connection**, held for the
//! store's life rather than pooled (see `sqlite_db`: every append runs on it, so
//! SQLite's prepared-statement cache is warm and no two appends of this process ever
//! contend for the write lock; the daemon's own short reads run on it too, see
//! `Store::own`) and a small pool of **readers** (`query_only`, at most [`READERS`],
//! opened when first needed and closed within a minute unused) for the dashboard's and
//! the CLI's queries.
//! Each sqlx SQLite connection is one worker thread, so this also bounds the threads.
//!
//! Durability settings of the writer (the full story, with the checkpoint file, is in
//! the `store` module docs):
//! - `journal_mode=WAL`: readers (dashboard, `karajan history`) never block the writer.
//! - `synchronous=NORMAL`: a commit is written to the WAL (so it survives the process
//!   being killed) but not `fsync`ed; SQLite fsyncs the WAL when it checkpoints it into
//!   the database. The store itself `fsync`s the WAL at its durability points: before it
//!   writes the checkpoint file (so the file never vouches for rows a power loss could
//!   take back) and on [`crate::store::Store::sync`] / `close`.
//! - `busy_timeout=10s`: another process holding the write lock makes us wait, not fail.
//! - `foreign_keys=ON` (sqlx's default), although the schema declares none today.
//!
//! Memory: each connection's page cache is capped at [`CACHE_KIB`] (SQLite's default is
//! 2 MiB per connection, which a long-running daemon's three connections fill as the
//! database grows): the orchestrator reads its ticket records from memory (see
//! `cache`), and the pages the queries need stay in the operating system's file cache.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlitePool};

use super::StoreError;
use super::sqlite_db::SqliteDb;

/// How long a connection waits for a lock held by another connection or process.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The reader connections of a store (each is one sqlx worker thread).
pub const READERS: u32 = 2;

/// How long a writable store's reader connection stays open unused: the dashboard's
/// queries open them, and closing them soon after gives back their page cache and
/// worker thread (sqlx's default keeps them ten minutes). sqlx's reaper runs at this
/// interval too, so one closes 30–60 s after its last use (seen with the daemon: the
/// two readers a ticket's page opened were gone when looked at 70 s later).
pub const READER_IDLE: Duration = Duration::from_secs(30);

/// Each connection's page cache, in KiB (`PRAGMA cache_size` takes it negated). What
/// the writer keeps hot is small (the right edge of `events`, the index pages of the
/// tickets at work, the projections' rows); older pages come back from the operating
/// system's file cache. At 512 the cache was full after the drain bench's 50 tickets
/// (an 852 KB database): 256 took the heap at the peak from 3.8–3.9 to 3.4–3.5 MB,
/// with no measurable CPU cost (issue 11).
pub const CACHE_KIB: u32 = 256;

fn cache_size() -> String {
    format!("-{CACHE_KIB}")
}

/// The options of a writable store: create if missing, WAL, `synchronous=NORMAL`.
pub fn write_options(db: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .pragma("cache_size", cache_size())
}

/// The options of a writable store's readers: the same file, never written through
/// (`query_only`), and no journal-mode change (the writer set WAL, which persists).
pub fn reader_options(db: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(false)
        .pragma("query_only", "ON")
        .busy_timeout(BUSY_TIMEOUT)
        .pragma("cache_size", cache_size())
}

/// The `-wal` file beside the database: what the store `fsync`s at a durability point.
pub fn wal_path(db: &Path) -> std::path::PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::path::PathBuf::from(wal)
}

/// Make every commit so far durable: `fsync` the WAL file (any descriptor of the file
/// flushes it). A missing WAL means every commit is already in the synced database
/// (SQLite removes it only after a checkpoint).
pub fn sync_wal(db: &Path) -> Result<(), StoreError> {
    let wal = wal_path(db);
    let io = |source| StoreError::Io {
        path: wal.display().to_string(),
        source,
    };
    match std::fs::File::open(&wal) {
        Ok(file) => file.sync_data().map_err(io),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(e)),
    }
}

/// The options of a read-only store: never creates the database, sets no journal mode.
///
/// When no `-wal` file sits beside the database, no writer is active and every commit
/// is in the main file, so it is opened `immutable`: SQLite then creates no `-shm` or
/// `-wal` file either, and a dry run truly writes nothing. With a `-wal` present (a
/// daemon running, or one that died) the WAL must be read, so a plain read-only open is
/// used; SQLite shares the writer's `-shm` index then.
pub fn read_options(db: &Path) -> SqliteConnectOptions {
    let quiescent = !wal_path(db).exists();
    SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(false)
        .read_only(true)
        .immutable(quiescent)
        .busy_timeout(BUSY_TIMEOUT)
}

/// A pool of SQLite connections, handed out without sqlx's liveness test: that test is a
/// ping of the connection's worker thread (a message there and an answer back) before
/// every acquire, which a network database needs and an embedded one does not: a
/// connection whose worker is gone fails its next statement with an error anyway.
/// Skipping it saves a round trip per append and per read (issue 11).
fn pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new().test_before_acquire(false)
}

/// Open a writable store's connections: creates the parent directory and the file,
/// opens the one writer connection (held, not pooled: see `sqlite_db`) and applies the
/// migrations on it, then opens the readers lazily.
pub async fn open_write(db: &Path) -> Result<(SqliteDb, SqlitePool), StoreError> {
    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
            path: parent.display().to_string(),
            source,
        })?;
    }
    let mut writer = write_options(db).connect().await?;
    sqlx::migrate!("./migrations").run(&mut writer).await?;
    let writer = SqliteDb::writer(writer);
    let readers = pool_options()
        .max_connections(READERS)
        .min_connections(0)
        .idle_timeout(READER_IDLE)
        .connect_lazy_with(reader_options(db));
    Ok((writer, readers))
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
    let pool = pool_options()
        .max_connections(READERS)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_connection_of_a_writable_store_caps_its_page_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (writer, readers) = open_write(&dir.path().join("k.db")).await.expect("open");
        let readers = SqliteDb::Pool(readers);
        for db in [&writer, &readers] {
            let size: i64 = sqlx::query_scalar("PRAGMA cache_size")
                .fetch_one(db)
                .await
                .expect("pragma");
            assert_eq!(size, -i64::from(CACHE_KIB));
        }
        writer.close().await;
        readers.close().await;
    }
}
