//! `init`, `check` and `run --dry-run` catch what would fail at run time: `init` writes
//! a workflow that runs as it is; `check` and `--dry-run` refuse (exit 3, before the
//! tracker is touched) a repository that does not open, a runner program that does not
//! resolve and a `$VAR` its command uses that is unset — naming each.

use super::support::{Scratch, events, stderr, stdout};

fn karajan(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    crate::e2e::support::command()
        .args(args)
        .current_dir(dir)
        .env("KARAJAN_LOG", "info")
        .env_remove("PREFLIGHT_UNSET_VAR")
        .output()
        .unwrap()
}

#[test]
fn init_writes_a_workflow_that_runs_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let out = karajan(dir.path(), &["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = karajan(dir.path(), &["check", "--offline"]);
    assert!(out.status.success(), "check: {}", stderr(&out));
    let out = karajan(dir.path(), &["run", "--dry-run"]);
    assert!(out.status.success(), "dry run: {}", stderr(&out));
    let out = karajan(dir.path(), &["run", "--once"]);
    assert!(
        out.status.success(),
        "run --once: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let all = events(&dir.path().join(".karajan/karajan.db"));
    let finished: Vec<_> = all
        .iter()
        .filter(|(k, _, _)| k == "run_finished")
        .map(|(_, _, p)| p["status"].clone())
        .collect();
    assert!(
        !finished.is_empty() && finished.iter().all(|s| s == "succeeded"),
        "the example ticket's run succeeded: {finished:?}\n{}",
        stderr(&out)
    );
}

#[test]
fn check_and_dry_run_name_a_missing_repo_program_and_variable() {
    let s = Scratch::quickstart();
    let text = std::fs::read_to_string(s.workflow()).unwrap();
    let text = text
        .replace("repo: ./demo-repo.git", "repo: ./no-such-repo")
        .replace(
            "    command: [\"./agent.sh\"]\n",
            "    command: [\"./missing-agent.sh\"]\n  other:\n    kind: command\n    command: \"$PREFLIGHT_UNSET_VAR/agent --x\"\n",
        )
        .replace(
            "  finalize:\n    kind: agent\n    runner: demo",
            "  finalize:\n    kind: agent\n    runner: other",
        );
    std::fs::write(s.workflow(), text).unwrap();
    let before = s.read_ticket("QS-1");
    for args in [
        &["check", "workflow.yaml", "--offline"][..],
        &["run", "workflow.yaml", "--dry-run"][..],
    ] {
        let out = karajan(s.path(), args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains("no-such-repo"), "{args:?}: {err}");
        assert!(err.contains("missing-agent.sh"), "{args:?}: {err}");
        assert!(err.contains("$PREFLIGHT_UNSET_VAR"), "{args:?}: {err}");
        assert!(err.contains("runner `other`"), "{args:?}: {err}");
    }
    assert_eq!(s.read_ticket("QS-1"), before, "the tracker was not touched");
    assert!(!s.db().exists(), "nothing was written");

    // A folder that is not a git repository is named as such.
    std::fs::create_dir(s.path().join("no-such-repo")).unwrap();
    let out = karajan(s.path(), &["check", "workflow.yaml", "--offline"]);
    assert!(
        stderr(&out).contains("is not a git repository"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_claude_runner_whose_cli_is_not_installed_is_reported() {
    let s = Scratch::quickstart();
    let text = std::fs::read_to_string(s.workflow()).unwrap().replace(
        "    kind: command\n    command: [\"./agent.sh\"]\n",
        "    kind: claude\n    env: { PATH: /nonexistent }\n",
    );
    std::fs::write(s.workflow(), text).unwrap();
    let out = karajan(s.path(), &["check", "workflow.yaml", "--offline"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("program `claude` is not on the agent's PATH"),
        "{err}"
    );
}

#[test]
fn check_and_dry_run_name_a_local_forge_remote_that_is_not_a_repository() {
    let s = Scratch::quickstart();
    let text = std::fs::read_to_string(s.workflow()).unwrap().replace(
        "forge: { kind: git }",
        "forge: { kind: git, remote: ./pushed-here.git }",
    );
    std::fs::write(s.workflow(), text).unwrap();
    for args in [
        &["check", "workflow.yaml", "--offline"][..],
        &["run", "workflow.yaml", "--dry-run"][..],
    ] {
        let out = karajan(s.path(), args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(
            err.contains("forge.remote: the repository `")
                && err.contains("pushed-here.git` does not exist"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("workspace.repo"), "{args:?}: {err}");
    }
    std::fs::create_dir(s.path().join("pushed-here.git")).unwrap();
    let out = karajan(s.path(), &["check", "workflow.yaml", "--offline"]);
    let err = stderr(&out);
    assert!(
        err.contains("forge.remote: `") && err.contains("is not a git repository"),
        "{err}"
    );
    git2::Repository::init_bare(s.path().join("pushed-here.git")).unwrap();
    let out = karajan(s.path(), &["check", "workflow.yaml", "--offline"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!s.db().exists(), "nothing was written");
}
