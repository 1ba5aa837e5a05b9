//! Where code lands: the push of a ticket's branch to the workflow's `forge:` (see
//! `config::forge` for the section), and the check that a workspace holds nothing
//! unpushed before it is removed.
//!
//! Pushes go through git2 from the ticket's workspace, fast-forward only: the refspec
//! never carries `+`, so a branch someone else moved meanwhile is refused
//! ([`PushError::Rejected`], with git's reason) instead of overwritten. A push is an
//! outbox intent like a tracker write (`IntentOp::Push`, performed by the ticket's
//! chain); a retried one first reads the remote back ([`Forge::remote_tip`]) so that a
//! push that landed before a crash is confirmed, not repeated.
//!
//! `http://` and `https://` remotes go through karajan's own git transport over reqwest
//! and rustls ([`http`]; git2 is built without OpenSSL). A token (`kind: github`) is
//! sent by that transport as the password of `x-access-token` (GitHub's convention for
//! HTTPS with a token); it is never part of a URL, an event or a log line. SSH remotes
//! (`ssh://`, `git@host:path`) are not supported: there is no SSH transport.
//!
//! Pull requests ([`GithubApi`], `kind: github`): one per ticket, found by its head
//! branch, opened or updated after the push of a state with `pull_request: open`.
//!
//! [`status`]: what a gate with `checks:` or `reviews:` reads of the pull request.
//!
//! [`access`]: the read-only check `karajan check` and `run --dry-run` make of the
//! forge (the repository, the token's push permission, the base branch).

pub mod access;
mod git;
mod github;
pub mod http;
pub mod review_post;
mod status;

use std::path::{Path, PathBuf};

use crate::config::ForgeConfig;

pub use git::Unpushed;
pub(crate) use git::is_ssh;
pub use github::{GithubApi, MergeAnswer, PullRequest, PullRequestDraft};
pub use status::{Check, Checks, LineComment, PrStatus, Review, ReviewState, Rollup};

/// Why a push (or a read of the remote) failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PushError {
    /// The remote refused the update (non-fast-forward: someone pushed to the branch
    /// meanwhile; a protected branch; a hook): never retried, never forced.
    #[error("push rejected: {0}")]
    Rejected(String),
    /// Network, I/O, a locked repository: worth trying again.
    #[error("push failed (transient): {0}")]
    Transient(String),
    /// Authentication refused, the workspace or the commit gone, a remote that does not
    /// exist: trying again will not help.
    #[error("push failed: {0}")]
    Fatal(String),
}

impl PushError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, PushError::Transient(_))
    }
}

/// The workflow's forge, ready to push.
#[derive(Debug, Clone)]
pub struct Forge {
    remote: String,
    access: http::Access,
    /// The pull-request API (`kind: github`); `Err`: its client could not be built.
    github: Option<Result<GithubApi, String>>,
}

impl Forge {
    pub fn new(config: &ForgeConfig) -> Self {
        Self::sharing(config, None)
    }

    /// As [`Forge::new`], over a GitHub tracker's HTTP layer where it serves the same
    /// API with the same token (one rate-limit budget for tracker and forge).
    pub fn sharing(
        config: &ForgeConfig,
        tracker_http: Option<std::sync::Arc<crate::tracker::github::http::GithubHttp>>,
    ) -> Self {
        Forge {
            remote: config.remote.clone(),
            access: http::Access::new(config.token().cloned(), config.ca_file.as_deref()),
            github: config.github().map(|g| {
                GithubApi::sharing(g, config.ca_file.as_deref(), tracker_http)
                    .map_err(|e| e.to_string())
            }),
        }
    }

    /// The pull-request API, or why there is none.
    pub fn github(&self) -> Result<&GithubApi, String> {
        match &self.github {
            None => Err("the forge is not GitHub (`forge.kind: git` has no pull requests)".into()),
            Some(Err(e)) => Err(e.clone()),
            Some(Ok(api)) => Ok(api),
        }
    }

    /// Where branches go (a URL or a local path), as intents record it.
    pub fn remote(&self) -> &str {
        &self.remote
    }

    /// Push `commit` of the repository at `workspace` to `refs/heads/<branch>` of
    /// `remote`, fast-forward only.
    pub async fn push(
        &self,
        workspace: &Path,
        remote: &str,
        branch: &str,
        commit: &str,
    ) -> Result<(), PushError> {
        let job = git::Job::new(workspace, remote, self.access.clone());
        let (branch, commit) = (branch.to_string(), commit.to_string());
        blocking(move || job.push(&branch, &commit)).await
    }

    /// The commit `refs/heads/<branch>` points at on `remote` (`None`: no such branch).
    pub async fn remote_tip(
        &self,
        workspace: &Path,
        remote: &str,
        branch: &str,
    ) -> Result<Option<String>, PushError> {
        let job = git::Job::new(workspace, remote, self.access.clone());
        let branch = branch.to_string();
        blocking(move || job.remote_tip(&branch)).await
    }

    /// What of the workspace's branch is on neither the forge nor the repository it
    /// was cloned from (`None`: nothing; the workspace can go).
    pub async fn unpushed(&self, workspace: &Path) -> Result<Option<Unpushed>, PushError> {
        let job = git::Job::new(workspace, &self.remote, self.access.clone());
        blocking(move || job.unpushed()).await
    }
}

/// The workspace's HEAD commit, if it has one (for the run's events).
pub async fn head_of(workspace: PathBuf) -> Option<String> {
    tokio::task::spawn_blocking(move || git::head(&workspace))
        .await
        .ok()
        .flatten()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PushError> + Send + 'static,
) -> Result<T, PushError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PushError::Transient(format!("push task failed: {e}")))?
}
