//! The push of each ticket's branch (`forge:`), with the real binary on the quickstart:
//! the agents' commits land in the bare repository, a branch someone else moved is
//! never forced, a push owed when the daemon was SIGKILLed is made exactly once after
//! the restart, a workspace holding unpushed commits is kept, and the forge token
//! reaches neither agents nor events.

use std::time::Duration;

use git2::{Oid, Repository, Signature};

use super::support::{Scratch, events, wait_for};

type Events = Vec<(String, Option<String>, serde_json::Value)>;

fn bare(s: &Scratch) -> Repository {
    Repository::open_bare(s.path().join("demo-repo.git")).unwrap()
}

/// The commit `refs/heads/<branch>` points at in `repo`.
fn tip(repo: &Repository, branch: &str) -> Option<Oid> {
    repo.find_reference(&format!("refs/heads/{branch}"))
        .ok()
        .and_then(|r| r.target())
}

/// The message of commit `oid` in `repo`.
fn message(repo: &Repository, oid: Oid) -> String {
    repo.find_commit(oid)
        .unwrap()
        .message()
        .unwrap()
        .to_string()
}

fn workspace_head(s: &Scratch, id: &str) -> Oid {
    let ws = Repository::open(s.path().join(".karajan/workspaces").join(id)).unwrap();
    ws.head().unwrap().target().unwrap()
}

/// `(intent_id, payload)` of the push intents recorded for `id`.
fn pushes(all: &Events, id: &str) -> Vec<(String, serde_json::Value)> {
    all.iter()
        .filter(|(k, i, p)| k == "intent_recorded" && i.as_deref() == Some(id) && p["op"] == "push")
        .map(|(_, _, p)| (p["intent_id"].as_str().unwrap().to_string(), p.clone()))
        .collect()
}

fn outcome<'a>(
    all: &'a Events,
    intent: &str,
) -> Vec<&'a (String, Option<String>, serde_json::Value)> {
    all.iter()
        .filter(|(k, _, p)| {
            (k == "intent_completed" || k == "intent_failed") && p["intent_id"] == intent
        })
        .collect()
}

fn position(
    all: &Events,
    f: impl Fn(&(String, Option<String>, serde_json::Value)) -> bool,
) -> usize {
    all.iter().position(f).expect("event present")
}

#[test]
fn the_quickstart_pushes_each_tickets_branch_before_moving_it_on() {
    let s = Scratch::quickstart();
    s.once();
    let repo = bare(&s);
    let all = events(&s.db());
    for id in ["QS-1", "QS-2", "QS-3"] {
        let branch = format!("karajan/{id}");
        let head = workspace_head(&s, id);
        assert_eq!(tip(&repo, &branch), Some(head), "{id}'s branch is pushed");
        let msg = message(&repo, head);
        assert!(msg.starts_with("implement:"), "the agent's commit: {msg}");

        let recorded = pushes(&all, id);
        assert_eq!(recorded.len(), 1, "{id}: one push");
        let (intent, p) = &recorded[0];
        assert_eq!(p["branch"], branch.as_str());
        assert_eq!(p["commit"], head.to_string().as_str());
        let done = outcome(&all, intent);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].0, "intent_completed");
        assert_eq!(done[0].2["already_done"], false);

        // The run records its workspace commit before and after.
        let started = all
            .iter()
            .find(|(k, i, _)| k == "run_started" && i.as_deref() == Some(id))
            .unwrap();
        let finished = all
            .iter()
            .find(|(k, i, _)| k == "run_finished" && i.as_deref() == Some(id))
            .unwrap();
        let before = started.2["head"].as_str().expect("head before the run");
        assert_eq!(finished.2["head"], head.to_string().as_str());
        assert_eq!(
            repo.find_commit(head)
                .unwrap()
                .parent_id(0)
                .unwrap()
                .to_string(),
            before
        );

        // The push settled before the ticket's next tracker move.
        let pushed_at = position(&all, |(k, _, p)| {
            k == "intent_completed" && p["intent_id"] == intent.as_str()
        });
        let moved_at = position(&all, |(k, i, p)| {
            k == "intent_recorded" && i.as_deref() == Some(id) && p["column"] == "Human Review"
        });
        assert!(pushed_at < moved_at, "{id}: pushed, then moved");
    }

    // Approved: finalize commits, pushes, and the ticket is done; its workspace, now
    // fully pushed, is removed.
    s.set_column("QS-1", "Approved");
    s.once();
    assert_eq!(s.column("QS-1"), "Done");
    let head = tip(&repo, "karajan/QS-1").unwrap();
    let msg = message(&repo, head);
    assert!(msg.starts_with("finalize:"), "{msg}");
    assert!(!s.path().join(".karajan/workspaces/QS-1").exists());
    let all = events(&s.db());
    assert_eq!(pushes(&all, "QS-1").len(), 2);
    assert!(
        all.iter()
            .any(|(k, i, _)| k == "workspace_removed" && i.as_deref() == Some("QS-1"))
    );
}

