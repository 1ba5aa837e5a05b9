//! Per-ticket workspaces: a git2 clone of the workflow's repository under
//! `workspace.root/<key>`, on the ticket's branch, plus the hooks run around it.
//! Clones are made from one bare mirror of the repository (see [`mirror`]), their
//! `origin` pointing at the real repository.
//!
//! Each ticket gets its own clone so agents never share a working tree, and a clone
//! survives across runs (rework, later states) until the ticket reaches a terminal
//! state. The directory name is [`sanitize_key`] of the identifier. A clone is made in a
//! hidden temporary directory and renamed into place only once it is complete and on
//! its branch, so a crash mid-clone never leaves a half-made workspace that would later
//! be "reused". Before every run the orchestrator calls [`Workspaces::check_contained`]:
//! the workspace must resolve inside the root and must not itself be a symlink, so an
//! agent (or a hostile repository) cannot redirect the next run elsewhere.
//!
//! # Hook semantics (applied by the orchestrator)
//!
//! Hooks are run with [`run_hook`] in the workspace, with the agent's environment:
//!
//! - `after_create`: only when [`Workspaces::ensure`] actually created the clone
//!   (`Workspace::created`). A failure aborts the attempt and the fresh clone is removed,
//!   so the next attempt starts clean and runs `after_create` again.
//! - `before_run`: before every run; a failure or timeout aborts that attempt (retried
//!   with backoff like a failed run), and the agent is not started.
//! - `after_run`: after every run, whatever its outcome; a failure is recorded, not fatal.
//! - `before_remove`: before [`Workspaces::remove`]; a failure is recorded, not fatal
//!   (the clone is removed anyway).
//! - `on_stage_enter`: on each entry into a state (including re-entry on rework).
//!
//! # Errors
//!
//! [`WorkspaceError::is_retryable`] separates transient failures (network during clone,
//! I/O, a locked index) from fatal ones (path escapes, invalid branch name, a directory
//! in the way that is not a repository), which need a human.

mod branch;
mod follow;
mod frozen_config;
pub(crate) mod head;
mod hooks;
mod key;
mod lean;
pub(crate) use frozen_config::with_frozen_config;
mod mirror;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use git2::build::CheckoutBuilder;
use git2::{Branch, BranchType, ErrorCode, Repository};

pub use branch::{branch_name, branch_problem, branch_repairs, branch_warnings, is_valid_branch};
pub use hooks::{HookResult, TAIL_BYTES, run_hook};
pub use key::{MAX_KEY_BYTES, sanitize_key};
pub use mirror::FETCH_INTERVAL;

use crate::config::WorkspaceConfig;
use crate::forge::http::Access;

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// Fatal: the path resolves outside the workspace root.
    #[error("workspace {path} resolves outside the workspace root {root}")]
    Escape { path: PathBuf, root: PathBuf },
    /// Fatal: the workspace directory is a symlink.
    #[error("workspace {path} is a symlink; refusing to use it")]
    Symlink { path: PathBuf },
    /// Fatal: something that is not a git repository is in the way.
    #[error("{path} exists but is not a git repository ({source})")]
    NotARepository { path: PathBuf, source: git2::Error },
    /// Fatal: the rendered branch name is not a valid git branch name.
    #[error("invalid branch name {branch:?} for workspace {path}")]
    InvalidBranch { branch: String, path: PathBuf },
    /// Retryable (network, authentication), except when the repository does not exist
    /// or an HTTP(S) remote refused it for good (a refused token, 403/404, an untrusted
    /// certificate, SSH: the mirror reports those as `NotFound`).
    #[error("cannot clone {repo} into {path}: {source}")]
    Clone {
        repo: String,
        path: PathBuf,
        source: git2::Error,
    },
    /// Retryable only when the repository is locked; otherwise fatal.
    #[error("git failed in {path} while {action}: {source}")]
    Git {
        path: PathBuf,
        action: &'static str,
        source: git2::Error,
    },
    /// Retryable.
    #[error("I/O failed on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// Retryable: the blocking git task was lost (panic or runtime shutdown).
    #[error("workspace task failed: {0}")]
    Task(String),
}

