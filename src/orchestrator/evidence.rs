//! Gathering a run's evidence (`domain::evidence`) when it finishes: the agent CLI's
//! version, the diff's stat between the workspace's commits before and after, and the
//! SHA-256 of every file in the run's log directory.
//!
//! The version is read by running `<program> --version` once per program and cached for
//! the daemon's life (a CLI upgraded under a running daemon is seen after a restart). A
//! `command` runner is an arbitrary program with no version convention: none is read,
//! and the evidence says so. Everything here is best effort: a failure leaves the field
//! empty (with a note for the version), never fails the run.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::{RunnerConfig, RunnerKind};
use crate::domain::evidence::{AgentCli, DiffStat};

/// How long `--version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

type Cached = Result<String, String>;

fn cache() -> &'static Mutex<HashMap<String, Cached>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Cached>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The agent CLI of `runner` whose command line starts with `program`.
pub(crate) async fn agent_cli(runner: &RunnerConfig, program: &str) -> AgentCli {
    let mut cli = AgentCli {
        kind: runner.kind.as_str().to_string(),
        program: program.to_string(),
        version: None,
        note: None,
    };
    if runner.kind == RunnerKind::Command {
        cli.note = Some("command runner: no CLI version is read".into());
        return cli;
    }
    let cached = cache().lock().ok().and_then(|c| c.get(program).cloned());
    let read = match cached {
        Some(v) => v,
        None => {
            let v = read_version(program).await;
            if let Ok(mut c) = cache().lock() {
                c.insert(program.to_string(), v.clone());
            }
            v
        }
    };
    match read {
        Ok(v) => cli.version = Some(v),
        Err(e) => cli.note = Some(e),
    }
    cli
}

async fn read_version(program: &str) -> Cached {
    let mut cmd = tokio::process::Command::new(program);
    // Not an agent run: no secret of the daemon's environment, and nowhere to write but
    // the temporary folder (a CLI may leave files in its working directory).
    cmd.arg("--version")
        .env_clear()
        .envs(
            ["PATH", "HOME", "LANG"]
                .into_iter()
                .filter_map(|k| std::env::var_os(k).map(|v| (k, v))),
        )
        .current_dir(std::env::temp_dir())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(VERSION_TIMEOUT, cmd.output()).await {
        Err(_) => return Err(format!("`{program} --version` timed out")),
        Ok(Err(e)) => return Err(format!("`{program} --version`: {e}")),
        Ok(Ok(out)) => out,
    };
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) if out.status.success() => Ok(line.chars().take(200).collect()),
        _ => Err(format!("`{program} --version` printed no version")),
    }
}

/// What a finished run left, read in one task on the blocking pool (each is a pool
/// thread woken and then the runtime, issue 11): [`head_and_diff_in`] of `workspace`,
/// and [`hash_dir`] of the run's `log_dir` (complete by then: the runner has returned
/// and its `after_run` hook has run).
pub(crate) async fn left_by_run(
    workspace: PathBuf,
    before: Option<String>,
    log_dir: PathBuf,
) -> (Option<String>, Option<DiffStat>, BTreeMap<String, String>) {
    tokio::task::spawn_blocking(move || {
        let (head, diff) = head_and_diff_in(&workspace, before.as_deref());
        (head, diff, hash_dir(&log_dir))
    })
    .await
    .unwrap_or_default()
}

/// What a run left: the workspace's HEAD commit, and the files, insertions and
/// deletions from `before` (`None`: the empty tree) to it. One open of the repository
/// answers both (an open reads the repository's and the user's git config files anew),
/// and none when the workspace's files show HEAD still at `before` (a run that
/// committed nothing; see `workspace::head`).
fn head_and_diff_in(workspace: &Path, before: Option<&str>) -> (Option<String>, Option<DiffStat>) {
    if let (Some(before), crate::workspace::head::Read::Commit(now)) =
        (before, crate::workspace::head::read(workspace))
        && before == now
    {
        let none = DiffStat {
            files: 0,
            insertions: 0,
            deletions: 0,
        };
        return (Some(now), Some(none));
    }
    let Ok(repo) = git2::Repository::open(workspace) else {
        return (None, None);
    };
    let head = repo
        .head()
        .ok()
        .and_then(|h| h.target())
        .map(|oid| oid.to_string());
    let diff = head
        .as_deref()
        .and_then(|after| diff_stat_in(&repo, before, after));
    (head, diff)
}

