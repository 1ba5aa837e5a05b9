//! git over HTTPS through karajan's own transport (reqwest, rustls), against the fake
//! forge over TLS: the forge's push and read-back, the workspace mirror's clone, and
//! how each failure is sorted (a refused or missing token, an untrusted certificate, a
//! missing repository, no server) without the token in any message.

use std::path::{Path, PathBuf};

use git2::Repository;
use karajan::config::{ForgeConfig, ForgeKind, GithubForge, Secret, WorkspaceConfig};
use karajan::forge::http::Access;
use karajan::forge::{Forge, PushError};
use karajan::workspace::Workspaces;

use super::git_http::{GitHttp, ca_file};

const TOKEN: &str = "ghp-tls-forge-token-77";

/// A GitHub forge on `remote`, with `token` and, when `trusted`, the test CA.
fn forge(remote: &str, token: Option<&str>, trusted: bool) -> Forge {
    let kind = match token {
        Some(t) => ForgeKind::Github(Box::new(GithubForge::new(
            "https://127.0.0.1/api/v3",
            "acme",
            "demo",
            Secret::new(t),
        ))),
        None => ForgeKind::Git,
    };
    Forge::new(&ForgeConfig {
        kind,
        remote: remote.to_string(),
        ca_file: trusted.then(ca_file),
    })
}

/// A bare `acme/demo.git` served under `root`, and a workspace cloned from a local
/// origin with one commit of its own on `karajan/T-1`; returns the workspace and the
/// commit.
fn served_and_workspace(dir: &Path) -> (PathBuf, PathBuf, String) {
    let root = dir.join("served");
    Repository::init_bare(root.join("acme/demo.git")).unwrap();
    let ws_path = dir.join("ws");
    let ws = Repository::init(&ws_path).unwrap();
    let sig = git2::Signature::now("agent", "a@example.invalid").unwrap();
    let tree = ws.treebuilder(None).unwrap().write().unwrap();
    let tree = ws.find_tree(tree).unwrap();
    let commit = ws
        .commit(
            Some("refs/heads/karajan/T-1"),
            &sig,
            &sig,
            "work",
            &tree,
            &[],
        )
        .unwrap();
    ws.set_head("refs/heads/karajan/T-1").unwrap();
    (root, ws_path, commit.to_string())
}

