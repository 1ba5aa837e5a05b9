//! A ticket's workspace made from the mirror with only the files git needs.
//!
//! libgit2's clone of the mirror created about fifty files and folders per workspace:
//! nine rewrites of `.git/config` through a lock file, each loose ref and its reflog
//! through locks, `FETCH_HEAD`, the template's hooks, description and excludes. On the
//! drain benchmark, allocating those inodes (and freeing them with the workspace) was
//! most of the daemon's system CPU (issue 11). So the workspace is written directly, as
//! the clone would leave it: the objects hard-linked from the mirror (no copy, as
//! before), one `config` (`origin` is the real repository and fetches every branch; the
//! default branch tracks it), one `packed-refs` holding the mirror's branches as
//! `origin/*` and the local default branch, `HEAD`, `origin/HEAD`, then a checkout.
//! Git sees the same repository a clone makes; only the clone's own reflog entries are
//! absent (reflogs start with the first update, `core.logAllRefUpdates` is on).
//!
//! The ticket's branch is written the same way, as `git switch -c` would leave it after
//! the clone: from `origin/<branch>` when the remote has it (and then tracking it), else
//! from the default branch, with `HEAD` on it, so the one checkout is of the branch.
//! Creating it through libgit2 after the clone cost a configuration snapshot, a second
//! checkout of the same tree and three ref updates with their locks per workspace.

use std::fs;
use std::path::Path;

use git2::{Oid, Repository, build::CheckoutBuilder};

/// The mirror's default branch (where its `HEAD` points, born or not) and its branches
/// with their commits, sorted by name.
pub(super) type MirrorRefs = (String, Vec<(String, Oid)>);

/// Make `dest` (which must not exist) a clone of the mirror at `mirror_path`, whose
/// `origin` is `url`, whose branches are `refs` (as [`read_mirror`] read them), and
/// whose `HEAD` is on the local `branch` (see the module doc).
pub(super) fn clone(
    mirror_path: &Path,
    dest: &Path,
    url: &str,
    refs: &MirrorRefs,
    branch: &str,
) -> Result<Repository, git2::Error> {
    let (default, branches) = refs;
    let default = default.as_str();
    let commit_of = |name: &str| {
        branches
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, oid)| *oid)
    };
    // The branch as a new local branch would start: the remote's, tracked; else the
    // default branch's commit; unborn in an empty repository.
    let remote_branch = commit_of(branch);
    let default_commit = commit_of(default);
    let start = remote_branch.or(default_commit);
    let git = dest.join(".git");
    for dir in ["objects/pack", "refs/heads", "refs/remotes/origin"] {
        fs::create_dir_all(git.join(dir)).map_err(io)?;
    }
    link_objects(&mirror_path.join("objects"), &git.join("objects"))?;
    let mut tracked = vec![default];
    if remote_branch.is_some() && branch != default {
        tracked.push(branch);
    }
    fs::write(git.join("config"), config(url, &tracked)).map_err(io)?;
    fs::write(git.join("HEAD"), format!("ref: refs/heads/{branch}\n")).map_err(io)?;
    let mut local = vec![];
    if let Some(oid) = default_commit {
        local.push((default, oid));
    }
    if let Some(oid) = start
        && branch != default
    {
        local.push((branch, oid));
    }
    if !branches.is_empty() {
        fs::write(git.join("packed-refs"), packed_refs(branches, &local)).map_err(io)?;
    }
    if default_commit.is_some() {
        fs::write(
            git.join("refs/remotes/origin/HEAD"),
            format!("ref: refs/remotes/origin/{default}\n"),
        )
        .map_err(io)?;
    }
    let repo = Repository::open(dest)?;
    if start.is_some() {
        super::with_frozen_config(&repo, |r| {
            r.checkout_head(Some(CheckoutBuilder::new().force()))
        })?;
    }
    Ok(repo)
}

fn io(e: std::io::Error) -> git2::Error {
    git2::Error::from_str(&e.to_string())
}

