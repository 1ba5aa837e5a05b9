//! A workspace's `HEAD` commit read from its files, without opening the repository.
//!
//! After every run the orchestrator asks where the workspace's `HEAD` now points, to
//! record it and to see whether the run committed. Opening the repository with libgit2
//! for that loads and snapshots the git configuration (the system's, the user's and the
//! repository's files): about 250,000 instructions and 60 system calls per open, two
//! opens per ticket on the drain benchmark (issue 11). A plain clone's `HEAD` is two
//! small files away: `.git/HEAD` names the branch, and the branch is a loose ref file
//! or a line of `.git/packed-refs`.
//!
//! Only that plain layout is read here. Anything else (`.git` as a file, a linked
//! worktree's `commondir`, the `reftable` format, a ref that is not a commit id, an
//! unreadable file) answers [`Read::Unknown`], and the caller opens the repository as
//! before: this is a shortcut, never a second implementation of git's rules.

use std::io::ErrorKind;
use std::path::Path;

/// What the files say of `HEAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// `HEAD` points at this commit.
    Commit(String),
    /// `HEAD` names a branch that has no commit yet (an unborn branch).
    Unborn,
    /// The layout is not the plain one read here: ask libgit2.
    Unknown,
}

/// How many symbolic refs are followed before giving up (git's own limit is 5).
const MAX_DEPTH: usize = 5;

/// Where `HEAD` of the workspace at `workdir` points, from its files.
pub fn read(workdir: &Path) -> Read {
    let git = workdir.join(".git");
    match std::fs::symlink_metadata(&git) {
        Ok(meta) if meta.is_dir() => {}
        _ => return Read::Unknown,
    }
    if git.join("commondir").exists() || git.join("reftable").exists() {
        return Read::Unknown;
    }
    let Some(head) = text(&git.join("HEAD")) else {
        return Read::Unknown;
    };
    let mut target = head;
    for _ in 0..MAX_DEPTH {
        if is_object_id(&target) {
            return Read::Commit(target);
        }
        let Some(name) = target.strip_prefix("ref: ").map(str::trim) else {
            return Read::Unknown;
        };
        if !plain_ref_name(name) {
            return Read::Unknown;
        }
        match std::fs::read_to_string(git.join(name)) {
            Ok(loose) => target = loose.trim_end().to_string(),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return match packed(&git, name) {
                    Packed::Found(id) => Read::Commit(id),
                    Packed::Absent => Read::Unborn,
                    Packed::Unknown => Read::Unknown,
                };
            }
            Err(_) => return Read::Unknown,
        }
    }
    Read::Unknown
}

/// The commit of the workspace at `workdir` when its `HEAD` is on the local `branch`
/// (`ref: refs/heads/<branch>`, read as [`read`] does); `None` otherwise, or when the
/// files do not say (the caller asks libgit2).
pub fn on_branch(workdir: &Path, branch: &str) -> Option<String> {
    let head = text(&workdir.join(".git").join("HEAD"))?;
    if head.strip_prefix("ref: refs/heads/") != Some(branch) {
        return None;
    }
    match read(workdir) {
        Read::Commit(id) => Some(id),
        Read::Unborn | Read::Unknown => None,
    }
}

/// A file's text without its trailing newline; `None` when it cannot be read.
fn text(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|t| t.trim_end().to_string())
}