impl WorkspaceError {
    pub fn is_retryable(&self) -> bool {
        match self {
            WorkspaceError::Escape { .. }
            | WorkspaceError::Symlink { .. }
            | WorkspaceError::NotARepository { .. }
            | WorkspaceError::InvalidBranch { .. } => false,
            WorkspaceError::Clone { source, .. } => source.code() != ErrorCode::NotFound,
            WorkspaceError::Git { source, .. } => source.code() == ErrorCode::Locked,
            WorkspaceError::Io { .. } | WorkspaceError::Task(_) => true,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WorkspaceError + '_ {
    move |source| WorkspaceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A ticket's workspace, ready for a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub path: PathBuf,
    pub branch: String,
    /// The clone was made by this call (so `after_create` must run).
    pub created: bool,
    /// The commit HEAD points at now (`None`: an unborn branch), read from the
    /// repository this call had open: a run that starts before anything else touches
    /// the workspace takes it as its starting commit without opening it again.
    pub head: Option<String>,
}

/// The set of workspaces under one root, cloned from one repository (through its
/// mirror, shared by every clone of this value).
#[derive(Debug, Clone)]
pub struct Workspaces {
    root: PathBuf,
    mirror: Arc<mirror::Mirror>,
    /// A cluster node's: reused workspaces catch up with the pushed branch (`follow`).
    follow_pushed: bool,
}

impl Workspaces {
    pub fn new(config: &WorkspaceConfig) -> Self {
        Workspaces {
            root: config.root.clone(),
            mirror: Arc::new(mirror::Mirror::new(
                &config.root,
                &config.repo,
                FETCH_INTERVAL,
                Access::default(),
            )),
            follow_pushed: false,
        }
    }

    /// The same workspaces, each reused one first catching up with its branch as last
    /// pushed (a cluster node's: see `follow`).
    pub fn following_pushed(mut self) -> Self {
        self.follow_pushed = true;
        self
    }

    /// The same workspaces with the mirror fetching `http(s)://` repositories with
    /// `access` (a token, extra TLS roots; see `forge::http::Access::for_workspace`).
    pub fn with_http(self, access: Access) -> Self {
        let repo = self.repo().to_string();
        let interval = self.mirror.interval();
        Workspaces {
            mirror: Arc::new(mirror::Mirror::new(&self.root, &repo, interval, access)),
            root: self.root,
            follow_pushed: self.follow_pushed,
        }
    }

    /// The same workspaces with the mirror fetched when its last fetch is older than
    /// `interval` (default [`FETCH_INTERVAL`]); `Duration::ZERO` fetches every time.
    pub fn with_fetch_interval(self, interval: Duration) -> Self {
        let repo = self.repo().to_string();
        Workspaces {
            mirror: Arc::new(mirror::Mirror::new(
                &self.root,
                &repo,
                interval,
                self.mirror.access().clone(),
            )),
            root: self.root,
            follow_pushed: self.follow_pushed,
        }
    }

    /// The repository the workspaces are clones of.
    pub fn repo(&self) -> &str {
        self.mirror.repo()
    }

    /// Where the bare mirror of the repository lives.
    pub fn mirror_path(&self) -> &Path {
        self.mirror.path()
    }

    /// How many times this process created or fetched the mirror.
    pub fn mirror_updates(&self) -> u64 {
        self.mirror.updates()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the workspace of `identifier` lives (whether or not it exists).
    pub fn path_for(&self, identifier: &str) -> PathBuf {
        self.root.join(sanitize_key(identifier))
    }

    /// Make sure the workspace of `identifier` exists and is on `branch`: clone when
    /// absent (`created: true`), otherwise reuse it and switch to `branch`. A new branch
    /// starts from `origin/<branch>` when the remote has it, else from the clone's HEAD.
    pub async fn ensure(
        &self,
        identifier: &str,
        branch: &str,
    ) -> Result<Workspace, WorkspaceError> {
        let this = self.clone();
        let path = self.path_for(identifier);
        let branch = branch.to_string();
        let ws = tokio::task::spawn_blocking(move || this.ensure_blocking(path, branch))
            .await
            .map_err(|e| WorkspaceError::Task(e.to_string()))??;
        self.check_contained(&ws.path)?;
        Ok(ws)
    }

    fn ensure_blocking(&self, path: PathBuf, branch: String) -> Result<Workspace, WorkspaceError> {
        if !Branch::name_is_valid(&branch).unwrap_or(false) {
            return Err(WorkspaceError::InvalidBranch { branch, path });
        }
        std::fs::create_dir_all(&self.root).map_err(io_err(&self.root))?;
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => Err(WorkspaceError::Symlink { path }),
            Ok(_) => {
                // Already on its branch, as its files say: nothing to open (an open loads
                // and snapshots the git configuration, see `head`), unless the branch
                // must first catch up with a push.
                if !self.follow_pushed
                    && let Some(head) = head::on_branch(&path, &branch)
                {
                    return Ok(Workspace {
                        head: Some(head),
                        path,
                        branch,
                        created: false,
                    });
                }
                let repo =
                    Repository::open(&path).map_err(|source| WorkspaceError::NotARepository {
                        path: path.clone(),
                        source,
                    })?;
                if self.follow_pushed {
                    match follow::catch_up(&self.mirror, &repo, &branch, &path)? {
                        follow::CatchUp::Diverged(abandoned) => {
                            tracing::warn!(workspace = %path.display(), %branch, %abandoned, "the workspace's branch diverged from the branch as last pushed (another node ran the ticket since); cloning it again");
                            drop(repo);
                            std::fs::remove_dir_all(&path).map_err(io_err(&path))?;
                            let head = self.clone_into(&path, &branch)?;
                            return Ok(Workspace {
                                path,
                                branch,
                                created: true,
                                head,
                            });
                        }
                        follow::CatchUp::Forwarded => {
                            tracing::info!(workspace = %path.display(), %branch, "the workspace caught up with the branch as last pushed");
                        }
                        follow::CatchUp::Kept => {}
                    }
                }
                checkout_branch(&repo, &branch, &path)?;
                Ok(Workspace {
                    head: head_of(&repo),
                    path,
                    branch,
                    created: false,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let head = self.clone_into(&path, &branch)?;
                Ok(Workspace {
                    path,
                    branch,
                    created: true,
                    head,
                })
            }
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Clone into a hidden sibling, switch to the branch, then rename into place.
    /// Returns the clone's HEAD commit.
    fn clone_into(&self, path: &Path, branch: &str) -> Result<Option<String>, WorkspaceError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Keys never start with '.', so this name cannot collide with a workspace.
        let tmp = self
            .root
            .join(format!(".clone-{name}-{:016x}", rand::random::<u64>()));
        let result = (|| {
            // On the branch already (see `lean`).
            let repo = self.mirror.clone_to(&tmp, path, branch)?;
            let head = head_of(&repo);
            drop(repo);
            std::fs::rename(&tmp, path).map_err(io_err(path))?;
            Ok(head)
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    /// Refuse a workspace that resolves outside the root, or that is itself a symlink.
    pub fn check_contained(&self, path: &Path) -> Result<(), WorkspaceError> {
        let meta = std::fs::symlink_metadata(path).map_err(io_err(path))?;
        if meta.file_type().is_symlink() {
            return Err(WorkspaceError::Symlink {
                path: path.to_path_buf(),
            });
        }
        let root = self.root.canonicalize().map_err(io_err(&self.root))?;
        let real = path.canonicalize().map_err(io_err(path))?;
        if real == root || !real.starts_with(&root) {
            return Err(WorkspaceError::Escape {
                path: path.to_path_buf(),
                root,
            });
        }
        Ok(())
    }

    /// Delete the workspace of `identifier` (run `before_remove` first). Returns whether
    /// there was anything to delete. A symlink in its place is unlinked, never followed.
    pub async fn remove(&self, identifier: &str) -> Result<bool, WorkspaceError> {
        let path = self.path_for(identifier);
        tokio::task::spawn_blocking(move || match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err(&path)(e)),
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path)
                .map(|()| true)
                .map_err(io_err(&path)),
            Ok(_) => std::fs::remove_file(&path)
                .map(|()| true)
                .map_err(io_err(&path)),
        })
        .await
        .map_err(|e| WorkspaceError::Task(e.to_string()))?
    }
}

/// Switch `repo` to local branch `branch`, creating it when missing.
/// The commit HEAD points at (`None`: unborn, or unreadable).
fn head_of(repo: &Repository) -> Option<String> {
    Some(repo.head().ok()?.target()?.to_string())
}

fn checkout_branch(repo: &Repository, branch: &str, path: &Path) -> Result<(), WorkspaceError> {
    let git = |action: &'static str| {
        move |source| WorkspaceError::Git {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    let refname = format!("refs/heads/{branch}");
    let on_branch = repo
        .head()
        .ok()
        .is_some_and(|h| h.name().ok() == Some(refname.as_str()));
    if on_branch {
        return Ok(());
    }
    if repo.find_branch(branch, BranchType::Local).is_err() {
        let remote = format!("origin/{branch}");
        let (start, upstream) = match repo.find_branch(&remote, BranchType::Remote) {
            Ok(b) => (
                b.get().peel_to_commit().map_err(git("reading origin"))?,
                true,
            ),
            Err(_) => match repo.head() {
                Ok(head) => (head.peel_to_commit().map_err(git("reading HEAD"))?, false),
                // An empty repository: the branch is born with the first commit.
                Err(e) if e.code() == ErrorCode::UnbornBranch => {
                    return repo.set_head(&refname).map_err(git("setting HEAD"));
                }
                Err(e) => return Err(git("reading HEAD")(e)),
            },
        };
        let mut created = repo
            .branch(branch, &start, false)
            .map_err(git("creating the branch"))?;
        if upstream {
            created
                .set_upstream(Some(&remote))
                .map_err(git("setting the upstream"))?;
        }
    }
    let target = repo
        .revparse_single(&refname)
        .map_err(git("resolving the branch"))?;
    with_frozen_config(repo, |r| {
        r.checkout_tree(&target, Some(CheckoutBuilder::new().safe()))
    })
    .map_err(git("checking out the branch"))?;
    repo.set_head(&refname).map_err(git("setting HEAD"))
}
