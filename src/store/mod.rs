//! The hash-chained event store and its projections, on SQLite (WAL; the embedded
//! default) or PostgreSQL (`store.url: postgres://…`).
//!
//! Events are the source of truth; everything else here is derived from them:
//! - `backend`: the two engines behind one `Store`: an enum of pools, each query written
//!   once (the SQL both accept) and compiled per engine; `location`: which engine and
//!   where (a file, or a URL that is never printed); `sqlite` / `postgres`: opening each;
//! - `chain` / `canonical`: the pure hash-chain functions and the canonical JSON they
//!   hash (byte layouts documented there);
//! - `append`: the one write path: a transaction that serializes on the `chain_head` row
//!   (`BEGIN IMMEDIATE` on SQLite, `SELECT … FOR UPDATE` on Postgres), inserts the
//!   events and folds them into the projections;
//! - `projection` / `tickets`: the fold (ticket records, runs, retry queue, sessions,
//!   rework counts, pending intents);
//! - `checkpoint`: the `(seq, hash)` history kept in a file outside the database;
//! - `copy`: a SQLite store copied row for row into an empty Postgres one (`migrate`);
//! - `signing`: the ed25519 key, kept outside the store's folder, that signs it;
//! - `verify`: re-hashes every row and compares with the checkpoints;
//! - `read`: the queries the orchestrator, CLI and dashboard use; `daily`: figures per
//!   day for the dashboard's chart; `run_history`: what planning a run reads, in one
//!   query; `queries`: which of memory, the writer connection or the readers answers
//!   each of the store's questions;
//! - `cache`: a writable store's ticket records in memory, kept exact by its appends,
//!   so a poll reads no record from the database;
//! - `ledger`: a writable store's run totals and latest transitions in memory, kept
//!   exact by its appends, so rebuilding the read model reads nothing;
//! - `outbox`: a writable SQLite store's pending intents in memory, kept exact by its
//!   appends, so a tick reads none from the database;
//! - `sqlite`: connection settings (one writer, a few readers, WAL, `synchronous=NORMAL`,
//!   busy timeout) and why; `sqlite_db`: the writer held for the store's life (sqlx
//!   pings a pooled connection each time it is given back), the readers pooled;
//! - `writer`: the checkpoint-file writer (at most one write a second) and the counters;
//! - `lock` / `pg_lock`: one writer (daemon) per store: an exclusive file lock on SQLite,
//!   an advisory lock on Postgres;
//! - `reset`: refusing to start on a store that is missing or behind its checkpoint,
//!   and the deliberate way to accept it;
//! - `file_id`: noticing that the database file was removed or replaced under a writer.
//!
//! A `Store` is a cheap handle (a connection pool) and can be cloned freely. Appends from
//! one process are also ordered by a small async lock, so the checkpoint file is written
//! in commit order; appends from several processes serialize on SQLite's write lock, or
//! on Postgres on the chain head's row lock.
//!
//! # Durability: what is on disk when
//!
//! On Postgres a commit is durable when the append returns (the server's WAL); the
//! checkpoint file below is kept and written the same way, without a WAL to `fsync`.
//! The rest of this section is about SQLite.
//!
//! - **An append returns**: the transaction is committed to the WAL (`synchronous=NORMAL`,
//!   no `fsync`). It survives the process being killed or crashing at any point; a
//!   power loss or kernel crash may still take back the commits since the last
//!   durability point (SQLite then rolls the WAL back to a consistent earlier state:
//!   never a torn transaction, never a broken chain).
//! - **A durability point** (`fsync` of the WAL): on [`Store::sync`], which whoever must
//!   not act on a record a power loss could take back calls first (before every tracker
//!   write); it writes no file. The checkpoint file is rewritten (create, `fsync`,
//!   rename) after an `fsync` of its own: at most once a second while appends come in
//!   (the background writer, see `writer`), on [`Store::flush_checkpoints`],
//!   [`Store::verify`] and [`Store::close`].
//! - The checkpoint file is therefore never *ahead* of what is on disk, so `verify` never
//!   reports a tail that a power loss took back as "truncated".
//!
//! What a lagging checkpoint means for `verify`: the file vouches for the chain up to
//! its head. A crash between appends and the next checkpoint write leaves at most a
//! second of events (those appended since the last write) vouched for by nothing outside
//! the database: if they are later deleted, or the whole chain is recomputed from one of
//! them on, re-hashing alone cannot tell and `verify` reports nothing for them. Every
//! row up to the file's head stays covered: a deleted tail reaching into it, or a
//! recomputed chain from any row at or below it, is reported as before. A running store
//! (and `verify` itself, which writes the file first) closes the window within a second.

