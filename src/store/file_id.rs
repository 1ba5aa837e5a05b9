//! Noticing that the database file was removed or replaced under a running writer.
//!
//! SQLite keeps writing into the file it opened, even after that file was unlinked or
//! another file was renamed over its path: every event recorded from then on would go
//! into a dead file, and the next start would begin on an empty (or foreign) store
//! without a word. So a writable store remembers the identity (device, inode) of the
//! database file it opened, and checks that its path still names that file before each
//! append and on a cheap periodic check (see `cli::run`); a mismatch is a
//! [`StoreError::Replaced`] that stops the daemon with a clear error.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Store, StoreError};

/// How often a running daemon checks its database file when it is not appending.
pub(crate) const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Check `store`'s database file every [`WATCH_EVERY`] until `shutdown`; when it was
/// removed or replaced, log it, keep the error in the returned cell and cancel
/// `shutdown` (the daemon then stops its agents and exits 1).
pub(crate) fn watch(store: Store, shutdown: CancellationToken) -> Arc<OnceLock<String>> {
    let lost = Arc::new(OnceLock::new());
    let cell = lost.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(WATCH_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = every.tick() => {}
            }
            if let Err(e @ StoreError::Replaced { .. }) = store.check_file() {
                tracing::error!(error = %e, "the store's database file is gone; stopping");
                let _ = cell.set(e.to_string());
                shutdown.cancel();
                return;
            }
        }
    });
    lost
}

/// The identity of the database file a store opened. The pool's connections keep that
/// file open, so its inode number cannot be handed to a new file meanwhile. (No extra
/// descriptor is kept here: closing any descriptor of a file drops the process's POSIX
/// locks on it, which SQLite relies on.)
#[derive(Debug, Clone)]
pub(crate) struct FileId {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of the file at `path` now.
    pub(crate) fn of(path: &Path) -> Result<FileId, StoreError> {
        let meta = std::fs::metadata(path).map_err(|source| StoreError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(FileId {
            path: path.to_path_buf(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// The database path, for messages.
    pub(crate) fn path(&self) -> String {
        self.path.display().to_string()
    }

    /// `Err` when the path no longer names the file that was opened.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        let what = match std::fs::metadata(&self.path) {
            Ok(meta) if meta.dev() == self.dev && meta.ino() == self.ino => return Ok(()),
            Ok(_) => "was replaced by another file",
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "was removed",
            Err(source) => {
                return Err(StoreError::Io {
                    path: self.path.display().to_string(),
                    source,
                });
            }
        };
        Err(StoreError::Replaced {
            path: self.path.display().to_string(),
            what: what.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_and_replacement_are_noticed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("karajan.db");
        std::fs::write(&db, "a").expect("write");
        let id = FileId::of(&db).expect("id");
        // SQLite keeps the file open, so its inode cannot be reused while we compare.
        let _held = std::fs::File::open(&db).expect("open");
        id.check().expect("same file");
        // Rewriting in place keeps the inode: still the same file.
        std::fs::write(&db, "b").expect("rewrite");
        id.check().expect("same inode");
        std::fs::remove_file(&db).expect("remove");
        let err = id.check().expect_err("removed");
        assert!(err.to_string().contains("was removed"), "{err}");
        let other = dir.path().join("other.db");
        std::fs::write(&other, "c").expect("write");
        std::fs::rename(&other, &db).expect("rename over");
        let err = id.check().expect_err("replaced");
        assert!(err.to_string().contains("replaced"), "{err}");
    }
}
