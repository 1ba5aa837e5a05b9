//! One writer per store: an exclusive OS file lock beside the database.
//!
//! Two daemons on one store would each take the other's live agents for orphans, kill
//! and re-run them, and record the same run as finished twice; two daemons started
//! together on a fresh store race on the migrations. So every command that writes the
//! store (`run`, including `--once`, and `recover`) first takes an exclusive `flock(2)`
//! on `<db>.lock` (e.g. `.karajan/karajan.db.lock`), *before* the database is opened or
//! migrated, and holds it for its whole life.
//!
//! - The kernel releases the lock when the holder dies, SIGKILL included: a stale lock
//!   file never blocks a restart (its content is only read while someone holds it).
//! - The file is opened close-on-exec (Rust's default), so agents never inherit the lock
//!   and an orphaned agent cannot keep a dead daemon's store locked.
//! - After locking, the holder writes who it is (`pid`, `host`, `since`), so a refused
//!   second writer can name the running daemon.
//! - Read-only verbs (`status`, `history`, `verify`, `dashboard`, `--dry-run`) never
//!   take the lock: they keep working beside a running daemon.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// How long a refused writer waits for the holder to write its details (the holder
/// writes them right after locking; two processes started together may look between).
const DETAILS_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another karajan is already writing this store ({holder}); stop it first, or use \
         a read-only command (`status`, `history`, `verify`, `dashboard`). Lock: {path}"
    )]
    Held {
        /// The lock file, or the Postgres advisory lock (see `pg_lock`).
        path: String,
        holder: String,
    },
    #[error("cannot take the {place}: {error}")]
    Db { place: String, error: String },
    #[error("cannot lock the store with {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The held lock; dropping it (or dying) releases it.
#[derive(Debug)]
pub struct StoreLock {
    path: PathBuf,
    _lock: Flock<File>,
}

impl StoreLock {
    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `<db>.lock`: the lock file of the store at `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// [`acquire`], but only when the store's folder already exists (`Ok(None)` otherwise):
/// a daemon refuses a second start at once, before any tracker call, yet a start that
/// fails its checks on a fresh folder creates nothing. The caller then takes the lock
/// with [`acquire`] once it creates the folder, still before the store is opened.
pub fn acquire_existing(db: &Path) -> Result<Option<StoreLock>, LockError> {
    match lock_path(db).parent() {
        Some(dir) if dir.as_os_str().is_empty() || dir.is_dir() => acquire(db).map(Some),
        _ => Ok(None),
    }
}

/// Take the store's lock without waiting. `LockError::Held` names the holder.
pub fn acquire(db: &Path) -> Result<StoreLock, LockError> {
    let path = lock_path(db);
    let io = |source: std::io::Error| LockError::Io {
        path: path.display().to_string(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    // Never truncate before holding the lock: the holder's details are in there.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((_, Errno::EWOULDBLOCK)) => {
            return Err(LockError::Held {
                holder: holder_details(&path),
                path: path.display().to_string(),
            });
        }
        Err((_, errno)) => return Err(io(std::io::Error::from(errno))),
    };
    let details = format!(
        "pid {}\nhost {}\nsince {}\n",
        std::process::id(),
        hostname(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let write = |f: &mut File| -> std::io::Result<()> {
        f.set_len(0)?;
        f.seek(SeekFrom::Start(0))?;
        f.write_all(details.as_bytes())?;
        f.sync_all()
    };
    write(&mut lock).map_err(io)?;
    Ok(StoreLock { path, _lock: lock })
}

/// "pid 12, host box, since 2026-01-01T00:00:00Z", read from a held lock file.
fn holder_details(path: &Path) -> String {
    let started = Instant::now();
    loop {
        let mut text = String::new();
        let read = File::open(path).and_then(|mut f| f.read_to_string(&mut text));
        if read.is_ok() && text.contains("since ") {
            return describe(&text);
        }
        if started.elapsed() > DETAILS_WAIT {
            return "its pid, host and start time are not recorded yet".into();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn describe(text: &str) -> String {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).map(str::trim))
            .unwrap_or("?")
            .to_string()
    };
    format!(
        "pid {}, host {}, since {}",
        field("pid "),
        field("host "),
        field("since ")
    )
}

pub(crate) fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .map(|h| h.to_string_lossy().into_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_names_the_holder_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("sub/karajan.db");
        let first = acquire(&db).expect("first lock");
        assert_eq!(first.path(), dir.path().join("sub/karajan.db.lock"));
        // flock locks belong to the open file description: a second open in the same
        // process conflicts as a second process would.
        let err = acquire(&db).expect_err("second lock refused");
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert!(
            text.contains("host ") && text.contains("since 20"),
            "{text}"
        );
        drop(first);
        let again = acquire(&db).expect("released on drop");
        drop(again);
    }

    #[test]
    fn acquire_existing_creates_no_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("fresh/karajan.db");
        assert!(acquire_existing(&db).expect("no error").is_none());
        assert!(!dir.path().join("fresh").exists());
        std::fs::create_dir(dir.path().join("fresh")).expect("mkdir");
        let held = acquire_existing(&db).expect("locks").expect("held");
        assert!(acquire_existing(&db).is_err());
        drop(held);
    }
}
