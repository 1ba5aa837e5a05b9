//! Workspaces are cloned from one bare mirror of the repository: two tickets share it,
//! creators arriving together share one fetch, the mirror is fetched at most once per
//! interval, a workspace's `origin` is the real repository (a push goes there), and
//! removing a workspace (or even the mirror) breaks nothing.

use std::path::Path;
use std::time::Duration;

use git2::{Repository, Signature};

use super::clone::{head_branch, source_repo, workspaces};

const LONG: Duration = Duration::from_secs(3600);

/// A commit on `main` of the non-bare `repo` adding `file`.
fn commit_file(repo: &Repository, file: &str) {
    let dir = repo.workdir().expect("workdir");
    std::fs::write(dir.join(file), "new\n").expect("write");
    let mut index = repo.index().expect("index");
    index.add_path(Path::new(file)).expect("add");
    index.write().expect("write index");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("find");
    let head = repo.head().expect("head").peel_to_commit().expect("commit");
    let sig = Signature::now("Test", "test@example.com").expect("sig");
    repo.commit(Some("HEAD"), &sig, &sig, file, &tree, &[&head])
        .expect("commit");
    // Keep the working tree in step, so the repository stays clean.
    repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .expect("checkout");
}

/// Every file under `dir`, recursively.
fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn two_tickets_are_cloned_from_one_mirror_whose_origin_is_the_repository() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    source_repo(&src);
    let url = src.display().to_string();
    let ws = workspaces(&tmp.path().join("root"), &url).with_fetch_interval(LONG);

    let a = ws.ensure("ENG-1", "karajan/ENG-1").await.expect("ENG-1");
    let b = ws.ensure("ENG-2", "karajan/ENG-2").await.expect("ENG-2");
    assert!(a.created && b.created);
    assert_eq!(ws.mirror_updates(), 1, "one mirror, made once");

    // The mirror is one bare repository under the root, in the hidden `.mirrors`.
    let mirror = ws.mirror_path().to_path_buf();
    assert!(mirror.starts_with(tmp.path().join("root").join(".mirrors")));
    let m = Repository::open_bare(&mirror).expect("bare mirror");
    assert_eq!(
        m.head().expect("mirror HEAD").name().ok(),
        Some("refs/heads/main")
    );
    let dirs: Vec<_> = std::fs::read_dir(tmp.path().join("root").join(".mirrors"))
        .expect("mirrors")
        .collect();
    assert_eq!(dirs.len(), 1, "no leftovers next to the mirror");

    for w in [&a, &b] {
        // The objects are the mirror's files, hard-linked, not copies.
        let objects = walk_files(&w.path.join(".git/objects"));
        assert!(!objects.is_empty());
        for f in &objects {
            use std::os::unix::fs::MetadataExt;
            let links = std::fs::metadata(f).expect("object").nlink();
            assert!(links >= 2, "{} is a copy", f.display());
        }
        let repo = Repository::open(&w.path).expect("workspace");
        assert!(!repo.is_bare());
        assert_eq!(head_branch(&w.path), w.branch);
        let origin = repo.find_remote("origin").expect("origin");
        assert_eq!(
            origin.url().ok(),
            Some(url.as_str()),
            "origin is the real one"
        );
        assert!(
            repo.find_branch("origin/main", git2::BranchType::Remote)
                .is_ok(),
            "remote-tracking branches of the real origin"
        );
        assert_eq!(
            std::fs::read_to_string(w.path.join("README.md")).expect("checked out"),
            "hello\n"
        );
    }
}

#[tokio::test]
async fn creators_arriving_together_share_one_fetch() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    source_repo(&src);
    let ws =
        workspaces(&tmp.path().join("root"), &src.display().to_string()).with_fetch_interval(LONG);
    let (a, b, c, d) = tokio::join!(
        ws.ensure("ENG-1", "karajan/ENG-1"),
        ws.ensure("ENG-2", "karajan/ENG-2"),
        ws.ensure("ENG-3", "karajan/ENG-3"),
        ws.ensure("ENG-4", "karajan/ENG-4"),
    );
    for w in [a, b, c, d] {
        let w = w.expect("ensure");
        assert!(w.created);
        assert_eq!(head_branch(&w.path), w.branch);
    }
    assert_eq!(ws.mirror_updates(), 1);
}

