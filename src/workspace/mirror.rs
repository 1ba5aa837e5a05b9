//! One bare mirror per repository, from which every ticket's workspace is cloned.
//!
//! Cloning the real repository for every ticket costs a full network transfer (and
//! about 1,340 system calls for a small one) per ticket. Instead the workflow's
//! repository is mirrored once under the workspace root, in
//! `.mirrors/<key>.git` (`<key>` is [`super::sanitize_key`] of the repository URL; keys
//! never start with `.`, so the folder cannot collide with a workspace), with its
//! branches as its own `refs/heads/*` and its `HEAD` on the remote's default branch.
//! A workspace is a clone of the mirror (the object files hard-linked, so it shares
//! their storage but not their lifetime: removing a workspace never touches the
//! mirror, and a mirror that was deleted only costs a new fetch), whose `origin` is the
//! real repository: the agent, the hooks and a later push see a normal clone of the
//! real origin, exactly as before. It is written directly rather than by libgit2's
//! clone, with a tenth of the files (see `lean`).
//!
//! The mirror is fetched when a workspace is about to be created and the last fetch is
//! older than the fetch interval (a few seconds: once per tick at most). One lock per
//! [`Mirror`] orders the work: a fetch holds it exclusively, so creators arriving
//! together wait for one fetch and then share it; clones from the mirror hold it shared,
//! so a fetch never changes the mirror under a clone that is reading it.
//!
//! An `http(s)://` repository is fetched through karajan's git transport
//! (`forge::http`) with the mirror's [`Access`]: the platform's TLS roots plus
//! `forge.ca_file`, and the forge's token when the forge is GitHub on the repository's
//! host (a private repository). SSH repositories cannot be reached (no SSH transport).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use git2::{Direction, FetchOptions, FetchPrune, Repository};

use super::WorkspaceError;
use super::lean::{MirrorRefs, read_mirror};
use crate::forge::http::{self, Access};

/// How long a fetch of the mirror counts as fresh.
pub const FETCH_INTERVAL: Duration = Duration::from_secs(5);

/// The mirror's branches are the remote's branches.
const REFSPEC: &str = "+refs/heads/*:refs/heads/*";

/// The last fetch of the mirror: when, and the branches it left. Only a fetch changes
/// the mirror's refs, so every clone until the next one takes them from here instead
/// of opening the mirror again (an open reads and stats every git config file).
#[derive(Debug)]
struct Fetched {
    at: Instant,
    refs: Arc<MirrorRefs>,
}

/// The mirror of one repository, shared by every clone of a `Workspaces`.
#[derive(Debug)]
pub(crate) struct Mirror {
    repo: String,
    path: PathBuf,
    interval: Duration,
    /// When the mirror was last fetched, and its branches as that fetch left them
    /// (`None`: not yet by this process).
    fetched: RwLock<Option<Fetched>>,
    /// Creations and fetches of the mirror made so far.
    updates: AtomicU64,
    /// What a fetch over HTTP(S) presents.
    access: Access,
}

impl Mirror {
    pub(crate) fn new(root: &Path, repo: &str, interval: Duration, access: Access) -> Mirror {
        Mirror {
            access,
            repo: repo.to_string(),
            path: root
                .join(".mirrors")
                .join(format!("{}.git", super::sanitize_key(repo))),
            interval,
            fetched: RwLock::new(None),
            updates: AtomicU64::new(0),
        }
    }

    pub(crate) fn repo(&self) -> &str {
        &self.repo
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    pub(crate) fn access(&self) -> &Access {
        &self.access
    }

    pub(crate) fn updates(&self) -> u64 {
        self.updates.load(Ordering::Relaxed)
    }

    fn clone_error(&self, path: &Path) -> impl FnOnce(git2::Error) -> WorkspaceError + '_ {
        let path = path.to_path_buf();
        move |source| WorkspaceError::Clone {
            repo: self.repo.clone(),
            path,
            source,
        }
    }

    /// Clone the repository into `dest` (which must not exist) through the mirror,
    /// bringing the mirror up to date first unless it was fetched within the interval.
    /// `dest`'s `origin` is the real repository. Errors name `shown` (the workspace).
    pub(crate) fn clone_to(
        &self,
        dest: &Path,
        shown: &Path,
        branch: &str,
    ) -> Result<Repository, WorkspaceError> {
        let refreshed = self.refresh(shown)?;
        let reading = self
            .fetched
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A fetch made since `refresh` returned left newer refs: the mirror holds those.
        let refs = reading.as_ref().map_or(refreshed, |f| f.refs.clone());
        super::lean::clone(&self.path, dest, &self.repo, &refs, branch)
            .map_err(self.clone_error(shown))
    }