pub mod append;
pub(crate) mod backend;
mod cache;
pub mod canonical;
pub mod chain;
pub mod checkpoint;
pub mod copy;
mod daily;
pub mod event;
pub mod fence;
pub(crate) mod file_id;
mod ledger;
pub mod location;
pub mod lock;
mod outbox;
pub mod pg_lock;
pub mod postgres;
mod projection;
mod queries;
mod read;
pub mod reset;
mod run_history;
mod script;
pub mod signing;
pub mod sqlite;
mod sqlite_append;
pub(crate) mod sqlite_db;
mod tickets;
pub mod verify;
pub mod verify_logs;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use backend::Pool;
pub use daily::DayFigures;
pub use event::{EventKind, IntentOp, NewEvent};
pub use fence::Fence;
pub use ledger::HistoryView;
pub use location::{Location, PgUrl};
pub use read::Grouping;
pub use run_history::RunHistory;

use crate::domain::{IssueRecord, TokenUsage};
pub use writer::{CHECKPOINT_INTERVAL, StoreStats};
use writer::{CheckpointWriter, Counters};

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
    /// The database server cannot be reached or refused us (the text names the key and
    /// the server, never the URL).
    #[error("{0}")]
    Connect(String),
    #[error("store data is inconsistent: {0}")]
    Corrupt(String),
    /// A cluster node's append under a lease it no longer holds (see `fence`): nothing
    /// was written; the node must stop its agents and its decider.
    #[error(
        "node {node} no longer holds the {lease} lease it writes under (its token {token}; \
         the lease is {now}): the append was rejected and nothing was written"
    )]
    Fenced {
        lease: String,
        node: String,
        token: i64,
        now: String,
    },
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
    /// What `verify` could not check or wants said without calling it a break (unsigned
    /// entries from before signing, rows a running daemon has not signed yet).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
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

#[derive(Clone)]
pub struct Store {
    /// The one writer connection on SQLite (the read pool on a read-only store); the
    /// one pool on Postgres.
    pool: Pool,
    /// The readers the queries that grow with history use (the dashboard's and the
    /// CLI's: a ticket's whole history, pages of events, totals over every run); the
    /// same pool on Postgres. The daemon's own small reads go to [`Store::own`].
    readers: Pool,
    /// The checkpoint file `verify` compares with (also set on read-only stores).
    checkpoint_path: Option<PathBuf>,
    /// `None` on a read-only store.
    writer: Option<Arc<CheckpointWriter>>,
    /// The database file a writable store opened (`None` on a read-only store).
    file: Option<file_id::FileId>,
    counters: Arc<Counters>,
    /// The records in memory (`None` on a read-only store): see `cache`.
    cache: Option<Arc<cache::RecordCache>>,
    /// The chain head as this store's last append committed it (`None` on a read-only
    /// store): what a tracker comment's anchor names, without asking the database.
    committed: Option<Arc<std::sync::Mutex<(i64, String)>>>,
    /// The run totals and latest transitions in memory (`None` on a read-only store):
    /// see `ledger`.
    ledger: Option<Arc<ledger::Ledger>>,
    /// A cluster node's lease, checked by every append (see `fence`).
    fence: Option<Arc<Fence>>,
    /// The pending intents in memory (a writable SQLite store only): see `outbox`.
    outbox: Option<Arc<outbox::Outbox>>,
}

impl Store {
    /// Open (creating if needed) the database at `db`, set WAL, apply migrations. The
    /// checkpoint file lives at `checkpoints`.
    pub async fn open(db: &Path, checkpoints: &Path) -> Result<Store, StoreError> {
        Store::open_at(&Location::Sqlite(db.to_path_buf()), checkpoints).await
    }

