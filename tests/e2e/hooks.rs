//! Workspace hooks with the Symphony semantics: `after_create` once per workspace,
//! `on_stage_enter` on every state entry, a failing `before_run` aborts the attempt
//! (the agent never starts), a failing `after_run` is recorded but not fatal, and
//! `before_remove` runs before a finished ticket's workspace goes.

use super::support::{Scratch, events};

#[test]
fn hooks_run_when_they_should_and_fail_as_they_should() {
    let s = Scratch::quickstart();
    let log = s.path().join("hooks.log");
    let log = log.display();
    let wf = std::fs::read_to_string(s.workflow()).unwrap().replace(
        "hooks:\n  timeout: 30s\n",
        &format!(
            "hooks:\n  timeout: 30s\n  after_create: 'echo \"after_create $KARAJAN_ISSUE\" >> {log}'\n  on_stage_enter: 'echo \"enter $KARAJAN_ISSUE $KARAJAN_STATE\" >> {log}'\n  before_run: 'echo \"before_run $KARAJAN_ISSUE\" >> {log}; test \"$KARAJAN_ISSUE\" != QS-3'\n  after_run: 'echo \"after_run $KARAJAN_ISSUE\" >> {log}; exit 3'\n  before_remove: 'echo \"before_remove $KARAJAN_ISSUE $(pwd)\" >> {log}'\n"
        ),
    );
    std::fs::write(s.workflow(), wf).unwrap();
    // QS-3's attempt fails: `run --once` says so with exit code 6.
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        super::support::stderr(&out)
    );
    s.set_column("QS-1", "Approved");
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    assert!(
        matches!(out.status.code(), Some(0 | 6)),
        "{}",
        super::support::stderr(&out)
    );
    let text = std::fs::read_to_string(s.path().join("hooks.log")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let n = |l: &str| lines.iter().filter(|x| **x == l).count();
    assert_eq!(n("after_create QS-1"), 1, "{text}");
    assert_eq!(n("enter QS-1 implement"), 1, "{text}");
    assert_eq!(n("enter QS-1 review"), 1, "{text}");
    assert_eq!(n("enter QS-1 finalize"), 1, "{text}");
    assert_eq!(n("enter QS-1 done"), 1, "{text}");
    assert_eq!(n("after_run QS-1"), 2, "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("before_remove QS-1 ") && l.ends_with("/QS-1")),
        "{text}"
    );
    assert_eq!(s.column("QS-1"), "Done", "a failing after_run is not fatal");
    // QS-3's before_run fails: the attempt is aborted and the agent never ran.
    assert_eq!(n("before_run QS-3"), 1, "{text}");
    assert_eq!(n("after_run QS-3"), 0, "{text}");
    assert_eq!(s.column("QS-3"), "In Progress");
    let all = events(&s.db());
    let failed = all
        .iter()
        .find(|(k, i, _)| k == "run_finished" && i.as_deref() == Some("QS-3"))
        .unwrap();
    assert_eq!(failed.2["status"], "failed");
    assert!(
        failed.2["reason"].as_str().unwrap().contains("before_run"),
        "{failed:?}"
    );
    assert_eq!(failed.2["phase_after"]["phase"], "retry_waiting");
    assert!(
        !all.iter()
            .any(|(k, i, _)| k == "run_spawned" && i.as_deref() == Some("QS-3"))
    );
    let after_run = all
        .iter()
        .find(|(k, i, p)| {
            k == "hook_ran" && i.as_deref() == Some("QS-1") && p["hook"] == "after_run"
        })
        .unwrap();
    assert_eq!(after_run.2["ok"], false);
    assert_eq!(after_run.2["exit_code"], 3);
}

/// A run's recorded starting commit is read after the hooks: one that commits moves it.
/// Without a hook, the commit `ensure` left the workspace on is taken as it stands
/// (it opened the repository anyway), and it is the clone's.
#[test]
fn a_run_starts_from_the_commit_its_hooks_left() {
    let s = Scratch::quickstart();
    let wf = std::fs::read_to_string(s.workflow()).unwrap().replace(
        "hooks:\n  timeout: 30s\n",
        "hooks:\n  timeout: 30s\n  before_run: 'test \"$KARAJAN_ISSUE\" != QS-1 || git -c user.name=hook -c user.email=hook@example.invalid commit -q --allow-empty -m from-the-hook'\n",
    );
    std::fs::write(s.workflow(), wf).unwrap();
    let out = s.once();
    assert!(out.status.success(), "{}", super::support::stderr(&out));
    let all = events(&s.db());
    let started = |issue: &str| {
        let (_, _, p) = all
            .iter()
            .find(|(k, i, _)| k == "run_started" && i.as_deref() == Some(issue))
            .unwrap_or_else(|| panic!("{issue} started a run"));
        let head = p["head"].as_str().expect("a starting commit").to_string();
        let ws = p["workspace"].as_str().unwrap().to_string();
        (head, ws)
    };
    let message = |ws: &str, sha: &str| {
        let repo = git2::Repository::open(ws).unwrap();
        let commit = repo.find_commit(git2::Oid::from_str(sha).unwrap()).unwrap();
        commit.message().unwrap().trim().to_string()
    };
    let (hooked, ws1) = started("QS-1");
    assert_eq!(message(&ws1, &hooked), "from-the-hook");
    let (plain, ws2) = started("QS-2");
    let clone_head = git2::Repository::open(s.path().join("demo-repo.git"))
        .unwrap()
        .head()
        .unwrap()
        .target()
        .unwrap()
        .to_string();
    assert_eq!(
        plain, clone_head,
        "QS-2 ({ws2}) starts from the clone's commit"
    );
}
