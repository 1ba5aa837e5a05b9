//! `karajan check` and `run --dry-run` verify forge access on the fake GitHub without
//! writing: the repository exists and the token can push (`GET /repos/{o}/{r}`,
//! `permissions.push`), and the pull requests' base branch exists (`GET
//! /repos/{o}/{r}/branches/{base}`, the configured one or the default branch). Each
//! refusal is a clear error (exit 5) naming the key to fix; no request that writes
//! reaches the fake.

use std::process::Output;

use super::pr_scratch::PrScratch;
use super::scratch::TOKEN_VAR;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Replace `from` by `to` in the scratch's workflow.
fn edit(p: &PrScratch, from: &str, to: &str) {
    let path = p.s.path().join("workflow.yaml");
    let wf = std::fs::read_to_string(&path).unwrap();
    assert!(wf.contains(from), "{from:?} not in the workflow");
    std::fs::write(&path, wf.replacen(from, to, 1)).unwrap();
}

/// `check` and `run --dry-run`, each asserted to write nothing to GitHub.
fn both(p: &PrScratch) -> [Output; 2] {
    let out = [
        p.s.karajan(&["check", "workflow.yaml"]),
        p.s.karajan(&["run", "workflow.yaml", "--dry-run"]),
    ];
    assert_eq!(p.s.mutations(), Vec::<String>::new(), "nothing is written");
    out
}

#[test]
fn check_and_dry_run_verify_the_forge_without_writing() {
    let p = PrScratch::new();
    p.s.add_issue(1, "Add a greeting", "Todo");
    for out in both(&p) {
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
        assert!(
            stdout.contains(
                "forge: github acme/app: the token can push; pull requests go to `main` (the default branch), which exists"
            ),
            "{stdout}"
        );
    }
    let requests = p.s.fake.requests();
    for r in ["GET /repos/acme/app", "GET /repos/acme/app/branches/main"] {
        assert_eq!(
            requests.iter().filter(|x| *x == r).count(),
            2,
            "{r} once per command: {requests:?}"
        );
    }
    // `--offline` does not contact the forge either.
    let before = p.s.fake.request_count();
    let out = p.s.karajan(&["check", "workflow.yaml", "--offline"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("forge: not contacted (--offline)"));
    assert_eq!(p.s.fake.request_count(), before);
}

#[test]
fn a_token_that_cannot_push_fails_check_and_dry_run() {
    let p = PrScratch::new();
    p.s.fake.lock().can_push = false;
    for out in both(&p) {
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{stderr}");
        assert!(
            stderr.contains("forge.token: the token can read acme/app but not push to it (`permissions.push` is false)"),
            "{stderr}"
        );
    }
}

#[test]
fn a_missing_base_branch_fails_check_and_dry_run() {
    let p = PrScratch::new();
    edit(
        &p,
        "  pull_request:\n",
        "  pull_request:\n    base: release/2.0\n",
    );
    for out in both(&p) {
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{stderr}");
        assert!(
            stderr.contains("forge.pull_request.base: the branch `release/2.0` does not exist in acme/app (GitHub: Branch not found)"),
            "{stderr}"
        );
    }
    assert!(
        p.s.fake
            .requests()
            .contains(&"GET /repos/acme/app/branches/release/2.0".to_string())
    );
}

#[test]
fn a_missing_repository_and_a_refused_token_fail_check_with_the_key_to_fix() {
    let p = PrScratch::new();
    edit(
        &p,
        "forge:\n  kind: github\n",
        "forge:\n  kind: github\n  repo: acme/nope\n",
    );
    let out = p.s.karajan(&["check", "workflow.yaml"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("forge.repo: the repository acme/nope does not exist, or the token cannot see it (GitHub: Not Found)"),
        "{stderr}"
    );
    edit(
        &p,
        "  repo: acme/nope\n",
        &format!("  token: ${TOKEN_VAR}_WRONG\n"),
    );
    let out = crate::e2e::support::command()
        .args(["check", "workflow.yaml"])
        .current_dir(p.s.path())
        .env(TOKEN_VAR, super::fake::TOKEN)
        .env(format!("{TOKEN_VAR}_WRONG"), "ghp_not_the_right_one")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("forge.token: GitHub rejected the token (401 Bad credentials)"),
        "{stderr}"
    );
    assert!(!stderr.contains("ghp_not_the_right_one"), "{stderr}");
    assert_eq!(p.s.mutations(), Vec::<String>::new());
}
