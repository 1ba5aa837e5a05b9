//! The hash-chained event store (SQLite, WAL) and its projections.
//!
//! Events are the source of truth; everything else here is derived from them:
//! - `chain` / `canonical`: the pure hash-chain functions and the canonical JSON they
//!   hash (byte layouts documented there);
//! - `append`: the one write path: a `BEGIN IMMEDIATE` transaction that serializes on
//!   the `chain_head` row, inserts the events and folds them into the projections;
//! - `projection` / `tickets`: the fold (ticket records, runs, retry queue, sessions,
//!   rework counts, pending intents);
//! - `checkpoint`: the `(seq, hash)` history kept in a file outside the database;
//! - `verify`: re-hashes every row and compares with the checkpoints;
//! - `read`: the queries the orchestrator, CLI and dashboard use;
//! - `sqlite`: connection settings (WAL, `synchronous=FULL`, busy timeout) and why;
//! - `lock`: the exclusive file lock that makes one writer (daemon) per store;
//! - `reset`: refusing to start on a store that is missing or behind its checkpoint,
//!   and the deliberate way to accept it;
//! - `file_id`: noticing that the database file was removed or replaced under a writer.
//!
//! A `Store` is a cheap handle (a connection pool) and can be cloned freely. Appends from
//! one process are also ordered by a small async lock, so the checkpoint file is written
//! in commit order; appends from several processes serialize on SQLite's write lock.

pub mod append;
pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod event;
pub(crate) mod file_id;
pub mod lock;
mod projection;
mod read;
pub mod reset;
pub mod sqlite;
mod tickets;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

pub use event::{EventKind, IntentOp, NewEvent};
pub use read::Grouping;

use crate::domain::{IssueRecord, TokenUsage};
use checkpoint::Checkpoints;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("store I/O error on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("store data is inconsistent: {0}")]
    Corrupt(String),
    #[error(
        "the store's database {path} {what} while karajan was using it; stopping rather \
         than writing into a file that no longer holds the record (a restart compares \
         the store with its checkpoint file and says what to do)"
    )]
    Replaced { path: String, what: String },
}

/// One stored event row.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredEvent {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub issue: Option<String>,
    pub kind: String,
    pub payload: serde_json::Value,
    /// Hex.
    pub prev_hash: String,
    /// Hex.
    pub hash: String,
}

/// One run, from the `runs` projection.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRow {
    pub run_id: String,
    pub identifier: String,
    pub state: String,
    pub run_number: u32,
    pub attempt: u32,
    pub runner: String,
    pub pid: Option<u32>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `RunStatus::label()` once finished.
    pub status: Option<String>,
    pub exit_code: Option<i32>,
    pub duration_ms: Option<u64>,
    pub tokens: TokenUsage,
    pub cost_usd: Option<f64>,
    pub config_digest: String,
    pub prompt_digest: String,
    pub workspace: String,
    pub log_dir: String,
}

/// A tracker write recorded but not yet confirmed.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingIntent {
    pub intent_id: String,
    pub identifier: String,
    pub op: IntentOp,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

/// One break in the chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Break {
    pub seq: i64,
    pub problem: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VerifyReport {
    pub events: u64,
    pub head_seq: i64,
    pub head_hash: String,
    pub breaks: Vec<Break>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.breaks.is_empty()
    }
}

/// What runs consumed: overall, or for one ticket.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Totals {
    /// Runs started.
    pub runs: u64,
    pub tokens: TokenUsage,
    /// Sum of the reported costs (runs that reported none count as 0).
    pub cost_usd: f64,
}

/// The checkpoint writer of a writable store: the file and what it holds. Its lock also
/// orders this process's appends, so the file only ever moves forward.
///
/// Appends do not wait for the file: they advance the in-memory checkpoints and wake a
/// background task that writes the latest head (fsynced, then renamed) after a short
/// coalescing delay, so a burst of appends costs one file write. The file may lag the
/// database by that delay; a lagging checkpoint is never a false alarm (it is only
/// behind), and `close` and `verify` flush it first.
struct CheckpointWriter {
    path: PathBuf,
    state: tokio::sync::Mutex<Checkpoints>,
    /// The head the file holds (seq), to skip redundant writes.
    written: std::sync::atomic::AtomicI64,
    /// The last seq appended through this store (0: none yet). The next append must
    /// continue after it: a lower seq means the database went back under us.
    appended: std::sync::atomic::AtomicI64,
    wake: tokio::sync::Notify,
}

/// How long the background writer lets appends accumulate before writing the file.
const CHECKPOINT_DELAY: std::time::Duration = std::time::Duration::from_millis(20);

