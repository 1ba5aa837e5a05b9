//! The hash-chained event store (SQLite, WAL) and its projections.
//!
//! API CONTRACT (stub bodies; the implementation replaces them):
//! every `append` is one transaction that serializes on the chain head, computes hashes
//! in Rust (`chain`), inserts the events and folds them into the projections.

pub mod event;

use std::path::Path;

use chrono::{DateTime, Utc};

pub use event::{EventKind, IntentOp, NewEvent};

use crate::domain::{IssueRecord, TokenUsage};

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

#[derive(Clone)]
pub struct Store {}

impl Store {
    /// Open (creating if needed) the database at `db`, set WAL, apply migrations. The
    /// checkpoint file lives at `checkpoints`.
    pub async fn open(db: &Path, checkpoints: &Path) -> Result<Store, StoreError> {
        let _ = (db, checkpoints);
        Err(StoreError::Corrupt("not built yet".into()))
    }

    /// Open an existing database read-only; `Ok(None)` when it does not exist. Writes
    /// nothing (used by `--dry-run`).
    pub async fn open_read_only(db: &Path) -> Result<Option<Store>, StoreError> {
        let _ = db;
        Ok(None)
    }

    /// Append events atomically (one transaction) and update projections.
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<StoredEvent>, StoreError> {
        let _ = events;
        Err(StoreError::Corrupt("not built yet".into()))
    }

    /// Every ticket record, with `pending_intents` counted.
    pub async fn records(&self) -> Result<Vec<IssueRecord>, StoreError> {
        Ok(vec![])
    }

    pub async fn record(&self, identifier: &str) -> Result<Option<IssueRecord>, StoreError> {
        let _ = identifier;
        Ok(None)
    }

    /// Runs that started and never finished.
    pub async fn open_runs(&self) -> Result<Vec<RunRow>, StoreError> {
        Ok(vec![])
    }

    pub async fn runs_for(&self, identifier: &str) -> Result<Vec<RunRow>, StoreError> {
        let _ = identifier;
        Ok(vec![])
    }

    /// Unconfirmed tracker writes, oldest first.
    pub async fn pending_intents(&self) -> Result<Vec<PendingIntent>, StoreError> {
        Ok(vec![])
    }

    /// The latest session id recorded by a run of `runner` kind on this ticket.
    pub async fn latest_session(
        &self,
        identifier: &str,
        runner: &str,
    ) -> Result<Option<String>, StoreError> {
        let _ = (identifier, runner);
        Ok(None)
    }

    /// The ticket's events, in seq order.
    pub async fn events_for(&self, identifier: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let _ = identifier;
        Ok(vec![])
    }

    /// Re-hash every row and check the checkpoints; reports every break.
    pub async fn verify(&self) -> Result<VerifyReport, StoreError> {
        Err(StoreError::Corrupt("not built yet".into()))
    }
}
