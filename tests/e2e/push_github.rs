//! `forge: {kind: github}`: the branch is pushed over HTTP(S) to the repository's URL
//! on the API's host, the token presented by karajan's git transport as GitHub expects
//! it (`x-access-token`); a refused token is a clear, final failure that does not
//! quote the token. Over HTTPS the fake forge's certificate is trusted through
//! `forge.ca_file`.

use git2::Repository;

use super::git_http::{GitHttp, ca_file};
use super::support::{Scratch, events};

const TOKEN: &str = "ghp-fake-forge-token-42";

/// The quickstart with a GitHub forge served by `forge` (repository `acme/demo`),
/// run once with `token` in `$KARAJAN_E2E_GH_TOKEN`.
fn run_with(s: &Scratch, forge: &GitHttp, token: &str) -> std::process::Output {
    let wf = std::fs::read_to_string(s.workflow()).unwrap();
    let mut section = format!(
        "forge:\n  kind: github\n  api_url: {}/api/v3\n  repo: acme/demo\n  token: $KARAJAN_E2E_GH_TOKEN",
        forge.url()
    );
    if forge.url().starts_with("https://") {
        section.push_str(&format!("\n  ca_file: {}", ca_file().display()));
    }
    std::fs::write(s.workflow(), wf.replace("forge: { kind: git }", &section)).unwrap();
    crate::e2e::support::command()
        .args(["run", "workflow.yaml", "--once"])
        .current_dir(s.path())
        .env("KARAJAN_E2E_GH_TOKEN", token)
        .env("KARAJAN_LOG", "info")
        .output()
        .unwrap()
}

fn served(s: &Scratch) -> std::path::PathBuf {
    let root = s.path().join("served");
    Repository::init_bare(root.join("acme/demo.git")).unwrap();
    root
}

#[test]
fn a_github_forge_pushes_over_http_with_its_token() {
    pushes_with_its_token(GitHttp::serve);
}

#[test]
fn a_github_forge_pushes_over_https_with_its_token() {
    pushes_with_its_token(GitHttp::serve_tls);
}

fn pushes_with_its_token(serve: fn(&std::path::Path, &str) -> GitHttp) {
    let s = Scratch::quickstart();
    let root = served(&s);
    let forge = serve(&root, TOKEN);
    let out = run_with(&s, &forge, TOKEN);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let repo = Repository::open_bare(root.join("acme/demo.git")).unwrap();
    for id in ["QS-1", "QS-2", "QS-3"] {
        let ws = Repository::open(s.path().join(".karajan/workspaces").join(id)).unwrap();
        let head = ws.head().unwrap().target().unwrap();
        let pushed = repo
            .find_reference(&format!("refs/heads/karajan/{id}"))
            .unwrap()
            .target();
        assert_eq!(pushed, Some(head), "{id} pushed to the forge");
    }
    let requests = forge.requests.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .any(|(m, p, ok)| m == "POST" && p == "/acme/demo.git/git-receive-pack" && *ok),
        "{requests:?}"
    );
    // karajan's own transport, for http:// as for https://.
    let agents = forge.user_agents.lock().unwrap().clone();
    assert!(
        agents.iter().all(|a| a.starts_with("karajan/")),
        "{agents:?}"
    );
    let all = events(&s.db());
    assert!(!all.iter().any(|(_, _, p)| p.to_string().contains(TOKEN)));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(TOKEN));
}

#[test]
fn a_refused_token_is_a_final_failure_that_does_not_quote_it() {
    let s = Scratch::quickstart();
    let root = served(&s);
    let forge = GitHttp::serve(&root, TOKEN);
    let wrong = "ghp-wrong-token-000";
    let out = run_with(&s, &forge, wrong);
    // 6: a ticket escalated.
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = events(&s.db());
    let failed: Vec<_> = all
        .iter()
        .filter(|(k, i, _)| k == "intent_failed" && i.as_deref() == Some("QS-1"))
        .collect();
    assert_eq!(failed.len(), 1, "tried once: {failed:?}");
    let p = &failed[0].2;
    assert_eq!(p["retryable"], false);
    let error = p["error"].as_str().unwrap();
    assert!(error.contains("refused the forge token"), "{error}");
    assert!(!all.iter().any(|(_, _, p)| p.to_string().contains(wrong)));
    // Not retried in a loop: handed to a human with the reason.
    assert_eq!(s.column("QS-1"), "Human Review");
    assert!(
        all.iter()
            .any(|(k, i, _)| k == "escalated" && i.as_deref() == Some("QS-1"))
    );
}