fn remote_of(server: &GitHttp) -> String {
    format!("{}/acme/demo.git", server.url())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_and_its_read_back_go_over_https_with_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let (root, ws, commit) = served_and_workspace(dir.path());
    let server = GitHttp::serve_tls(&root, TOKEN);
    let remote = remote_of(&server);
    assert!(remote.starts_with("https://"));
    let forge = forge(&remote, Some(TOKEN), true);

    assert_eq!(
        forge.remote_tip(&ws, &remote, "karajan/T-1").await.unwrap(),
        None
    );
    forge
        .push(&ws, &remote, "karajan/T-1", &commit)
        .await
        .unwrap();
    assert_eq!(
        forge.remote_tip(&ws, &remote, "karajan/T-1").await.unwrap(),
        Some(commit.clone())
    );
    let served = Repository::open_bare(root.join("acme/demo.git")).unwrap();
    assert_eq!(
        served
            .find_reference("refs/heads/karajan/T-1")
            .unwrap()
            .target()
            .map(|o| o.to_string()),
        Some(commit)
    );
    let requests = server.requests.lock().unwrap().clone();
    assert!(
        requests.iter().all(|(_, _, authorized)| *authorized),
        "the token is sent with every request, no 401 round trip: {requests:?}"
    );
    for (method, path) in [
        ("GET", "/acme/demo.git/info/refs"),
        ("POST", "/acme/demo.git/git-receive-pack"),
    ] {
        assert!(
            requests.iter().any(|(m, p, _)| m == method && p == path),
            "{requests:?}"
        );
    }
    let agents = server.user_agents.lock().unwrap().clone();
    assert!(
        agents
            .iter()
            .all(|a| *a == format!("karajan/{}", env!("CARGO_PKG_VERSION"))),
        "{agents:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_or_missing_token_is_final_and_never_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let (root, ws, commit) = served_and_workspace(dir.path());
    let server = GitHttp::serve_tls(&root, TOKEN);
    let remote = remote_of(&server);

    let wrong = "ghp-wrong-tls-token-13";
    let err = forge(&remote, Some(wrong), true)
        .push(&ws, &remote, "karajan/T-1", &commit)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PushError::Fatal(m) if m.contains("refused the forge token")),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains(wrong));

    let err = forge(&remote, None, true)
        .remote_tip(&ws, &remote, "karajan/T-1")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PushError::Fatal(m) if m == "the remote asks for credentials and the forge has none (`forge.token`)"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_a_missing_repository_and_no_server_are_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let (root, ws, commit) = served_and_workspace(dir.path());
    let server = GitHttp::serve_tls(&root, TOKEN);
    let remote = remote_of(&server);

    // Without the test CA the certificate is unknown: final, and it says TLS.
    let err = forge(&remote, Some(TOKEN), false)
        .push(&ws, &remote, "karajan/T-1", &commit)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PushError::Fatal(m) if m.contains("TLS") && m.contains("certificate")),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains(TOKEN));

    // A repository the server does not have: http-backend answers 404, final.
    let missing = format!("{}/acme/missing.git", server.url());
    let err = forge(&missing, Some(TOKEN), true)
        .remote_tip(&ws, &missing, "karajan/T-1")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PushError::Fatal(m) if m.contains("404")),
        "{err:?}"
    );

    // Nobody listening: the network, worth another try.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gone = format!("https://127.0.0.1:{closed}/acme/demo.git");
    let err = forge(&gone, Some(TOKEN), true)
        .push(&ws, &gone, "karajan/T-1", &commit)
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(!format!("{err:?}").contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_remote_is_a_clear_final_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_root, ws, commit) = served_and_workspace(dir.path());
    for remote in [
        "ssh://git@example.invalid/acme/demo.git",
        "git@example.invalid:acme/demo.git",
    ] {
        let err = forge(remote, None, false)
            .push(&ws, remote, "karajan/T-1", &commit)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, PushError::Fatal(m) if m.contains("no SSH transport")),
            "{remote}: {err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_is_cloned_from_an_https_repository() {
    let dir = tempfile::tempdir().unwrap();
    let (root, ws, commit) = served_and_workspace(dir.path());
    let server = GitHttp::serve_tls(&root, TOKEN);
    let remote = remote_of(&server);
    // The repository gets a `main` (pushed through the forge, over HTTPS too).
    forge(&remote, Some(TOKEN), true)
        .push(&ws, &remote, "main", &commit)
        .await
        .unwrap();
    let served = Repository::open_bare(root.join("acme/demo.git")).unwrap();
    served.set_head("refs/heads/main").unwrap();

    let config = WorkspaceConfig {
        root: dir.path().join("root"),
        repo: remote.clone(),
        branch: "karajan/{{ issue.identifier }}".into(),
    };
    let forge_config = ForgeConfig {
        kind: ForgeKind::Github(Box::new(GithubForge::new(
            &format!("{}/api/v3", server.url()),
            "acme",
            "demo",
            Secret::new(TOKEN),
        ))),
        remote: remote.clone(),
        ca_file: Some(ca_file()),
    };
    let workspaces =
        Workspaces::new(&config).with_http(Access::for_workspace(Some(&forge_config), &remote));
    let made = workspaces.ensure("T-2", "karajan/T-2").await.unwrap();
    assert!(made.created);
    let clone = Repository::open(&made.path).unwrap();
    assert_eq!(
        clone.head().unwrap().target().map(|o| o.to_string()),
        Some(commit)
    );
    assert_eq!(
        clone.find_remote("origin").unwrap().url().ok(),
        Some(remote.as_str()),
        "origin is the real repository, with no credentials in it"
    );
    assert!(
        server
            .requests
            .lock()
            .unwrap()
            .iter()
            .any(|(m, p, ok)| m == "POST" && p == "/acme/demo.git/git-upload-pack" && *ok)
    );

    // Without the token (the forge elsewhere) the mirror's fetch is refused, finally.
    let elsewhere = ForgeConfig {
        remote: "https://forge.example.invalid/acme/demo.git".into(),
        ..forge_config
    };
    let other = Workspaces::new(&WorkspaceConfig {
        root: dir.path().join("root2"),
        ..config
    })
    .with_http(Access::for_workspace(Some(&elsewhere), &remote));
    let err = other.ensure("T-3", "karajan/T-3").await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("401"), "{err}");
    assert!(!err.to_string().contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_over_someone_elses_commit_is_rejected_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let (root, ws_path, first) = served_and_workspace(dir.path());
    let server = GitHttp::serve_tls(&root, TOKEN);
    let remote = remote_of(&server);
    let forge = forge(&remote, Some(TOKEN), true);
    forge
        .push(&ws_path, &remote, "karajan/T-1", &first)
        .await
        .unwrap();
    // Someone else's commit lands on the served branch; ours is on the old tip.
    let served = Repository::open_bare(root.join("acme/demo.git")).unwrap();
    let sig = git2::Signature::now("other", "o@example.invalid").unwrap();
    let base = served
        .find_commit(git2::Oid::from_str(&first).unwrap())
        .unwrap();
    served
        .commit(
            Some("refs/heads/karajan/T-1"),
            &sig,
            &sig,
            "theirs",
            &base.tree().unwrap(),
            &[&base],
        )
        .unwrap();
    let ws = Repository::open(&ws_path).unwrap();
    let mine = ws.find_commit(base.id()).unwrap();
    let ours = ws
        .commit(
            Some("HEAD"),
            &sig,
            &sig,
            "ours",
            &mine.tree().unwrap(),
            &[&mine],
        )
        .unwrap();
    let err = forge
        .push(&ws_path, &remote, "karajan/T-1", &ours.to_string())
        .await
        .unwrap_err();
    assert!(matches!(&err, PushError::Rejected(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirected_repository_is_followed_with_the_token_on_the_same_host() {
    let dir = tempfile::tempdir().unwrap();
    let (root, ws, commit) = served_and_workspace(dir.path());
    let server = GitHttp::serve_tls(&root, TOKEN);
    let old = format!("{}/moved/acme/demo.git", server.url());
    let forge = forge(&old, Some(TOKEN), true);
    forge.push(&ws, &old, "karajan/T-1", &commit).await.unwrap();
    assert_eq!(
        forge.remote_tip(&ws, &old, "karajan/T-1").await.unwrap(),
        Some(commit)
    );
    let requests = server.requests.lock().unwrap().clone();
    // The pack goes straight to where the advertisement was answered.
    assert!(
        requests
            .iter()
            .any(|(m, p, ok)| m == "POST" && p == "/acme/demo.git/git-receive-pack" && *ok),
        "{requests:?}"
    );
    assert!(
        !requests
            .iter()
            .any(|(m, p, _)| m == "POST" && p.starts_with("/moved/")),
        "{requests:?}"
    );
}
