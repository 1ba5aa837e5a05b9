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

use std::fs;
use std::path::Path;

use git2::{Oid, Repository, build::CheckoutBuilder};

/// Make `dest` (which must not exist) a clone of the mirror at `mirror_path`, whose
/// `origin` is `url`.
pub(super) fn clone(mirror_path: &Path, dest: &Path, url: &str) -> Result<Repository, git2::Error> {
    let mirror = Repository::open_bare(mirror_path)?;
    let (default, branches) = read_mirror(&mirror)?;
    drop(mirror);
    let git = dest.join(".git");
    for dir in ["objects/pack", "refs/heads", "refs/remotes/origin"] {
        fs::create_dir_all(git.join(dir)).map_err(io)?;
    }
    link_objects(&mirror_path.join("objects"), &git.join("objects"))?;
    fs::write(git.join("config"), config(url, &default)).map_err(io)?;
    fs::write(git.join("HEAD"), format!("ref: refs/heads/{default}\n")).map_err(io)?;
    let born = branches.iter().any(|(name, _)| *name == default);
    if !branches.is_empty() {
        fs::write(git.join("packed-refs"), packed_refs(&default, &branches)).map_err(io)?;
    }
    if born {
        fs::write(
            git.join("refs/remotes/origin/HEAD"),
            format!("ref: refs/remotes/origin/{default}\n"),
        )
        .map_err(io)?;
    }
    let repo = Repository::open(dest)?;
    if born {
        super::with_frozen_config(&repo, |r| {
            r.checkout_head(Some(CheckoutBuilder::new().force()))
        })?;
    }
    Ok(repo)
}

fn io(e: std::io::Error) -> git2::Error {
    git2::Error::from_str(&e.to_string())
}

/// The mirror's default branch (where its `HEAD` points, born or not) and its branches
/// with their commits, sorted by name.
fn read_mirror(mirror: &Repository) -> Result<(String, Vec<(String, Oid)>), git2::Error> {
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

fn config(url: &str, default: &str) -> String {
    format!(
        "[core]\n\
         \trepositoryformatversion = 0\n\
         \tfilemode = true\n\
         \tbare = false\n\
         \tlogallrefupdates = true\n\
         [remote \"origin\"]\n\
         \turl = {url}\n\
         \tfetch = +refs/heads/*:refs/remotes/origin/*\n\
         [branch {branch}]\n\
         \tremote = origin\n\
         \tmerge = {merge}\n",
        url = quoted(url),
        branch = quoted(default),
        merge = quoted(&format!("refs/heads/{default}")),
    )
}

/// The mirror's branches as `origin/*`, and the local default branch, sorted by name
/// as git's `packed-refs` wants them (branches point at commits: nothing to peel).
fn packed_refs(default: &str, branches: &[(String, Oid)]) -> String {
    let mut refs: Vec<(String, Oid)> = branches
        .iter()
        .map(|(name, oid)| (format!("refs/remotes/origin/{name}"), *oid))
        .collect();
    if let Some((_, oid)) = branches.iter().find(|(name, _)| name == default) {
        refs.push((format!("refs/heads/{default}"), *oid));
    }
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
        let text = config(r#"/srv/a "b"\c.git"#, "main");
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
    }
}