#[tokio::test]
async fn the_mirror_is_fetched_once_per_interval_and_follows_the_repository() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    let repo = source_repo(&src);
    let url = src.display().to_string();
    let root = tmp.path().join("root");

    // Within the interval: no second fetch, so the new commit is not seen yet.
    let fresh = workspaces(&root, &url).with_fetch_interval(LONG);
    fresh.ensure("ENG-1", "karajan/ENG-1").await.expect("ENG-1");
    commit_file(&repo, "later.txt");
    let w = fresh.ensure("ENG-2", "karajan/ENG-2").await.expect("ENG-2");
    assert_eq!(fresh.mirror_updates(), 1);
    assert!(!w.path.join("later.txt").exists());

    // Past the interval (zero here), the next creation fetches and sees it; the
    // mirror on disk is reused, not made again.
    let every = workspaces(&root, &url).with_fetch_interval(Duration::ZERO);
    let w = every.ensure("ENG-3", "karajan/ENG-3").await.expect("ENG-3");
    assert_eq!(every.mirror_updates(), 1);
    assert!(w.path.join("later.txt").exists(), "fetched the new commit");
    // Reusing a workspace does not fetch.
    every.ensure("ENG-3", "karajan/ENG-3").await.expect("reuse");
    assert_eq!(every.mirror_updates(), 1);
}

#[tokio::test]
async fn a_push_from_a_workspace_reaches_the_repository() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    source_repo(&src);
    let bare = tmp.path().join("origin.git");
    git2::build::RepoBuilder::new()
        .bare(true)
        .clone(&src.display().to_string(), &bare)
        .expect("bare clone");
    let ws = workspaces(&tmp.path().join("root"), &bare.display().to_string());
    let w = ws.ensure("ENG-5", "karajan/ENG-5").await.expect("ensure");
    let repo = Repository::open(&w.path).expect("workspace");
    commit_file(&repo, "work.txt");
    let mut origin = repo.find_remote("origin").expect("origin");
    origin
        .push(&["refs/heads/karajan/ENG-5:refs/heads/karajan/ENG-5"], None)
        .expect("push");
    let upstream = Repository::open_bare(&bare).expect("origin");
    let pushed = upstream
        .refname_to_id("refs/heads/karajan/ENG-5")
        .expect("pushed to the real origin");
    assert_eq!(pushed, repo.head().unwrap().target().unwrap());
    let mirror = Repository::open_bare(ws.mirror_path()).expect("mirror");
    assert!(
        mirror.refname_to_id("refs/heads/karajan/ENG-5").is_err(),
        "the push did not go to the mirror"
    );
}

#[tokio::test]
async fn removing_a_workspace_or_the_mirror_breaks_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    source_repo(&src);
    let ws =
        workspaces(&tmp.path().join("root"), &src.display().to_string()).with_fetch_interval(LONG);
    let a = ws.ensure("ENG-1", "karajan/ENG-1").await.expect("ENG-1");
    let b = ws.ensure("ENG-2", "karajan/ENG-2").await.expect("ENG-2");
    assert!(ws.remove("ENG-1").await.expect("remove"));
    assert!(!a.path.exists());
    Repository::open_bare(ws.mirror_path()).expect("the mirror is intact");
    let c = ws.ensure("ENG-3", "karajan/ENG-3").await.expect("ENG-3");
    assert!(c.path.join("README.md").exists());

    // The workspaces do not depend on the mirror's files: without it they still read
    // every object, and the next creation makes it again.
    std::fs::remove_dir_all(ws.mirror_path()).expect("drop the mirror");
    let repo = Repository::open(&b.path).expect("workspace");
    let mut walk = repo.revwalk().expect("walk");
    walk.push_head().expect("head");
    for oid in walk {
        let commit = repo.find_commit(oid.expect("oid")).expect("commit");
        commit.tree().expect("tree");
    }
    let d = ws.ensure("ENG-4", "karajan/ENG-4").await.expect("ENG-4");
    assert!(d.path.join("README.md").exists());
    assert_eq!(ws.mirror_updates(), 2);
}

