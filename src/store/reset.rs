//! A store that vanished or went back in time is noticed at start.
//!
//! The checkpoint file (see `checkpoint`) vouches for the head the store last had. A
//! writer that starts on a database that is missing, shorter than that head, or holds
//! another hash at the head's seq would otherwise carry on as if nothing happened: a
//! deleted store would start fresh and re-run every ticket, a restored old backup would
//! silently forget what happened since. So [`open_checked`] compares first and refuses
//! ([`OpenError::Refused`], which names both heads and the way out).
//!
//! Accepting such a store is a deliberate act (`karajan run --accept-store-reset`, or
//! `karajan recover`, whose purpose is rebuilding a lost store): the old checkpoint file
//! is kept as evidence, renamed to `<checkpoints>.reset-<UTC time>`, and a new one
//! starts from the store's own head, so `verify` judges the accepted store on its own.
//! When the database file itself is missing, a `-wal`/`-shm` it left behind is set
//! aside the same way (SQLite must not replay the lost database's log into a new one).
//! A PostgreSQL store is compared the same way; its database is never "missing" (an
//! empty one is migrated, then found behind the checkpoint).

use std::path::{Path, PathBuf};

use super::chain::Hash;
use super::checkpoint::{self, Checkpoints};
use super::{Location, Store, StoreError};

/// Why a start was refused: the store is behind its checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The store, as shown (a path, or the Postgres server and database).
    pub db: String,
    pub checkpoints: PathBuf,
    /// `None` when the database file does not exist.
    pub store_head: Option<(i64, String)>,
    pub checkpoint_head: (i64, String),
    /// "is missing", "is behind its checkpoint", …
    pub problem: &'static str,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let store = match &self.store_head {
            None => "no database file".to_string(),
            Some((seq, hash)) => format!("head seq {seq} (hash {hash})"),
        };
        write!(
            f,
            "the store {} {}: it has {store}, but the checkpoint file {} records head seq \
             {} (hash {}). The database was deleted, replaced or cut back since karajan \
             last wrote it, and starting would silently forget what happened. Restore the \
             database from a backup, or accept the store as it is with \
             `karajan run --accept-store-reset` (the old checkpoint file is kept as \
             {}.reset-<time> and a new one starts)",
            self.db,
            self.problem,
            self.checkpoints.display(),
            self.checkpoint_head.0,
            self.checkpoint_head.1,
            self.checkpoints.display(),
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Refused(Box<Refusal>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`open_checked`] did besides opening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// The store is at or ahead of its checkpoint (or there is none).
    Consistent,
    /// The store was behind and `accept` was given: the old checkpoint file now lives at
    /// this path.
    Accepted {
        refusal: Box<Refusal>,
        kept: PathBuf,
    },
}

/// Open the store for a writer after comparing it with its checkpoint file. With
/// `accept`, a store behind its checkpoint is accepted (see the module doc); without,
/// it is refused and nothing is created or written.
pub async fn open_checked(
    db: &Path,
    checkpoints: &Path,
    accept: bool,
) -> Result<(Store, Opened), OpenError> {
    open_checked_at(&Location::Sqlite(db.to_path_buf()), checkpoints, accept).await
}

/// [`open_checked`] on either engine. A Postgres database is never "missing" (the
/// server creates nothing): an empty one is migrated and compared like any other.
pub async fn open_checked_at(
    location: &Location,
    checkpoints: &Path,
    accept: bool,
) -> Result<(Store, Opened), OpenError> {
    let recorded = checkpoint::load(checkpoints)?;
    if recorded.head.0 == 0 {
        return Ok((
            Store::open_at(location, checkpoints).await?,
            Opened::Consistent,
        ));
    }
    let db = location.to_string();
    let file = location.sqlite_path();
    let refusal = if file.is_none_or(Path::exists) {
        let store = Store::open_at(location, checkpoints).await?;
        match compare(&store, &recorded).await? {
            None => return Ok((store, Opened::Consistent)),
            Some((store_head, problem)) => {
                store.close().await;
                refusal(&db, checkpoints, &recorded, Some(store_head), problem)
            }
        }
    } else {
        refusal(&db, checkpoints, &recorded, None, "is missing")
    };
    if !accept {
        return Err(OpenError::Refused(Box::new(refusal)));
    }
    let kept = keep_aside(checkpoints)?;
    if let (None, Some(db)) = (&refusal.store_head, file) {
        // A `-wal` left by the lost database must not be replayed into the new one.
        for suffix in ["-wal", "-shm"] {
            let mut side = db.as_os_str().to_owned();
            side.push(suffix);
            let side = PathBuf::from(side);
            if side.exists() {
                keep_aside(&side)?;
            }
        }
    }
    tracing::warn!(
        db = %db,
        kept = %kept.display(),
        "accepting a store behind its checkpoint as asked; the old checkpoint file is kept"
    );
    let store = Store::open_at(location, checkpoints).await?;
    Ok((
        store,
        Opened::Accepted {
            refusal: Box::new(refusal),
            kept,
        },
    ))
}

fn refusal(
    db: &str,
    checkpoints: &Path,
    recorded: &Checkpoints,
    store_head: Option<(i64, String)>,
    problem: &'static str,
) -> Refusal {
    Refusal {
        db: db.to_string(),
        checkpoints: checkpoints.to_path_buf(),
        store_head,
        checkpoint_head: (recorded.head.0, hex::encode(recorded.head.1)),
        problem,
    }
}

/// `None` when the store holds the recorded head; else its own head and the problem.
async fn compare(
    store: &Store,
    recorded: &Checkpoints,
) -> Result<Option<((i64, String), &'static str)>, StoreError> {
    let head = store.head().await?;
    let (seq, hash) = recorded.head;
    if head.0 < seq {
        return Ok(Some((head, "is behind its checkpoint")));
    }
    let at: Option<Vec<u8>> = super::backend::on_pool!(&store.pool, |p| {
        sqlx::query_scalar("SELECT hash FROM events WHERE seq = $1")
            .bind(seq)
            .fetch_optional(p)
            .await?
    });
    let same = at.is_some_and(|h| <[u8]>::eq(&h, &hash as &Hash));
    Ok((!same).then_some((head, "holds another history than its checkpoint")))
}

/// Rename `file` to `<file>.reset-<UTC time>` (never over another file).
fn keep_aside(file: &Path) -> Result<PathBuf, StoreError> {
    let checkpoints = file;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let base = format!("{}.reset-{stamp}", checkpoints.display());
    let mut kept = PathBuf::from(&base);
    let mut n = 1;
    while kept.exists() {
        n += 1;
        kept = PathBuf::from(format!("{base}-{n}"));
    }
    std::fs::rename(checkpoints, &kept).map_err(|source| StoreError::Io {
        path: checkpoints.display().to_string(),
        source,
    })?;
    Ok(kept)
}
