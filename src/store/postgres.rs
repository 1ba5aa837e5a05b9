//! Opening a PostgreSQL store: the pool, the migrations (`migrations/postgres`), and
//! what differs from SQLite in how it is used.
//!
//! - One pool serves the appends and the reads ([`POOL_SIZE`] connections): Postgres
//!   needs no single writer connection; appends serialize on the `chain_head` row lock
//!   taken inside their transaction (see `append`), whichever connection or process
//!   they come from.
//! - A commit is durable when it returns (`synchronous_commit` is on by default), so
//!   the checkpoint writer has no WAL to `fsync` before it writes the file.
//! - The schema holds the same columns as SQLite's, with the same text encodings (RFC
//!   3339 times, canonical JSON payloads, hashes as bytes), so a row reads back to the
//!   same bytes and hashes the same; integers are `bigint`, and every text column that
//!   queries sort by uses the `"C"` collation (byte order, like SQLite) so listings come
//!   out in the same order whatever the database's locale.
//! - sqlx's migrator takes a Postgres advisory lock of its own while it migrates, so two
//!   processes opening a fresh database together do not race.
//! - A read-only store (`status`, `history`, `verify`, `--dry-run`) connects with
//!   `default_transaction_read_only`, runs no migration, and is `None` when the database
//!   has no store yet.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use super::StoreError;
use super::location::PgUrl;

/// Connections of a writable store's pool (appends, reads, the dashboard).
pub const POOL_SIZE: u32 = 4;

/// Connections of a read-only store.
pub const READ_POOL_SIZE: u32 = 2;

/// How long to wait for a connection (a server that does not answer fails the start).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The name the store's connections show in `pg_stat_activity`.
pub const APPLICATION: &str = "karajan";

/// Connect and apply the migrations.
pub async fn open_write(url: &PgUrl) -> Result<PgPool, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(POOL_SIZE)
        .min_connections(0)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(url.options().application_name(APPLICATION))
        .await
        .map_err(|e| connect_error(url, e))?;
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok(pool)
}

/// Connect read-only; `None` when the database holds no store (never migrated).
pub async fn open_read(url: &PgUrl) -> Result<Option<PgPool>, StoreError> {
    let options = url
        .options()
        .application_name(APPLICATION)
        .options([("default_transaction_read_only", "on")]);
    let pool = PgPoolOptions::new()
        .max_connections(READ_POOL_SIZE)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| connect_error(url, e))?;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('chain_head') IS NOT NULL")
        .fetch_one(&pool)
        .await?;
    if exists {
        Ok(Some(pool))
    } else {
        pool.close().await;
        Ok(None)
    }
}

/// A failed connection, naming the server (never the URL) and the `store.url` key.
pub fn connect_error(url: &PgUrl, e: sqlx::Error) -> StoreError {
    StoreError::Connect(format!(
        "cannot connect to the PostgreSQL store {} (store.url): {}",
        url.describe(),
        url.scrub(&e.to_string())
    ))
}