/// The mirror's refs (see [`MirrorRefs`]).
pub(super) fn read_mirror(mirror: &Repository) -> Result<MirrorRefs, git2::Error> {
    let head = mirror.find_reference("HEAD")?;
    let target = head.symbolic_target().ok().flatten();
    let default = target
        .and_then(|t| t.strip_prefix("refs/heads/"))
        .unwrap_or("main")
        .to_string();
    let mut branches = vec![];
    for r in mirror.references_glob("refs/heads/*")? {
        let r = r?;
        let (Ok(name), Some(oid)) = (r.name(), r.target()) else {
            continue; // symbolic: not a branch of the remote
        };
        if let Some(short) = name.strip_prefix("refs/heads/") {
            branches.push((short.to_string(), oid));
        }
    }
    branches.sort();
    Ok((default, branches))
}

/// Hard-link every object file of the mirror (packs and any loose objects) into the
/// workspace, copying where a link is refused (another file system).
fn link_objects(from: &Path, to: &Path) -> Result<(), git2::Error> {
    for entry in fs::read_dir(from).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry.file_type().map_err(io)?;
        let loose = name.len() == 2 && name.chars().all(|c| c.is_ascii_hexdigit());
        if !kind.is_dir() || !(loose || name == "pack") {
            continue; // `info` and anything else of the mirror's own
        }
        let dir = to.join(&*name);
        for file in fs::read_dir(entry.path()).map_err(io)? {
            let file = file.map_err(io)?;
            let file_name = file.file_name();
            let f = file_name.to_string_lossy();
            // Packs, their indexes; never a half-written temporary or a lock.
            let wanted = if loose {
                f.chars().all(|c| c.is_ascii_hexdigit())
            } else {
                f.starts_with("pack-") && !f.ends_with(".lock")
            };
            if !wanted || !file.file_type().map_err(io)?.is_file() {
                continue;
            }
            if loose && !dir.exists() {
                fs::create_dir(&dir).map_err(io)?;
            }
            let target = dir.join(&*f);
            if fs::hard_link(file.path(), &target).is_err() {
                fs::copy(file.path(), &target).map_err(io)?;
            }
        }
    }
    Ok(())
}

/// A value or subsection name quoted for a git config file.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The clone's config: `origin`, and each of `tracked` (the default branch first)
/// following its namesake there.
fn config(url: &str, tracked: &[&str]) -> String {
    let mut text = format!(
        "[core]\n\
         \trepositoryformatversion = 0\n\
         \tfilemode = true\n\
         \tbare = false\n\
         \tlogallrefupdates = true\n\
         [remote \"origin\"]\n\
         \turl = {url}\n\
         \tfetch = +refs/heads/*:refs/remotes/origin/*\n",
        url = quoted(url),
    );
    for branch in tracked {
        text.push_str(&format!(
            "[branch {name}]\n\
             \tremote = origin\n\
             \tmerge = {merge}\n",
            name = quoted(branch),
            merge = quoted(&format!("refs/heads/{branch}")),
        ));
    }
    text
}

/// The mirror's branches as `origin/*`, and the `local` branches, sorted by name as
/// git's `packed-refs` wants them (branches point at commits: nothing to peel).
fn packed_refs(branches: &[(String, Oid)], local: &[(&str, Oid)]) -> String {
    let mut refs: Vec<(String, Oid)> = branches
        .iter()
        .map(|(name, oid)| (format!("refs/remotes/origin/{name}"), *oid))
        .collect();
    refs.extend(
        local
            .iter()
            .map(|(name, oid)| (format!("refs/heads/{name}"), *oid)),
    );
    refs.sort();
    let mut text = String::from("# pack-refs with: peeled fully-peeled sorted \n");
    for (name, oid) in refs {
        text.push_str(&format!("{oid} {name}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_are_quoted_for_git() {
        let text = config(r#"/srv/a "b"\c.git"#, &["main", "karajan/a \"b\""]);
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("config");
        fs::write(&path, text).expect("write");
        let cfg = git2::Config::open(&path).expect("parse");
        assert_eq!(
            cfg.get_string("remote.origin.url").expect("url"),
            r#"/srv/a "b"\c.git"#
        );
        assert_eq!(
            cfg.get_string("branch.main.merge").expect("merge"),
            "refs/heads/main"
        );
        assert!(cfg.get_bool("core.logallrefupdates").expect("reflogs"));
        assert_eq!(
            cfg.get_string(r#"branch.karajan/a "b".merge"#)
                .expect("the ticket's branch"),
            r#"refs/heads/karajan/a "b""#
        );
    }
}