    /// Open (creating and migrating if needed) the store at `location`, writable. The
    /// checkpoint file lives at `checkpoints` on either engine.
    pub async fn open_at(location: &Location, checkpoints: &Path) -> Result<Store, StoreError> {
        let state = checkpoint::load(checkpoints)?;
        let (pool, readers, file) = match location {
            Location::Sqlite(db) => {
                let (pool, readers) = sqlite::open_write(db).await?;
                let file = file_id::FileId::of(db)?;
                (
                    Pool::Sqlite(pool),
                    Pool::Sqlite(sqlite_db::SqliteDb::Pool(readers)),
                    Some(file),
                )
            }
            Location::Postgres(url) => {
                let pool = Pool::Postgres(postgres::open_write(url).await?);
                (pool.clone(), pool, None)
            }
        };
        let counters = Arc::new(Counters::default());
        let mut store = Store {
            fence: None,
            outbox: None,
            cache: None,
            committed: None,
            ledger: None,
            counters: counters.clone(),
            pool,
            readers,
            file,
            checkpoint_path: Some(checkpoints.to_path_buf()),
            writer: Some(Arc::new(CheckpointWriter {
                path: checkpoints.to_path_buf(),
                db: location.sqlite_path().map(Path::to_path_buf),
                written: std::sync::atomic::AtomicI64::new(state.head.0),
                appended: std::sync::atomic::AtomicI64::new(0),
                synced: std::sync::atomic::AtomicI64::new(-1),
                syncing: tokio::sync::Mutex::new(()),
                state: tokio::sync::Mutex::new(state),
                flushing: tokio::sync::Mutex::new(()),
                wake: tokio::sync::Notify::new(),
                counters,
                signer: std::sync::OnceLock::new(),
            })),
        };
        if let Some(w) = &store.writer {
            CheckpointWriter::spawn(w);
        }
        // Before any append of this store: from here on its appends keep it exact.
        let active = read::records(store.own(), true).await?;
        store.cache = Some(Arc::new(cache::RecordCache::new(active)));
        if let Pool::Sqlite(_) = &store.pool {
            let pending = read::pending_intents(store.own()).await?;
            store.outbox = Some(Arc::new(outbox::Outbox::new(pending)));
        }
        let (head, hash) = store.head().await?;
        store.committed = Some(Arc::new(std::sync::Mutex::new((head, hash))));
        store.ledger = Some(Arc::default());
        if head > 0 && checkpoint::read(checkpoints)?.is_none() {
            tracing::warn!(
                db = %location,
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
        Store::open_read_only_at(&Location::Sqlite(db.to_path_buf())).await
    }

    /// [`Store::open_read_only`] on either engine: on Postgres, a read-only connection
    /// that runs no migration; `Ok(None)` when the database holds no store yet.
    pub async fn open_read_only_at(location: &Location) -> Result<Option<Store>, StoreError> {
        let pool = match location {
            Location::Sqlite(db) => sqlite::open_read(db)
                .await?
                .map(|p| Pool::Sqlite(sqlite_db::SqliteDb::Pool(p))),
            Location::Postgres(url) => postgres::open_read(url).await?.map(Pool::Postgres),
        };
        Ok(pool.map(|pool| Store {
            readers: pool.clone(),
            pool,
            checkpoint_path: None,
            writer: None,
            file: None,
            counters: Arc::default(),
            cache: None,
            committed: None,
            ledger: None,
            fence: None,
            outbox: None,
        }))
    }

    /// The same store, every append of which is made under `fence` (a cluster node's
    /// lease; Postgres only): an append after the lease was lost is rejected.
    pub fn fenced(mut self, fence: Fence) -> Store {
        self.fence = Some(Arc::new(fence));
        self
    }

    /// The PostgreSQL pool (readers) of a Postgres store, for the cluster's own tables
    /// (`cluster::nodes`), which are not part of the chain.
    pub fn pg_pool(&self) -> Option<sqlx::PgPool> {
        match &self.readers {
            Pool::Postgres(p) => Some(p.clone()),
            Pool::Sqlite(_) => None,
        }
    }

    /// The lease this store appends under, if any.
    pub fn fence(&self) -> Option<&Fence> {
        self.fence.as_deref()
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
        self.append_at(events, Utc::now()).await
    }

    /// [`Store::append`] with the events recorded at `at` instead of now (its hash
    /// covers the time): what the parity suite uses to append the same events, to the
    /// same bytes, on both engines.
    pub async fn append_at(
        &self,
        events: Vec<NewEvent>,
        at: DateTime<Utc>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        // The append is a task of its own: a caller that stops waiting (cancelled, or
        // an HTTP client gone) cannot stop it between the database's commit and the
        // memory that follows it (records, head, checkpoints, totals), which would
        // then fold the next append from a record the file no longer holds.
        // Boxed: the append's future is large (about 15 KB, the transaction's states),
        // and a task moves its future, and its output over it, several times by value
        // (callgrind counted seven copies at the spawn, three at completion).
        let this = self.clone();
        match tokio::spawn(Box::pin(async move { this.append_now(events, at).await })).await {
            Ok(appended) => appended,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(StoreError::Connect(format!(
                "the append's task was stopped (the runtime is shutting down): {e}"
            ))),
        }
    }

    async fn append_now(
        &self,
        events: Vec<NewEvent>,
        at: DateTime<Utc>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.check_file()?;
        let Some(writer) = &self.writer else {
            return append::append(&self.pool, &events, at, self.fence.as_deref()).await;
        };
        let mut state = writer.state.lock().await;
        // The records in memory stand in for database reads inside the transaction.
        let cache = self.cache.clone();
        let known = move |id: &str| cache.as_ref().and_then(|c| c.known(id));
        let known: Option<&projection::Known> = self.cache.is_some().then_some(&known);
        let outbox = self.outbox.clone();
        let counts = outbox.is_some();
        let pending = move |id: &str| outbox.as_ref().map_or(0, |o| o.count(id));
        let pending: Option<&append::PendingOf> = counts.then_some(&pending);
        // The head this store's last append left (its memory; see `sqlite_append`).
        let head = self.committed.as_ref().and_then(|c| {
            let (seq, hash) = &*c.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            chain::parse_hash(hash).map(|hash| append::HeadHint {
                seq: *seq,
                hash,
                one_request: &self.counters.one_request,
                pending,
            })
        });
        let (stored, changed) =
            append::append_tracked(&self.pool, &events, at, known, self.fence.as_deref(), head)
                .await?;
        // Still under the append lock: the records follow the commit order.
        if let Some(cache) = &self.cache {
            cache.apply(changed);
        }
        if let Some(outbox) = &self.outbox {
            outbox.apply(&events, &stored);
        }
        Counters::bump(&self.counters.transactions);
        let mut rows = Vec::with_capacity(stored.len());
        for e in &stored {
            let hash = chain::parse_hash(&e.hash)
                .ok_or_else(|| StoreError::Corrupt(format!("event {} hash is not hex", e.seq)))?;
            rows.push((e.seq, hash));
        }
        state.advance(&rows);
        if let Some(ledger) = &self.ledger {
            ledger.apply(&events, &stored);
        }
        if let (Some(committed), Some(last)) = (&self.committed, stored.last()) {
            *committed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = (last.seq, last.hash.clone());
        }
        // Compared while appends are still serialized: another append's later rows may
        // not be counted before this one's (they would look like a step back in time).
        let first = rows.first().map_or(0, |r| r.0);
        let last = rows.last().map_or(0, |r| r.0);
        let before = writer
            .appended
            .fetch_max(last, std::sync::atomic::Ordering::SeqCst);
        drop(state);
        // The events are committed; the file follows shortly (see `CheckpointWriter`).
        writer.wake.notify_one();
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

    /// What this store has done since it was opened (see [`StoreStats`]).
    pub fn stats(&self) -> StoreStats {
        self.counters.get()
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

    /// The checkpoint file this store is checked against, when known.
    pub fn checkpoint_file(&self) -> Option<&Path> {
        self.checkpoint_path.as_deref()
    }

    /// The public half of the key this store signs its checkpoints with (a daemon's
    /// store once its key is loaded; `None` on a read-only store).
    pub fn signing_public(&self) -> Option<ed25519_dalek::VerifyingKey> {
        self.writer
            .as_ref()
            .and_then(|w| w.signer.get())
            .map(|k| k.public())
    }

    /// Re-hash every row and check the checkpoints; reports every break.
    pub async fn verify(&self) -> Result<VerifyReport, StoreError> {
        let trust = match self.writer.as_ref().and_then(|w| w.signer.get()) {
            Some(key) => verify::Trust {
                key: Some(key.public()),
                source: "the daemon's signing key".into(),
                writer_running: true,
            },
            None => verify::Trust::default(),
        };
        self.verify_trusting(&trust).await
    }

    /// [`Store::verify`] with the signatures checked against `trust`'s public key.
    pub async fn verify_trusting(&self, trust: &verify::Trust) -> Result<VerifyReport, StoreError> {
        self.flush_checkpoints().await?;
        verify::verify(self.own(), self.checkpoint_path.as_deref(), trust).await
    }

    /// Flush the checkpoint file, then close the pool (waits for connections to be
    /// returned).
    pub async fn close(&self) {
        if let Err(e) = self.flush_checkpoints().await {
            tracing::warn!(error = %e, "checkpoint write failed at close");
        }
        self.pool.close().await;
        self.readers.close().await;
    }
}
