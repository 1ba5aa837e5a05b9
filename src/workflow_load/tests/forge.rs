//! The `forge:` section: its kinds, defaults (the workspace's repository; a GitHub
//! tracker's repository and token) and every problem at its key.

use super::*;

fn with_forge(section: &str) -> String {
    format!("{BASE}forge:\n{section}")
}

const GITHUB_TRACKER: &str = "  kind: github\n  repo: acme/app\n  mode: labels\n  token: ghp-tracker-token\n  api_url: https://ghe.example/api/v3\n";

#[test]
fn no_forge_section_means_no_forge() {
    let f = Fixture::new();
    assert!(f.load(BASE).unwrap().forge.is_none());
}

#[test]
fn a_git_forge_pushes_to_the_workspace_repository_by_default() {
    let f = Fixture::new();
    let wf = f.load(&with_forge("  kind: git\n")).unwrap();
    let forge = wf.forge.expect("a forge");
    assert!(matches!(forge.kind, ForgeKind::Git));
    assert_eq!(forge.remote, wf.workspace.repo);
    assert!(forge.token().is_none());
    // A relative remote resolves against the workflow's folder; a URL is kept.
    let wf = f
        .load(&with_forge("  kind: git\n  remote: ./elsewhere.git\n"))
        .unwrap();
    let base = std::path::absolute(f.dir.path()).unwrap();
    assert_eq!(
        wf.forge.unwrap().remote,
        base.join("elsewhere.git").display().to_string()
    );
    let wf = f
        .load(&with_forge("  kind: git\n  remote: ssh://git@host/x.git\n"))
        .unwrap();
    assert_eq!(wf.forge.unwrap().remote, "ssh://git@host/x.git");
}

#[test]
fn a_github_forge_takes_its_token_from_a_variable() {
    let f = Fixture::new();
    let wf = f
        .load(&with_forge(
            "  kind: github\n  repo: acme/app\n  token: $DEMO_TOKEN\n",
        ))
        .unwrap();
    let forge = wf.forge.unwrap();
    let ForgeKind::Github(g) = &forge.kind else {
        panic!("expected github")
    };
    assert_eq!((g.owner.as_str(), g.repo.as_str()), ("acme", "app"));
    assert_eq!(g.api_url, "https://api.github.com");
    assert_eq!(g.token.expose(), "tok-123");
    assert_eq!(forge.remote, "https://github.com/acme/app.git");
    // Never printed.
    assert!(!format!("{forge:?}").contains("tok-123"));
}

#[test]
fn a_github_trackers_forge_defaults_to_its_repository_and_token() {
    let f = Fixture::new();
    let yaml = with_forge("  kind: github\n").replacen(
        "  kind: local\n  dir: ./tickets\n",
        GITHUB_TRACKER,
        1,
    );
    let wf = f.load(&yaml).unwrap();
    let forge = wf.forge.clone().unwrap();
    let ForgeKind::Github(g) = &forge.kind else {
        panic!("expected github")
    };
    assert_eq!((g.owner.as_str(), g.repo.as_str()), ("acme", "app"));
    assert_eq!(g.token.expose(), "ghp-tracker-token");
    assert_eq!(g.api_url, "https://ghe.example/api/v3");
    assert_eq!(forge.remote, "https://ghe.example/acme/app.git");
    // The token reaches no agent.
    assert!(
        wf.runners["demo"]
            .env
            .values()
            .all(|v| v.expose() != "ghp-tracker-token")
    );
}

#[test]
fn the_forge_token_is_blanked_by_the_redactor() {
    let f = Fixture::new();
    let wf = f
        .load(&with_forge(
            "  kind: github\n  repo: acme/app\n  token: ghp-forge-only-secret\n",
        ))
        .unwrap();
    assert!(
        crate::redact::secrets_of(&wf)
            .iter()
            .any(|s| s == "ghp-forge-only-secret")
    );
}

