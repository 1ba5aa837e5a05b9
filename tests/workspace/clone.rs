//! `Workspaces::ensure`, `check_contained` and `remove` against local repositories.

use std::path::Path;

use git2::{Repository, Signature};
use karajan::config::WorkspaceConfig;
use karajan::workspace::{WorkspaceError, Workspaces, sanitize_key};

/// A non-bare repository with one commit on `main` containing README.md.
pub(super) fn source_repo(dir: &Path) -> Repository {
    let repo = Repository::init(dir).expect("init");
    std::fs::write(dir.join("README.md"), "hello\n").expect("write");
    let mut index = repo.index().expect("index");
    index.add_path(Path::new("README.md")).expect("add");
    index.write().expect("write index");
    let tree_id = index.write_tree().expect("tree");
    {
        let tree = repo.find_tree(tree_id).expect("find tree");
        let sig = Signature::now("Test", "test@example.com").expect("sig");
        repo.commit(Some("refs/heads/main"), &sig, &sig, "initial", &tree, &[])
            .expect("commit");
    }
    repo.set_head("refs/heads/main").expect("head");
    repo
}

pub(super) fn workspaces(root: &Path, repo: &str) -> Workspaces {
    Workspaces::new(&WorkspaceConfig {
        root: root.to_path_buf(),
        repo: repo.to_string(),
        branch: "karajan/{{ issue.identifier }}".into(),
    })
}

pub(super) fn head_branch(path: &Path) -> String {
    let repo = Repository::open(path).expect("open clone");
    let head = repo.head().expect("head");
    head.shorthand().expect("utf8").to_string()
}

#[tokio::test]
async fn clones_a_local_repo_onto_the_ticket_branch_and_reuses_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    source_repo(&src);
    let ws = workspaces(&tmp.path().join("root"), &src.display().to_string());

    let first = ws.ensure("ENG-42", "karajan/ENG-42").await.expect("ensure");
    assert!(first.created);
    assert_eq!(first.path, tmp.path().join("root").join("ENG-42"));
    assert_eq!(first.branch, "karajan/ENG-42");
    assert_eq!(head_branch(&first.path), "karajan/ENG-42");
    assert_eq!(
        std::fs::read_to_string(first.path.join("README.md")).expect("checked out"),
        "hello\n"
    );
    // No temporary clone directories are left next to it (only the mirror's folder).
    let entries: Vec<_> = std::fs::read_dir(tmp.path().join("root"))
        .expect("root")
        .map(|e| e.expect("entry").file_name())
        .filter(|n| n != ".mirrors")
        .collect();
    assert_eq!(entries, [std::ffi::OsString::from("ENG-42")]);

    // Reuse: a file the agent wrote survives (no re-clone), created = false.
    std::fs::write(first.path.join("work.txt"), "agent output").expect("write");
    let again = ws.ensure("ENG-42", "karajan/ENG-42").await.expect("reuse");
    assert!(!again.created);
    assert_eq!(again.path, first.path);
    assert!(again.path.join("work.txt").exists());

    // Another branch in the same clone is created and checked out; switching back works.
    let other = ws
        .ensure("ENG-42", "karajan/ENG-42-rework")
        .await
        .expect("branch");
    assert!(!other.created);
    assert_eq!(head_branch(&other.path), "karajan/ENG-42-rework");
    ws.ensure("ENG-42", "karajan/ENG-42").await.expect("back");
    assert_eq!(head_branch(&other.path), "karajan/ENG-42");
}

