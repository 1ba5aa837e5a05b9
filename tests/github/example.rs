//! `examples/github-pr/workflow.yaml` (the whole loop to a merged pull request) is a
//! workflow karajan accepts: `check --offline` passes with a token and a `claude` on the
//! PATH, names the missing token without one, and never prints the token.

use crate::e2e::support::repo_root;

#[test]
fn the_pull_request_example_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    // `check` looks for the runner's program; the example's is Claude Code.
    let claude = dir.path().join("claude");
    std::fs::write(&claude, "#!/bin/sh\necho '2.0.0 (Claude Code)'\n").unwrap();
    std::fs::set_permissions(&claude, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |token: Option<&str>| {
        let mut cmd = crate::e2e::support::command();
        cmd.args(["check", "--offline", "examples/github-pr/workflow.yaml"])
            .current_dir(repo_root())
            .env("PATH", &path)
            .env_remove("GITHUB_TOKEN");
        if let Some(t) = token {
            cmd.env("GITHUB_TOKEN", t);
        }
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = run(Some("ghp_example_token_1234"));
    assert!(ok, "{text}");
    assert!(text.contains("5 states"), "{text}");
    assert!(!text.contains("ghp_example_token_1234"), "{text}");
    let (ok, text) = run(None);
    assert!(!ok);
    assert!(text.contains("GITHUB_TOKEN"), "{text}");
}