/// Someone else pushes to the ticket's branch: karajan's next push is refused, recorded
/// as a final failure with git's reason, the other commit stays, and the ticket is
/// escalated. The workspace, holding commits pushed nowhere, is kept when the ticket is
/// done.
#[test]
fn a_rejected_push_fails_clearly_is_never_forced_and_keeps_the_workspace() {
    let s = Scratch::quickstart();
    s.once();
    let repo = bare(&s);
    let theirs = {
        let parent = repo
            .find_commit(tip(&repo, "karajan/QS-1").unwrap())
            .unwrap();
        let sig = Signature::now("someone", "someone@example.invalid").unwrap();
        let tree = parent.tree().unwrap();
        repo.commit(
            Some("refs/heads/karajan/QS-1"),
            &sig,
            &sig,
            "someone else's commit",
            &tree,
            &[&parent],
        )
        .unwrap()
    };
    s.set_column("QS-1", "Approved");
    s.once_exiting(6); // 6: a ticket escalated
    assert_eq!(tip(&repo, "karajan/QS-1"), Some(theirs), "never forced");
    let all = events(&s.db());
    let recorded = pushes(&all, "QS-1");
    assert_eq!(recorded.len(), 2);
    let failed = outcome(&all, &recorded[1].0);
    assert_eq!(failed.len(), 1, "tried once, not retried: {failed:?}");
    assert_eq!(failed[0].0, "intent_failed");
    assert_eq!(failed[0].2["retryable"], false);
    let error = failed[0].2["error"].as_str().unwrap();
    assert!(error.contains("non-fast-forward"), "{error}");
    assert!(error.contains("never force"), "{error}");

    // The work could not be pushed: the ticket is handed to a human with the reason,
    // not moved on as if it had landed.
    assert_eq!(s.column("QS-1"), "Human Review");
    let escalated = all
        .iter()
        .find(|(k, i, _)| k == "escalated" && i.as_deref() == Some("QS-1"))
        .expect("escalated");
    assert!(
        escalated.2["reason"]
            .as_str()
            .unwrap()
            .contains("non-fast-forward"),
        "{escalated:?}"
    );
    assert!(s.read_ticket("QS-1").contains("could not be pushed"));

    // A human accepts it as it is: done, but the finalize commit is on no remote, so
    // the workspace stays.
    s.set_column("QS-1", "Approved");
    s.once();
    let all = events(&s.db());
    assert_eq!(s.column("QS-1"), "Done");
    let ws = s.path().join(".karajan/workspaces/QS-1");
    assert!(ws.exists(), "the unpushed workspace is kept");
    let kept = all
        .iter()
        .find(|(k, i, _)| k == "workspace_kept" && i.as_deref() == Some("QS-1"))
        .expect("a workspace_kept event");
    assert_eq!(kept.2["branch"], "karajan/QS-1");
    assert_eq!(
        kept.2["head"],
        workspace_head(&s, "QS-1").to_string().as_str()
    );
    assert!(
        !all.iter()
            .any(|(k, i, _)| k == "workspace_removed" && i.as_deref() == Some("QS-1")),
        "nothing unpushed is deleted"
    );
}