#[test]
fn forge_problems_are_reported_at_their_keys() {
    let f = Fixture::new();
    let e = f.error_at(&with_forge("  kind: gitub\n"), "forge.kind");
    assert!(
        e.message.contains("unknown forge kind `gitub`"),
        "{}",
        e.message
    );
    assert!(e.message.contains("did you mean `git"), "{}", e.message);
    let e = f.error_at(&with_forge("  remote: ./x.git\n"), "forge.kind");
    assert!(e.message.contains("missing key"), "{}", e.message);
    let e = f.error_at(
        &with_forge("  kind: git\n  token: $DEMO_TOKEN\n"),
        "forge.token",
    );
    assert!(
        e.message.contains("does not apply to `kind: git`"),
        "{}",
        e.message
    );
    let e = f.error_at(&with_forge("  kind: github\n  token: x\n"), "forge.repo");
    assert!(e.message.contains("owner/name"), "{}", e.message);
    let e = f.error_at(
        &with_forge("  kind: github\n  repo: acme\n  token: x\n"),
        "forge.repo",
    );
    assert!(e.message.contains("got `acme`"), "{}", e.message);
    let e = f.error_at(
        &with_forge("  kind: github\n  repo: acme/app\n  token: $NOPE\n"),
        "forge.token",
    );
    assert!(e.message.contains("NOPE"), "{}", e.message);
    let e = f.error_at(
        &with_forge("  kind: github\n  repo: acme/app\n  token: $EMPTY_TOKEN\n"),
        "forge.token",
    );
    assert!(
        e.message.contains("expands to nothing") || e.message.contains("EMPTY_TOKEN"),
        "{}",
        e.message
    );
    let e = f.error_at(
        &with_forge("  kind: github\n  repo: acme/app\n  token: x\n  api_url: ftp://x\n"),
        "forge.api_url",
    );
    assert!(e.message.contains("http(s)"), "{}", e.message);
    let e = f.error_at(
        &with_forge("  kind: git\n  remote: https://bot:ghp-in-url@host/x.git\n"),
        "forge.remote",
    );
    assert!(e.message.contains("carries a password"), "{}", e.message);
    assert!(!e.message.contains("ghp-in-url"));
    assert!(
        f.load(&with_forge("  kind: git\n  remote: ssh://git@host/x.git\n"))
            .is_ok()
    );
    let e = f.error_at(&with_forge("  kind: git\n  remtoe: x\n"), "forge.remtoe");
    assert!(e.message.contains("did you mean `remote`"), "{}", e.message);
    assert!(e.line.is_some());
}

/// BASE with `pull_request: open` on its agent state, and `section` as `forge:`.
fn opening_prs(section: &str) -> String {
    let with = BASE.replacen("    next: ", "    pull_request: open\n    next: ", 1);
    assert_ne!(with, BASE, "BASE has an agent state with `next`");
    match section {
        "" => with,
        s => format!("{with}forge:\n{s}"),
    }
}

#[test]
fn pull_requests_are_configured_on_a_github_forge_and_opened_by_a_state() {
    let f = Fixture::new();
    let wf = f
        .load(&opening_prs(
            "  kind: github\n  repo: acme/app\n  token: x\n  pull_request:\n    base: develop\n    draft: true\n    title: \"[{{ issue.identifier }}] {{ issue.title }}\"\n",
        ))
        .unwrap();
    let g = wf.forge.as_ref().unwrap().github().unwrap().clone();
    assert_eq!(g.pull_request.base.as_deref(), Some("develop"));
    assert!(g.pull_request.draft);
    assert_eq!(
        g.pull_request.title,
        "[{{ issue.identifier }}] {{ issue.title }}"
    );
    assert_eq!(g.pull_request.body, crate::config::DEFAULT_PR_BODY);
    assert!(g.tracker_repo.is_none(), "the tracker is not GitHub");
    assert!(
        wf.states
            .values()
            .any(|s| matches!(s, crate::config::StateConfig::Agent(a) if a.pull_request))
    );
    // Defaults.
    let wf = f
        .load(&opening_prs(
            "  kind: github\n  repo: acme/app\n  token: x\n",
        ))
        .unwrap();
    let g = wf.forge.as_ref().unwrap().github().unwrap().clone();
    assert_eq!(g.pull_request.base, None);
    assert!(!g.pull_request.draft);
    assert_eq!(g.pull_request.title, crate::config::DEFAULT_PR_TITLE);
}