impl CheckpointWriter {
    /// Write the file if it is behind the in-memory head.
    async fn flush(&self) -> Result<(), StoreError> {
        let state = self.state.lock().await;
        let head = state.head.0;
        if self.written.load(std::sync::atomic::Ordering::SeqCst) >= head {
            return Ok(());
        }
        checkpoint::write(&self.path, &state)?;
        self.written
            .store(head, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// The background writer: ends when the store is dropped.
    fn spawn(writer: &Arc<CheckpointWriter>) {
        let weak = Arc::downgrade(writer);
        tokio::spawn(async move {
            loop {
                let Some(w) = weak.upgrade() else { return };
                // Holding the Arc only while waiting would keep the store alive forever;
                // the Notify permit survives a drop of the future, so re-check often.
                let woke =
                    tokio::time::timeout(std::time::Duration::from_millis(500), w.wake.notified())
                        .await
                        .is_ok();
                if woke {
                    tokio::time::sleep(CHECKPOINT_DELAY).await;
                    if let Err(e) = w.flush().await {
                        tracing::warn!(error = %e, "checkpoint write failed; the next append retries it");
                    }
                }
            }
        });
    }
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    /// The checkpoint file `verify` compares with (also set on read-only stores).
    checkpoint_path: Option<PathBuf>,
    /// `None` on a read-only store.
    writer: Option<Arc<CheckpointWriter>>,
    /// The database file a writable store opened (`None` on a read-only store).
    file: Option<file_id::FileId>,
}

impl Store {
    /// Open (creating if needed) the database at `db`, set WAL, apply migrations. The
    /// checkpoint file lives at `checkpoints`.
    pub async fn open(db: &Path, checkpoints: &Path) -> Result<Store, StoreError> {
        let state = checkpoint::load(checkpoints)?;
        let pool = sqlite::open_write(db).await?;
        let store = Store {
            pool,
            file: Some(file_id::FileId::of(db)?),
            checkpoint_path: Some(checkpoints.to_path_buf()),
            writer: Some(Arc::new(CheckpointWriter {
                path: checkpoints.to_path_buf(),
                written: std::sync::atomic::AtomicI64::new(state.head.0),
                appended: std::sync::atomic::AtomicI64::new(0),
                state: tokio::sync::Mutex::new(state),
                wake: tokio::sync::Notify::new(),
            })),
        };
        if let Some(w) = &store.writer {
            CheckpointWriter::spawn(w);
        }
        let (head, _) = store.head().await?;
        if head > 0 && checkpoint::read(checkpoints)?.is_none() {
            tracing::warn!(
                db = %db.display(),
                checkpoints = %checkpoints.display(),
                "the store has events but no checkpoint file; `verify` reports this until \
                 the next append writes one"
            );
        }
        Ok(store)
    }

    /// Open an existing database read-only; `Ok(None)` when it does not exist. Writes
    /// nothing (used by `--dry-run`): a quiescent database is opened immutable, so not
    /// even SQLite's `-shm` index is created. `verify` checks no checkpoints unless
    /// [`Store::with_checkpoints`] names the file.
    pub async fn open_read_only(db: &Path) -> Result<Option<Store>, StoreError> {
        Ok(sqlite::open_read(db).await?.map(|pool| Store {
            pool,
            checkpoint_path: None,
            writer: None,
            file: None,
        }))
    }

    /// The same store, with `verify` comparing against the checkpoint file at `path`
    /// (for read-only stores; a writable store already knows its file).
    pub fn with_checkpoints(mut self, path: &Path) -> Store {
        self.checkpoint_path = Some(path.to_path_buf());
        self
    }

    /// Append events atomically (one transaction) and update projections.
    /// Fails with [`StoreError::Replaced`], writing nothing, when the database file was
    /// removed or replaced since the store opened it.
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<StoredEvent>, StoreError> {
        self.check_file()?;
        let Some(writer) = &self.writer else {
            return append::append(&self.pool, &events, Utc::now()).await;
        };
        let mut state = writer.state.lock().await;
        let stored = append::append(&self.pool, &events, Utc::now()).await?;
        let mut rows = Vec::with_capacity(stored.len());
        for e in &stored {
            let hash = chain::parse_hash(&e.hash)
                .ok_or_else(|| StoreError::Corrupt(format!("event {} hash is not hex", e.seq)))?;
            rows.push((e.seq, hash));
        }
        state.advance(&rows);
        drop(state);
        // The events are committed; the file follows shortly (see `CheckpointWriter`).
        writer.wake.notify_one();
        let first = rows.first().map_or(0, |r| r.0);
        let last = rows.last().map_or(0, |r| r.0);
        let before = writer
            .appended
            .fetch_max(last, std::sync::atomic::Ordering::SeqCst);
        if before > 0 && first <= before {
            // The checkpoint keeps the old head as evidence (see `Checkpoints::advance`).
            return Err(StoreError::Replaced {
                path: self.file.as_ref().map_or_else(String::new, |f| f.path()),
                what: format!(
                    "went back in time (karajan had written up to seq {before}; the \
                     database continued at seq {first})"
                ),
            });
        }
        Ok(stored)
    }

    /// `Err(StoreError::Replaced)` when the database file this writable store opened
    /// was removed or replaced since (always `Ok` on a read-only store). Cheap: one
    /// `stat`.
    pub fn check_file(&self) -> Result<(), StoreError> {
        match &self.file {
            Some(id) => id.check(),
            None => Ok(()),
        }
    }

    /// Every ticket record, with `pending_intents` counted.
    pub async fn records(&self) -> Result<Vec<IssueRecord>, StoreError> {
        read::records(&self.pool).await
    }

    pub async fn record(&self, identifier: &str) -> Result<Option<IssueRecord>, StoreError> {
        read::record(&self.pool, identifier).await
    }

    /// Runs that started and never finished.
    pub async fn open_runs(&self) -> Result<Vec<RunRow>, StoreError> {
        read::open_runs(&self.pool).await
    }

    pub async fn runs_for(&self, identifier: &str) -> Result<Vec<RunRow>, StoreError> {
        read::runs_for(&self.pool, identifier).await
    }

    /// Unconfirmed tracker writes, oldest first.
    pub async fn pending_intents(&self) -> Result<Vec<PendingIntent>, StoreError> {
        read::pending_intents(&self.pool).await
    }

    /// The latest session id recorded by a run of `runner` kind on this ticket.
    pub async fn latest_session(
        &self,
        identifier: &str,
        runner: &str,
    ) -> Result<Option<String>, StoreError> {
        read::latest_session(&self.pool, identifier, runner).await
    }

    /// The ticket's events, in seq order.
    pub async fn events_for(&self, identifier: &str) -> Result<Vec<StoredEvent>, StoreError> {
        read::events_for(&self.pool, identifier).await
    }

    /// Up to `limit` events with seq greater than `after_seq`, in seq order.
    pub async fn events_page(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read::events_page(&self.pool, after_seq, limit).await
    }

    /// Run totals per state or per UTC day, overall or for one ticket.
    pub async fn totals_by(
        &self,
        by: Grouping,
        identifier: Option<&str>,
    ) -> Result<Vec<(String, Totals)>, StoreError> {
        read::totals_by(&self.pool, by, identifier).await
    }

    /// The totals of the runs started on `day` (UTC).
    pub async fn totals_on(&self, day: chrono::NaiveDate) -> Result<Totals, StoreError> {
        read::totals_on(&self.pool, &day.format("%Y-%m-%d").to_string()).await
    }

    /// The latest `limit` events of one kind, newest first (for the dashboard).
    pub async fn recent_of_kind(
        &self,
        kind: &str,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        read::recent_of_kind(&self.pool, kind, limit).await
    }

    /// The chain head `(seq, hex hash)`; `(0, 64 zeros)` when empty.
    pub async fn head(&self) -> Result<(i64, String), StoreError> {
        read::head(&self.pool).await
    }

    /// Runs, tokens and cost over every run.
    pub async fn totals(&self) -> Result<Totals, StoreError> {
        read::totals(&self.pool, None).await
    }

    /// Runs, tokens and cost of one ticket's runs.
    pub async fn totals_for(&self, identifier: &str) -> Result<Totals, StoreError> {
        read::totals(&self.pool, Some(identifier)).await
    }

    /// Re-hash every row and check the checkpoints; reports every break.
    pub async fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.flush_checkpoints().await?;
        verify::verify(&self.pool, self.checkpoint_path.as_deref()).await
    }

    /// Write the checkpoint file now if it lags the chain head (a writable store
    /// otherwise writes it shortly after each append).
    pub async fn flush_checkpoints(&self) -> Result<(), StoreError> {
        match &self.writer {
            Some(w) => w.flush().await,
            None => Ok(()),
        }
    }

    /// Flush the checkpoint file, then close the pool (waits for connections to be
    /// returned).
    pub async fn close(&self) {
        if let Err(e) = self.flush_checkpoints().await {
            tracing::warn!(error = %e, "checkpoint write failed at close");
        }
        self.pool.close().await;
    }
}