/// Files, insertions and deletions between `before` (`None`: the empty tree) and `after`.
fn diff_stat_in(repo: &git2::Repository, before: Option<&str>, after: &str) -> Option<DiffStat> {
    let tree_of = |sha: &str| -> Option<git2::Tree<'_>> {
        let oid = git2::Oid::from_str(sha).ok()?;
        repo.find_commit(oid).ok()?.tree().ok()
    };
    let old = match before {
        Some(sha) => Some(tree_of(sha)?),
        None => None,
    };
    let new = tree_of(after)?;
    // The same tree (a run that committed nothing, or only empty commits): nothing
    // changed, without a diff (which takes a snapshot of the git configuration and
    // sets up a diff of the whole tree).
    if old.as_ref().is_some_and(|old| old.id() == new.id()) {
        return Some(DiffStat {
            files: 0,
            insertions: 0,
            deletions: 0,
        });
    }
    let stats = crate::workspace::with_frozen_config(repo, |r| {
        r.diff_tree_to_tree(old.as_ref(), Some(&new), None)?.stats()
    })
    .ok()?;
    Some(DiffStat {
        files: stats.files_changed() as u64,
        insertions: stats.insertions() as u64,
        deletions: stats.deletions() as u64,
    })
}

/// The SHA-256 (hex) of every regular file under `dir`, keyed by its `/`-separated path
/// relative to `dir`. A missing directory is an empty map.
pub fn hash_dir(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(dir, "", &mut out);
    out
}

fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&entry.path(), &rel, out),
            Ok(t) if t.is_file() => {
                if let Some(h) = hash_file(&entry.path()) {
                    out.insert(rel, h);
                }
            }
            _ => {}
        }
    }
}