#[tokio::test]
async fn clones_from_a_bare_repo_and_resumes_a_pushed_branch() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    let repo = source_repo(&src);
    // A ticket branch that already exists upstream, one commit ahead of main.
    {
        let head = repo.head().expect("head").peel_to_commit().expect("commit");
        std::fs::write(src.join("feature.txt"), "from a previous run\n").expect("write");
        let mut index = repo.index().expect("index");
        index.add_path(Path::new("feature.txt")).expect("add");
        let tree = repo
            .find_tree(index.write_tree().expect("tree"))
            .expect("find");
        let sig = Signature::now("Test", "test@example.com").expect("sig");
        repo.commit(
            Some("refs/heads/karajan/ENG-7"),
            &sig,
            &sig,
            "wip",
            &tree,
            &[&head],
        )
        .expect("commit");
    }
    let bare = tmp.path().join("bare.git");
    git2::build::RepoBuilder::new()
        .bare(true)
        .clone(&src.display().to_string(), &bare)
        .expect("bare clone");
    {
        // libgit2's bare clone keeps other branches as remote-tracking refs: publish it.
        let b = Repository::open_bare(&bare).expect("open bare");
        let oid = b
            .refname_to_id("refs/remotes/origin/karajan/ENG-7")
            .expect("fetched branch");
        b.reference("refs/heads/karajan/ENG-7", oid, false, "publish")
            .expect("branch in bare repo");
    }

    let ws = workspaces(&tmp.path().join("root"), &bare.display().to_string());
    let w = ws.ensure("ENG-7", "karajan/ENG-7").await.expect("ensure");
    assert!(w.created);
    assert_eq!(head_branch(&w.path), "karajan/ENG-7");
    assert_eq!(
        std::fs::read_to_string(w.path.join("feature.txt")).expect("branch content"),
        "from a previous run\n"
    );
    // Git itself sees a clean checkout of the branch, tracking the remote's.
    let git = |dir: &Path, args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    assert_eq!(git(&w.path, &["status", "--porcelain"]), "");
    assert_eq!(
        git(&w.path, &["rev-parse", "--abbrev-ref", "@{upstream}"]).trim(),
        "origin/karajan/ENG-7"
    );
    let fresh = ws.ensure("ENG-8", "karajan/ENG-8").await.expect("ensure");
    assert!(
        !fresh.path.join("feature.txt").exists(),
        "new branch starts from HEAD"
    );
    assert_eq!(head_branch(&fresh.path), "karajan/ENG-8");
    assert_eq!(git(&fresh.path, &["status", "--porcelain"]), "");
    let main = git(&fresh.path, &["rev-parse", "origin/main"]);
    assert_eq!(
        git(&fresh.path, &["rev-parse", "HEAD"]),
        main,
        "from the default branch"
    );
    let upstream = std::process::Command::new("git")
        .arg("-C")
        .arg(&fresh.path)
        .args(["rev-parse", "--abbrev-ref", "@{upstream}"])
        .output()
        .expect("git runs");
    assert!(
        !upstream.status.success(),
        "a new branch tracks nothing yet"
    );
}

#[tokio::test]
async fn sanitized_identifiers_get_distinct_directories() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    source_repo(&src);
    let ws = workspaces(&tmp.path().join("root"), &src.display().to_string());
    let a = ws.ensure("owner/repo#7", "karajan/7").await.expect("a");
    let b = ws.ensure("owner:repo#7", "karajan/7").await.expect("b");
    assert_ne!(a.path, b.path);
    assert_eq!(
        a.path.file_name().and_then(|n| n.to_str()),
        Some(sanitize_key("owner/repo#7").as_str())
    );
    assert_eq!(a.path.parent(), Some(tmp.path().join("root").as_path()));
    let dots = ws.ensure("..", "karajan/dots").await.expect("dots");
    assert_eq!(dots.path.parent(), Some(tmp.path().join("root").as_path()));
}