/// A full SHA-1 or SHA-256 object id in lower-case hex.
fn is_object_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A ref name that is a plain relative path under `refs/` (nothing that could leave
/// the git directory or that git would refuse).
fn plain_ref_name(name: &str) -> bool {
    name.starts_with("refs/")
        && name
            .split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.') && !part.ends_with(".lock"))
        && !name.contains(['\\', ':', '?', '*', '[', '~', '^', ' '])
        && !name.contains("..")
}

enum Packed {
    Found(String),
    Absent,
    Unknown,
}

/// `name`'s line in `packed-refs` (`<id> <name>`; `#` header and `^` peeled lines
/// skipped).
fn packed(git: &Path, name: &str) -> Packed {
    let body = match std::fs::read_to_string(git.join("packed-refs")) {
        Ok(body) => body,
        Err(e) if e.kind() == ErrorKind::NotFound => return Packed::Absent,
        Err(_) => return Packed::Unknown,
    };
    for line in body.lines() {
        if line.starts_with('#') || line.starts_with('^') {
            continue;
        }
        let Some((id, refname)) = line.split_once(' ') else {
            return Packed::Unknown;
        };
        if refname == name {
            return if is_object_id(id) {
                Packed::Found(id.to_string())
            } else {
                Packed::Unknown
            };
        }
    }
    Packed::Absent
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::process::Command;

    /// `git args…` in `dir` (author `t`), its trimmed output; panics on failure.
    pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("git");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_string()
    }

    /// What libgit2 answers, in the same terms.
    fn libgit2(dir: &Path) -> Read {
        let repo = git2::Repository::open(dir).expect("open");
        match repo.head() {
            Ok(h) => Read::Commit(h.target().expect("direct").to_string()),
            Err(e) if e.code() == git2::ErrorCode::UnbornBranch => Read::Unborn,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn reads_what_libgit2_reads_in_a_plain_clone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"]);
        // Unborn.
        assert_eq!(read(d), Read::Unborn);
        assert_eq!(read(d), libgit2(d));
        std::fs::write(d.join("a"), "1").expect("write");
        git(d, &["add", "."]);
        git(d, &["commit", "-qm", "one"]);
        let one = git(d, &["rev-parse", "HEAD"]);
        // A loose branch.
        assert_eq!(read(d), Read::Commit(one.clone()));
        assert_eq!(read(d), libgit2(d));
        // A packed branch, on a branch whose name has a slash.
        git(d, &["switch", "-q", "-c", "karajan/ENG-1"]);
        git(d, &["pack-refs", "--all"]);
        assert!(!d.join(".git/refs/heads/karajan/ENG-1").exists());
        assert_eq!(read(d), Read::Commit(one.clone()));
        assert_eq!(read(d), libgit2(d));
        // A loose ref wins over its stale packed line.
        git(d, &["commit", "-q", "--allow-empty", "-m", "two"]);
        let two = git(d, &["rev-parse", "HEAD"]);
        assert_eq!(read(d), Read::Commit(two.clone()));
        assert_eq!(read(d), libgit2(d));
        // Detached.
        git(d, &["checkout", "-q", "--detach", &one]);
        assert_eq!(read(d), Read::Commit(one));
        assert_eq!(read(d), libgit2(d));
        // An unborn branch beside packed ones.
        git(d, &["switch", "-q", "--orphan", "empty"]);
        assert_eq!(read(d), Read::Unborn);
        assert_eq!(read(d), libgit2(d));
    }

    #[test]
    fn on_branch_is_the_commit_only_when_head_names_that_branch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        git(d, &["init", "-q", "-b", "karajan/ENG-1"]);
        // Unborn: the files do not say which commit.
        assert_eq!(on_branch(d, "karajan/ENG-1"), None);
        git(d, &["commit", "-q", "--allow-empty", "-m", "one"]);
        let one = git(d, &["rev-parse", "HEAD"]);
        assert_eq!(on_branch(d, "karajan/ENG-1"), Some(one.clone()));
        assert_eq!(on_branch(d, "karajan"), None);
        assert_eq!(on_branch(d, "karajan/ENG-2"), None);
        git(d, &["pack-refs", "--all"]);
        assert_eq!(on_branch(d, "karajan/ENG-1"), Some(one.clone()));
        git(d, &["switch", "-q", "-c", "other"]);
        assert_eq!(on_branch(d, "karajan/ENG-1"), None);
        assert_eq!(on_branch(d, "other"), Some(one.clone()));
        git(d, &["checkout", "-q", "--detach", &one]);
        assert_eq!(on_branch(d, "other"), None);
        assert_eq!(on_branch(&d.join("missing"), "other"), None);
    }

    #[test]
    fn anything_but_the_plain_layout_is_left_to_libgit2() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        // Not a repository at all.
        assert_eq!(read(d), Read::Unknown);
        git(d, &["init", "-q", "-b", "main"]);
        git(d, &["commit", "-q", "--allow-empty", "-m", "one"]);
        // A linked worktree: `.git` is a file.
        let wt = d.join("wt");
        git(
            d,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "side",
                wt.to_str().expect("utf-8"),
            ],
        );
        assert_eq!(read(&wt), Read::Unknown);
        // A ref that leaves `refs/`, or that is not a commit id.
        std::fs::write(d.join(".git/HEAD"), "ref: ../../elsewhere\n").expect("write");
        assert_eq!(read(d), Read::Unknown);
        std::fs::write(d.join(".git/HEAD"), "ref: refs/heads/main\n").expect("write");
        std::fs::write(d.join(".git/refs/heads/main"), "not an id\n").expect("write");
        assert_eq!(read(d), Read::Unknown);
        // A symbolic chain longer than git follows.
        for i in 0..MAX_DEPTH + 1 {
            std::fs::write(
                d.join(format!(".git/refs/heads/s{i}")),
                format!("ref: refs/heads/s{}\n", i + 1),
            )
            .expect("write");
        }
        std::fs::write(d.join(".git/HEAD"), "ref: refs/heads/s0\n").expect("write");
        assert_eq!(read(d), Read::Unknown);
    }
}