    /// Create or fetch the mirror unless a fetch is fresh (see the module doc); returns
    /// the mirror's refs as that fetch left them.
    pub(crate) fn refresh(&self, dest: &Path) -> Result<Arc<MirrorRefs>, WorkspaceError> {
        let mut fetched = self
            .fetched
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(f) = fetched.as_ref()
            && f.at.elapsed() < self.interval
            && self.path.exists()
        {
            return Ok(f.refs.clone());
        }
        let refs = match Repository::open_bare(&self.path) {
            Ok(mirror) => self
                .fetch(&mirror)
                .and_then(|()| read_mirror(&mirror))
                .map_err(self.clone_error(dest))?,
            Err(_) => {
                // Missing (or broken: made again from scratch).
                if self.path.exists() {
                    tracing::warn!(path = %self.path.display(), "the repository mirror is unreadable; making it again");
                    std::fs::remove_dir_all(&self.path).map_err(super::io_err(&self.path))?;
                }
                self.create().map_err(self.clone_error(dest))?
            }
        };
        self.updates.fetch_add(1, Ordering::Relaxed);
        let refs = Arc::new(refs);
        *fetched = Some(Fetched {
            at: Instant::now(),
            refs: refs.clone(),
        });
        Ok(refs)
    }

    /// The mirror, made and fetched aside and renamed into place only when complete, so
    /// a failed first fetch (a wrong URL, the network) leaves nothing behind.
    /// Returns the branches it fetched.
    fn create(&self) -> Result<MirrorRefs, git2::Error> {
        let io = |e: std::io::Error| git2::Error::from_str(&e.to_string());
        let parent = self.path.parent().unwrap_or(&self.path);
        std::fs::create_dir_all(parent).map_err(io)?;
        let tmp = parent.join(format!(".new-{:016x}", rand::random::<u64>()));
        let made = (|| {
            let m = Repository::init_bare(&tmp)?;
            m.remote_with_fetch("origin", &self.repo, REFSPEC)?;
            self.fetch(&m)?;
            let refs = read_mirror(&m)?;
            drop(m);
            std::fs::rename(&tmp, &self.path).map_err(io)?;
            Ok(refs)
        })();
        if made.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
            // Another `Workspaces` (the one before a reload) made it meanwhile.
            if let Ok(refs) = Repository::open_bare(&self.path).and_then(|m| read_mirror(&m)) {
                return Ok(refs);
            }
        }
        made
    }

    /// Fetch every branch (pruning deleted ones) and follow the remote's default branch.
    /// A failure the HTTP transport saw replaces libgit2's bare network error, keeping
    /// its retryability (`WorkspaceError::is_retryable`: only `NotFound` is final).
    fn fetch(&self, mirror: &Repository) -> Result<(), git2::Error> {
        let (fetched, failure) = http::run(&self.access, || self.fetch_all(mirror));
        fetched.map_err(|e| match failure {
            Some(f) => git2::Error::new(
                if f.is_transient() {
                    e.code()
                } else {
                    git2::ErrorCode::NotFound
                },
                e.class(),
                f.to_string(),
            ),
            None if e.message().contains("unsupported URL protocol")
                && crate::forge::is_ssh(&self.repo) =>
            {
                git2::Error::new(
                    git2::ErrorCode::NotFound,
                    e.class(),
                    format!(
                        "{}: karajan has no SSH transport; use the repository's https:// URL",
                        e.message()
                    ),
                )
            }
            None => e,
        })
    }

    fn fetch_all(&self, mirror: &Repository) -> Result<(), git2::Error> {
        let mut remote = mirror.find_remote("origin")?;
        remote.connect(Direction::Fetch)?;
        let head = remote
            .default_branch()
            .ok()
            .and_then(|b| b.as_str().ok().map(str::to_string));
        let mut opts = FetchOptions::new();
        opts.prune(FetchPrune::On);
        remote.fetch(&[REFSPEC], Some(&mut opts), None)?;
        if let Some(head) = head {
            mirror.set_head(&head)?;
        }
        Ok(())
    }
}
