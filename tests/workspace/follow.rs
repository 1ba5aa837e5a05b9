//! A cluster node's reused workspace follows the ticket's branch as last pushed (by
//! another node): fast-forwarded when the pushed branch is ahead, kept when only local
//! commits are on top, cloned again when they diverged; a single daemon's never moves.

use std::path::Path;
use std::time::Duration;

use git2::{Oid, Repository, Signature};

use super::clone::{source_repo, workspaces};

/// A commit on `refname` of `repo` (no checkout) adding `file`, on top of `parent`.
fn commit_on(repo: &Repository, refname: &str, parent: Oid, file: &str) -> Oid {
    let parent = repo.find_commit(parent).expect("parent");
    let blob = repo.blob(file.as_bytes()).expect("blob");
    let mut tree = repo
        .treebuilder(Some(&parent.tree().expect("tree")))
        .expect("treebuilder");
    tree.insert(file, blob, 0o100_644).expect("insert");
    let tree = repo.find_tree(tree.write().expect("write")).expect("tree");
    let sig = Signature::now("Test", "test@example.com").expect("sig");
    let oid = repo
        .commit(None, &sig, &sig, file, &tree, &[&parent])
        .expect("commit");
    repo.reference(refname, oid, true, "test").expect("ref");
    oid
}

fn tip(path: &Path) -> Oid {
    Repository::open(path)
        .expect("open")
        .head()
        .expect("head")
        .target()
        .expect("oid")
}

#[tokio::test]
async fn a_reused_workspace_follows_the_pushed_branch() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    let origin = source_repo(&src);
    let main = origin.refname_to_id("refs/heads/main").expect("main");
    let url = src.display().to_string();
    let node = workspaces(&tmp.path().join("node"), &url)
        .with_fetch_interval(Duration::ZERO)
        .following_pushed();
    let single = workspaces(&tmp.path().join("single"), &url).with_fetch_interval(Duration::ZERO);
    let branch = "karajan/T-1";
    let w = node.ensure("T-1", branch).await.expect("first");
    assert!(w.created);
    single.ensure("T-1", branch).await.expect("first");

    // Another node ran the ticket and pushed: the reused workspace catches up.
    let a = commit_on(&origin, "refs/heads/karajan/T-1", main, "a.txt");
    let w = node.ensure("T-1", branch).await.expect("reused");
    assert!(!w.created);
    assert_eq!(tip(&w.path), a);
    assert!(
        w.path.join("a.txt").exists(),
        "the pushed tree is checked out"
    );
    let s = single.ensure("T-1", branch).await.expect("reused");
    assert_eq!(
        tip(&s.path),
        main,
        "a single daemon's workspace never moves"
    );

    // Local commits on top of the pushed branch (not pushed yet) are kept.
    let ws_repo = Repository::open(&w.path).expect("open");
    let b = commit_on(&ws_repo, "refs/heads/karajan/T-1", a, "b.txt");
    ws_repo
        .checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .expect("checkout");
    let w = node.ensure("T-1", branch).await.expect("reused");
    assert!(!w.created);
    assert_eq!(tip(&w.path), b);

    // Diverged: another node went on from `a` without `b`; the clone starts over.
    let c = commit_on(&origin, "refs/heads/karajan/T-1", a, "c.txt");
    let w = node.ensure("T-1", branch).await.expect("recloned");
    assert!(w.created, "a fresh clone (after_create runs again)");
    assert_eq!(tip(&w.path), c);
    assert!(w.path.join("c.txt").exists() && !w.path.join("b.txt").exists());
}
