//! A cluster node's reused workspace catches up with the ticket's branch as last pushed.
//!
//! In a cluster (`store.cluster: true`) a ticket's runs may move between nodes: the
//! node holding the lease runs them, and the holder changes on failover. A node that
//! holds the lease again later still has the workspaces of its earlier term, whose
//! branches may be behind what another node pushed since (the forge pushes each
//! ticket's branch after each successful run). Reusing such a workspace as it is would
//! give the agent an old tree, and its push would be refused (never forced).
//!
//! So, in a cluster, before a workspace is reused, the repository's mirror is brought up
//! to date (a new term's first use always fetches) and the ticket's branch is compared
//! with the mirror's:
//! - the same, or only local commits on top of it (not pushed yet): kept as it is;
//! - the pushed branch is ahead: the local branch is fast-forwarded to it and checked
//!   out (leftover changes of a run another node has since redone are discarded);
//! - they diverged (the local commits were abandoned when another node ran the ticket
//!   from the pushed branch): the workspace is removed and cloned again, on the pushed
//!   branch, and `created` is true (so `after_create` runs), with a warning naming the
//!   abandoned commit.
//!
//! A single daemon never does this: its workspaces are the only ones.

use std::path::Path;

use git2::build::CheckoutBuilder;
use git2::{BranchType, Oid, Repository};

use super::WorkspaceError;
use super::mirror::Mirror;

/// What became of a reused workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CatchUp {
    /// Nothing to do (no pushed branch, the same commit, or local commits on top).
    Kept,
    /// Fast-forwarded to the pushed branch.
    Forwarded,
    /// Diverged from the pushed branch: the caller clones it again.
    Diverged(Oid),
}

pub(super) fn catch_up(
    mirror: &Mirror,
    repo: &Repository,
    branch: &str,
    path: &Path,
) -> Result<CatchUp, WorkspaceError> {
    let git = |action: &'static str| {
        move |source| WorkspaceError::Git {
            path: path.to_path_buf(),
            action,
            source,
        }
    };
    // The mirror's branches as its last fetch left them (no need to open it).
    let refs = mirror.refresh(path)?;
    let pushed = refs
        .1
        .iter()
        .find(|(n, _)| n == branch)
        .map(|(_, oid)| *oid);
    let Some(pushed) = pushed else {
        return Ok(CatchUp::Kept);
    };
    let local = repo
        .find_branch(branch, BranchType::Local)
        .ok()
        .and_then(|b| b.get().target());
    if local == Some(pushed) {
        return Ok(CatchUp::Kept);
    }
    // The pushed commits, from the mirror (local, cheap), as origin/<branch>.
    let from = mirror.path().to_string_lossy().into_owned();
    repo.remote_anonymous(&from)
        .and_then(|mut r| {
            r.fetch(
                &[format!("+refs/heads/{branch}:refs/remotes/origin/{branch}")],
                None,
                None,
            )
        })
        .map_err(git("fetching the pushed branch from the mirror"))?;
    let Some(local) = local else {
        // No local branch yet: it is created from origin/<branch>, now up to date.
        return Ok(CatchUp::Kept);
    };
    if repo
        .graph_descendant_of(local, pushed)
        .map_err(git("comparing with the pushed branch"))?
    {
        return Ok(CatchUp::Kept);
    }
    if !repo
        .graph_descendant_of(pushed, local)
        .map_err(git("comparing with the pushed branch"))?
    {
        return Ok(CatchUp::Diverged(local));
    }
    let refname = format!("refs/heads/{branch}");
    repo.reference(&refname, pushed, true, "karajan: the branch as last pushed")
        .map_err(git("fast-forwarding the branch"))?;
    let on_branch = repo
        .head()
        .ok()
        .is_some_and(|h| h.name().ok() == Some(refname.as_str()));
    if on_branch {
        let target = repo
            .find_object(pushed, None)
            .map_err(git("reading the pushed commit"))?;
        repo.checkout_tree(&target, Some(CheckoutBuilder::new().force()))
            .map_err(git("checking out the pushed branch"))?;
        repo.set_head(&refname).map_err(git("setting HEAD"))?;
    }
    Ok(CatchUp::Forwarded)
}