/// The daemon dies while its pushes are owed (recorded, not confirmed): the remote's
/// `config` is a FIFO, so opening it blocks the push until the test kills the daemon.
/// After the restart each branch is pushed exactly once.
#[test]
fn a_push_owed_when_the_daemon_was_killed_is_made_once_after_restart() {
    let s = Scratch::quickstart();
    let target = s.path().join("push-target.git");
    Repository::init_bare(&target).unwrap();
    let config = std::fs::read(target.join("config")).unwrap();
    std::fs::remove_file(target.join("config")).unwrap();
    nix::unistd::mkfifo(&target.join("config"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let wf = std::fs::read_to_string(s.workflow()).unwrap();
    std::fs::write(
        s.workflow(),
        wf.replace(
            "forge: { kind: git }",
            "forge: { kind: git, remote: ./push-target.git }",
        ),
    )
    .unwrap();
    assert!(
        std::fs::read_to_string(s.workflow())
            .unwrap()
            .contains("push-target.git")
    );

    let mut daemon = super::single_daemon::daemon(&s, "push-daemon", &[]).take();
    let db = s.db();
    wait_for("three owed pushes", Duration::from_secs(30), || {
        let all = events(&db);
        ["QS-1", "QS-2", "QS-3"]
            .iter()
            .all(|id| pushes(&all, id).len() == 1)
    });
    std::thread::sleep(Duration::from_millis(300));
    daemon.kill().unwrap(); // SIGKILL
    daemon.wait().unwrap();
    let all = events(&db);
    for id in ["QS-1", "QS-2", "QS-3"] {
        let (intent, _) = &pushes(&all, id)[0];
        assert!(outcome(&all, intent).is_empty(), "{id}'s push is owed");
        assert_eq!(
            s.column(id),
            "In Progress",
            "{id} did not move on before its push"
        );
    }

    std::fs::remove_file(target.join("config")).unwrap();
    std::fs::write(target.join("config"), config).unwrap();
    s.once();
    let repo = Repository::open_bare(&target).unwrap();
    let all = events(&db);
    for id in ["QS-1", "QS-2", "QS-3"] {
        let recorded = pushes(&all, id);
        assert_eq!(recorded.len(), 1, "{id}: no second push intent");
        let done = outcome(&all, &recorded[0].0);
        assert_eq!(done.len(), 1, "{id}: settled once: {done:?}");
        assert_eq!(done[0].0, "intent_completed");
        assert_eq!(
            tip(&repo, &format!("karajan/{id}")),
            Some(workspace_head(&s, id))
        );
        assert_eq!(s.column(id), "Human Review", "{id} moved on after its push");
    }
}

/// A push that reached the remote before the crash is confirmed by reading the remote
/// back, not made again.
#[test]
fn a_retried_push_that_already_landed_is_confirmed_not_repeated() {
    let s = Scratch::quickstart();
    let wf = std::fs::read_to_string(s.workflow()).unwrap();
    // First without a forge: the agents commit, nothing is pushed.
    std::fs::write(s.workflow(), wf.replace("forge: { kind: git }\n", "")).unwrap();
    s.once();
    let repo = bare(&s);
    assert_eq!(tip(&repo, "karajan/QS-1"), None, "no forge: nothing pushed");
    let head = workspace_head(&s, "QS-1");
    // The push happened, then the daemon died before recording its outcome.
    let ws = Repository::open(s.path().join(".karajan/workspaces/QS-1")).unwrap();
    let mut remote = ws
        .remote_anonymous(&s.path().join("demo-repo.git").display().to_string())
        .unwrap();
    remote
        .push(&["refs/heads/karajan/QS-1:refs/heads/karajan/QS-1"], None)
        .unwrap();
    std::fs::write(s.workflow(), &wf).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use karajan::store::{EventKind, IntentOp, NewEvent, Store};
        let store = Store::open(&s.db(), &s.path().join(".karajan/checkpoints"))
            .await
            .unwrap();
        store
            .append(vec![NewEvent::for_issue(
                "QS-1",
                EventKind::IntentRecorded {
                    intent_id: "i-landed".into(),
                    op: IntentOp::Push {
                        branch: "karajan/QS-1".into(),
                        remote: s.path().join("demo-repo.git").display().to_string(),
                        commit: head.to_string(),
                    },
                },
            )])
            .await
            .unwrap();
    });
    s.once();
    let all = events(&s.db());
    let done = outcome(&all, "i-landed");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0, "intent_completed");
    assert_eq!(done[0].2["already_done"], true);
    assert_eq!(tip(&repo, "karajan/QS-1"), Some(head));
}

#[test]
fn the_forge_token_reaches_neither_agents_nor_events() {
    let s = Scratch::quickstart();
    let root = s.path().display().to_string();
    s.script(
        "env-agent.sh",
        &format!(
            "#!/bin/sh\nenv > \"{root}/agent-env-$KARAJAN_ISSUE.txt\"\nexec \"{root}/agent.sh\"\n"
        ),
    );
    let wf = std::fs::read_to_string(s.workflow()).unwrap();
    let wf = wf
        .replace("[\"./agent.sh\"]", "[\"./env-agent.sh\"]")
        .replace(
            "forge: { kind: git }",
            "forge:\n  kind: github\n  repo: acme/demo\n  token: $KARAJAN_E2E_FORGE_TOKEN\n  remote: ./demo-repo.git",
        );
    std::fs::write(s.workflow(), wf).unwrap();
    let secret = "ghp-e2e-forge-token-0123456789";
    let out = crate::e2e::support::command()
        .args(["run", "workflow.yaml", "--once"])
        .current_dir(s.path())
        .env("KARAJAN_E2E_FORGE_TOKEN", secret)
        .env("KARAJAN_LOG", "debug")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains(secret));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
    for id in ["QS-1", "QS-2", "QS-3"] {
        let env = std::fs::read_to_string(s.path().join(format!("agent-env-{id}.txt"))).unwrap();
        assert!(env.contains("KARAJAN_ISSUE="), "the agent ran");
        assert!(!env.contains(secret), "{id}'s agent saw the forge token");
    }
    let all = events(&s.db());
    assert!(
        !pushes(&all, "QS-1").is_empty(),
        "pushed (to the local path)"
    );
    for (kind, _, payload) in &all {
        assert!(
            !payload.to_string().contains(secret),
            "{kind} carries the token"
        );
    }
}