/// The SHA-256 (hex) of a file's bytes, `None` when it cannot be read.
pub fn hash_file(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).ok()?;
    Some(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::head::tests::git;

    fn diff_stat_sync(workspace: &Path, before: Option<&str>, after: &str) -> Option<DiffStat> {
        diff_stat_in(&git2::Repository::open(workspace).ok()?, before, after)
    }

    #[test]
    fn diff_stat_counts_files_insertions_and_deletions_between_two_commits() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q"]);
        std::fs::write(d.join("a.txt"), "one\ntwo\nthree\n").unwrap();
        git(d, &["add", "."]);
        git(d, &["commit", "-qm", "first"]);
        let before = git(d, &["rev-parse", "HEAD"]);
        std::fs::write(d.join("a.txt"), "one\n2\nthree\nfour\n").unwrap();
        std::fs::write(d.join("b.txt"), "new\n").unwrap();
        git(d, &["add", "."]);
        git(d, &["commit", "-qm", "second"]);
        let after = git(d, &["rev-parse", "HEAD"]);
        let stat = diff_stat_sync(d, Some(&before), &after).unwrap();
        assert_eq!(
            stat,
            DiffStat {
                files: 2,
                insertions: 3,
                deletions: 1
            }
        );
        // From the empty tree: everything the first commit holds.
        let first = diff_stat_sync(d, None, &before).unwrap();
        assert_eq!((first.files, first.insertions, first.deletions), (1, 3, 0));
        assert_eq!(diff_stat_sync(d, Some("not-a-sha"), &after), None);
    }

    #[test]
    fn head_and_diff_reads_the_head_and_what_changed_since_before() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Not a repository (a workspace that failed to be created): nothing.
        assert_eq!(head_and_diff_in(d, None), (None, None));
        git(d, &["init", "-q"]);
        // An unborn branch: no head, no diff.
        assert_eq!(head_and_diff_in(d, None), (None, None));
        std::fs::write(d.join("a.txt"), "one\n").unwrap();
        git(d, &["add", "."]);
        git(d, &["commit", "-qm", "first"]);
        let before = git(d, &["rev-parse", "HEAD"]);
        std::fs::write(d.join("a.txt"), "one\ntwo\n").unwrap();
        git(d, &["commit", "-qam", "second"]);
        let after = git(d, &["rev-parse", "HEAD"]);
        let (head, diff) = head_and_diff_in(d, Some(&before));
        assert_eq!(head.as_deref(), Some(after.as_str()));
        assert_eq!(
            diff,
            Some(DiffStat {
                files: 1,
                insertions: 1,
                deletions: 0
            })
        );
        // Nothing committed by the run: the same head, an empty diff.
        let (head, diff) = head_and_diff_in(d, Some(&after));
        assert_eq!(head.as_deref(), Some(after.as_str()));
        assert_eq!(diff.map(|s| s.files), Some(0));
        // Only an empty commit: a new head, the same tree, an empty diff.
        git(d, &["commit", "-q", "--allow-empty", "-m", "empty"]);
        let empty = git(d, &["rev-parse", "HEAD"]);
        let (head, diff) = head_and_diff_in(d, Some(&after));
        assert_eq!(head, Some(empty));
        assert_eq!(
            diff,
            Some(DiffStat {
                files: 0,
                insertions: 0,
                deletions: 0
            })
        );
    }

    #[test]
    fn hash_dir_hashes_every_file_by_relative_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stdout.log"), "abc").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/x"), "").unwrap();
        let map = hash_dir(dir.path());
        assert_eq!(
            map.get("stdout.log").map(String::as_str),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            map.get("sub/x").map(String::as_str),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert!(hash_dir(&dir.path().join("missing")).is_empty());
    }

    fn runner(kind: RunnerKind, program: &str) -> RunnerConfig {
        RunnerConfig {
            name: "r".into(),
            kind,
            command: vec![program.into()],
            env: Default::default(),
            inherit_env: vec![],
            model: None,
            stall_timeout: None,
            turn_timeout: None,
            max_turns: None,
            cli: Default::default(),
        }
    }

    #[tokio::test]
    async fn the_version_is_read_once_per_program_and_cached() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let program = dir.path().join("fake-cli");
        std::fs::write(
            &program,
            format!(
                "#!/bin/sh\necho x >> '{}'\npwd > '{}'\nenv > '{}'\necho\necho 'fake-cli 2.1.0 (Claude Code)'\n",
                count.display(),
                dir.path().join("cwd").display(),
                dir.path().join("env").display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let program = program.display().to_string();
        let cfg = runner(RunnerKind::Claude, &program);
        for _ in 0..3 {
            let cli = agent_cli(&cfg, &program).await;
            assert_eq!(cli.version.as_deref(), Some("fake-cli 2.1.0 (Claude Code)"));
            assert_eq!(cli.note, None);
        }
        assert_eq!(std::fs::read_to_string(&count).unwrap(), "x\n", "run once");
        // Run in the temporary folder, without the daemon's environment (cargo gives the
        // test process CARGO_* variables; a daemon's would hold its secrets).
        let cwd = std::fs::read_to_string(dir.path().join("cwd")).unwrap();
        assert_eq!(
            std::fs::canonicalize(cwd.trim()).unwrap(),
            std::fs::canonicalize(std::env::temp_dir()).unwrap()
        );
        let env = std::fs::read_to_string(dir.path().join("env")).unwrap();
        assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        assert!(!env.contains("CARGO_MANIFEST_DIR"), "{env}");
        let missing = agent_cli(&cfg, "/nonexistent/cli").await;
        assert_eq!(missing.version, None);
        assert!(missing.note.unwrap().contains("--version"));
    }

    #[tokio::test]
    async fn a_command_runner_reads_no_version_and_says_so() {
        let cfg = runner(RunnerKind::Command, "/bin/false");
        let cli = agent_cli(&cfg, "/bin/false").await;
        assert_eq!(cli.version, None);
        assert!(cli.note.unwrap().contains("command runner"));
    }
}