#[test]
fn pull_request_problems_are_reported_at_their_keys() {
    let f = Fixture::new();
    let key = "states.implement.pull_request";
    let yaml = opening_prs("");
    let e = f.error_at(&yaml, key);
    assert!(e.message.contains("no `forge:` section"), "{}", e.message);
    let yaml = opening_prs("  kind: git\n");
    let e = f.error_at(&yaml, key);
    assert!(e.message.contains("no pull requests"), "{}", e.message);
    let yaml = opening_prs("  kind: github\n  repo: acme/app\n  token: x\n")
        .replace("pull_request: open", "pull_request: opne");
    let e = f.error_at(&yaml, key);
    assert!(e.message.contains("did you mean `open`"), "{}", e.message);
    let e = f.error_at(
        &with_forge("  kind: git\n  pull_request:\n    draft: true\n"),
        "forge.pull_request",
    );
    assert!(
        e.message.contains("does not apply to `kind: git`"),
        "{}",
        e.message
    );
    let e = f.error_at(
        &with_forge(
            "  kind: github\n  repo: acme/app\n  token: x\n  pull_request:\n    drafts: true\n",
        ),
        "forge.pull_request.drafts",
    );
    assert!(e.message.contains("did you mean `draft`"), "{}", e.message);
    let e = f.error_at(
        &with_forge("  kind: github\n  repo: acme/app\n  token: x\n  pull_request:\n    draft: true\n    ready_in: reviw\n"),
        "forge.pull_request.ready_in",
    );
    assert!(e.message.contains("did you mean `review`"), "{}", e.message);
    let e = f.error_at(
        &with_forge(
            "  kind: github\n  repo: acme/app\n  token: x\n  pull_request:\n    ready_in: review\n",
        ),
        "forge.pull_request.ready_in",
    );
    assert!(e.message.contains("needs `draft: true`"), "{}", e.message);
    // A template that does not render against the sample ticket is refused at load.
    let e = f.error_at(
        &with_forge("  kind: github\n  repo: acme/app\n  token: x\n  pull_request:\n    title: \"{{ issue.titel }}\"\n"),
        "forge.pull_request.title",
    );
    assert!(e.message.contains("does not render"), "{}", e.message);
}

#[test]
fn a_ca_file_is_checked_at_load_and_resolved_against_the_workflow() {
    let f = Fixture::new();
    let e = f.error_at(
        &with_forge("  kind: git\n  ca_file: ./missing-ca.pem\n"),
        "forge.ca_file",
    );
    assert!(e.message.contains("cannot read"), "{}", e.message);
    std::fs::write(f.dir.path().join("not-a-ca.pem"), "hello\n").unwrap();
    let e = f.error_at(
        &with_forge("  kind: git\n  ca_file: ./not-a-ca.pem\n"),
        "forge.ca_file",
    );
    assert!(e.message.contains("no PEM certificate"), "{}", e.message);
    std::fs::write(
        f.dir.path().join("ca.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let wf = f
        .load(&with_forge("  kind: git\n  ca_file: ./ca.pem\n"))
        .unwrap();
    let base = std::path::absolute(f.dir.path()).unwrap();
    assert_eq!(wf.forge.unwrap().ca_file, Some(base.join("ca.pem")));
    let wf = f.load(&with_forge("  kind: git\n")).unwrap();
    assert_eq!(wf.forge.unwrap().ca_file, None);
}