#[tokio::test]
async fn invalid_branch_and_missing_repo_are_errors() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    source_repo(&src);
    let ws = workspaces(&tmp.path().join("root"), &src.display().to_string());
    let err = ws
        .ensure("ENG-1", "bad..branch")
        .await
        .expect_err("invalid branch");
    assert!(matches!(err, WorkspaceError::InvalidBranch { .. }), "{err}");
    assert!(!err.is_retryable());
    assert!(!ws.path_for("ENG-1").exists());

    let missing = workspaces(
        &tmp.path().join("root2"),
        &tmp.path().join("nope").display().to_string(),
    );
    let err = missing
        .ensure("ENG-1", "karajan/ENG-1")
        .await
        .expect_err("no repo");
    assert!(matches!(err, WorkspaceError::Clone { .. }), "{err}");
    assert!(!missing.path_for("ENG-1").exists());
    // The failed clone left no temporary directory behind, and no half-made mirror.
    let leftovers = std::fs::read_dir(tmp.path().join("root2"))
        .expect("root2")
        .filter(|e| e.as_ref().expect("entry").file_name() != ".mirrors")
        .count();
    assert_eq!(leftovers, 0);
    let mirrors = tmp.path().join("root2").join(".mirrors");
    assert!(!mirrors.exists() || std::fs::read_dir(&mirrors).expect("mirrors").count() == 0);
}

#[tokio::test]
async fn symlinks_escaping_the_root_are_rejected() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    source_repo(&src);
    let root = tmp.path().join("root");
    let ws = workspaces(&root, &src.display().to_string());
    let ok = ws.ensure("ENG-1", "karajan/ENG-1").await.expect("ensure");
    ws.check_contained(&ok.path)
        .expect("a real workspace is contained");

    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    let link = ws.path_for("ENG-2");
    std::os::unix::fs::symlink(&outside, &link).expect("symlink");
    let err = ws.check_contained(&link).expect_err("symlink workspace");
    assert!(matches!(err, WorkspaceError::Symlink { .. }), "{err}");
    let err = ws
        .ensure("ENG-2", "karajan/ENG-2")
        .await
        .expect_err("ensure refuses");
    assert!(matches!(err, WorkspaceError::Symlink { .. }), "{err}");

    // A path that resolves outside through a symlinked parent.
    let sneaky = ok.path.join("escape");
    std::os::unix::fs::symlink(&outside, &sneaky).expect("symlink");
    let err = ws
        .check_contained(&sneaky.join("."))
        .expect_err("escape via parent");
    assert!(matches!(err, WorkspaceError::Escape { .. }), "{err}");
    let err = ws
        .check_contained(&outside)
        .expect_err("plain outside path");
    assert!(matches!(err, WorkspaceError::Escape { .. }), "{err}");
    assert!(
        ws.check_contained(&root).is_err(),
        "the root itself is not a workspace"
    );

    // Removing the symlinked workspace unlinks it without touching the target.
    std::fs::write(outside.join("precious"), "keep").expect("write");
    assert!(ws.remove("ENG-2").await.expect("remove link"));
    assert!(!link.exists() && outside.join("precious").exists());
}

#[tokio::test]
async fn remove_deletes_the_clone() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    source_repo(&src);
    let ws = workspaces(&tmp.path().join("root"), &src.display().to_string());
    let w = ws.ensure("ENG-9", "karajan/ENG-9").await.expect("ensure");
    assert!(w.path.join(".git").exists());
    assert!(ws.remove("ENG-9").await.expect("remove"));
    assert!(!w.path.exists());
    assert!(!ws.remove("ENG-9").await.expect("remove again"));
    let again = ws
        .ensure("ENG-9", "karajan/ENG-9")
        .await
        .expect("re-create");
    assert!(again.created);
}

#[tokio::test]
async fn a_directory_that_is_not_a_repo_is_not_reused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    source_repo(&src);
    let ws = workspaces(&tmp.path().join("root"), &src.display().to_string());
    std::fs::create_dir_all(ws.path_for("ENG-3")).expect("dir");
    let err = ws
        .ensure("ENG-3", "karajan/ENG-3")
        .await
        .expect_err("not a repo");
    assert!(
        matches!(err, WorkspaceError::NotARepository { .. }),
        "{err}"
    );
}