/// Every entry (file or folder) under `dir`, recursively.
fn count_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| {
            let p = e.path();
            1 + if p.is_dir() { count_entries(&p) } else { 0 }
        })
        .sum()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_string()
}

/// The workspace is written directly, not by libgit2's clone (issue 11: its fifty-odd
/// files per workspace were most of the daemon's system CPU): git itself reads it as
/// the clone it replaces, with the real origin, every branch as `origin/*`, `origin/HEAD`,
/// a clean checkout of the ticket's branch and objects that check out whole.
#[tokio::test]
async fn git_reads_the_workspace_as_a_clone_of_the_real_origin_with_few_files() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    let repo = source_repo(&src);
    // A second branch on the origin.
    let head = repo.head().expect("head").peel_to_commit().expect("commit");
    repo.branch("feature/x", &head, false).expect("branch");
    let url = src.display().to_string();
    let ws = workspaces(&tmp.path().join("root"), &url).with_fetch_interval(LONG);
    let w = ws.ensure("ENG-7", "karajan/ENG-7").await.expect("ENG-7");

    let main = head.id().to_string();
    assert_eq!(
        git(&w.path, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "karajan/ENG-7"
    );
    assert_eq!(git(&w.path, &["config", "remote.origin.url"]), url);
    assert_eq!(git(&w.path, &["rev-parse", "origin/main"]), main);
    assert_eq!(git(&w.path, &["rev-parse", "origin/feature/x"]), main);
    assert_eq!(
        git(&w.path, &["symbolic-ref", "refs/remotes/origin/HEAD"]),
        "refs/remotes/origin/main"
    );
    assert_eq!(git(&w.path, &["rev-parse", "main"]), main);
    assert_eq!(
        git(&w.path, &["rev-parse", "--abbrev-ref", "main@{upstream}"]),
        "origin/main"
    );
    assert_eq!(
        git(&w.path, &["status", "--porcelain"]),
        "",
        "a clean checkout"
    );
    git(&w.path, &["fsck", "--strict", "--no-dangling"]);
    // Fetching from the real origin works as in any clone.
    git(&w.path, &["fetch", "origin"]);
    let entries = count_entries(&w.path.join(".git"));
    assert!(entries <= 25, "{entries} entries under .git");
}

/// An empty repository (no commit yet) still gives a workspace: the ticket's branch is
/// born with the agent's first commit, and git reads the workspace as a clone of it.
#[tokio::test]
async fn an_empty_repository_gives_a_workspace_on_the_unborn_ticket_branch() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("empty.git");
    Repository::init_bare(&src).expect("init");
    let url = src.display().to_string();
    let ws = workspaces(&tmp.path().join("root"), &url).with_fetch_interval(LONG);
    let w = ws.ensure("ENG-9", "karajan/ENG-9").await.expect("ENG-9");
    assert!(w.created);
    assert_eq!(
        git(&w.path, &["symbolic-ref", "HEAD"]),
        "refs/heads/karajan/ENG-9"
    );
    assert_eq!(git(&w.path, &["config", "remote.origin.url"]), url);
    assert_eq!(git(&w.path, &["status", "--porcelain"]), "");
    // The agent's first commit, pushed, reaches the repository.
    std::fs::write(w.path.join("a.txt"), "a\n").expect("write");
    git(&w.path, &["add", "a.txt"]);
    git(
        &w.path,
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "first",
        ],
    );
    git(&w.path, &["push", "-q", "origin", "karajan/ENG-9"]);
    let origin = Repository::open_bare(&src).expect("origin");
    assert!(origin.find_reference("refs/heads/karajan/ENG-9").is_ok());
}
