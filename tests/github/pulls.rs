//! Pull requests end to end: the real binary on the fake GitHub (tracker and forge in
//! one), pushing over git's smart HTTP to a bare repository that the fake's pull
//! requests read their branches from. A state with `pull_request: open` pushes the
//! ticket's branch and opens its pull request (`Closes #N`, the title from the
//! template); a rework updates the same pull request; an answer to the creation that
//! was lost, or a daemon killed while the creation was in flight, never opens a second.

use std::process::Stdio;
use std::time::Duration;

use super::fake::TOKEN;
use super::pr_scratch::PrScratch;
use super::scratch::TOKEN_VAR;
use crate::e2e::support::{count, events, wait_for};

#[test]
fn a_state_opens_one_pull_request_per_ticket_and_a_rework_updates_it() {
    let p = PrScratch::new();
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    assert_eq!(p.s.column(1), "Human Review");
    let pulls = p.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let pr = &pulls[0];
    assert!(pr.open && !pr.draft && pr.base == "main", "{pr:?}");
    assert_eq!(pr.title, "Add a greeting (acme/app#1)");
    assert!(pr.body.contains("Closes #1"), "{}", pr.body);
    assert!(
        p.tip(&pr.head_ref).is_some(),
        "the head branch {} is on the forge",
        pr.head_ref
    );
    let evs = events(&p.db());
    let opened: Vec<_> = evs
        .iter()
        .filter(|(k, _, _)| k == "pull_request_opened")
        .collect();
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0].2["number"], pr.number);
    assert_eq!(opened[0].2["created"], true);
    // The push came before the pull request, in the ticket's chain.
    let order: Vec<&str> = evs
        .iter()
        .filter(|(k, _, _)| k == "intent_recorded")
        .map(|(_, _, p)| p["op"].as_str().unwrap())
        .filter(|op| *op == "push" || *op == "pull_request")
        .collect();
    assert_eq!(order, ["push", "pull_request"]);

    // A human asks for rework: the agent runs again, its new commit is pushed and the
    // same pull request is updated, not a second one opened.
    let first_tip = p.tip(&pr.head_ref).unwrap();
    p.s.human_move(1, "Rework");
    p.s.once();
    assert_eq!(p.s.column(1), "Human Review");
    assert_ne!(
        p.tip(&pr.head_ref).unwrap(),
        first_tip,
        "the rework was pushed"
    );
    assert_eq!(p.pulls().len(), 1, "{:?}", p.pulls());
    assert_eq!(p.creates(), 1);
    let evs = events(&p.db());
    assert_eq!(count(&evs, "pull_request_opened", "acme/app#1"), 2);
    let last = evs
        .iter()
        .rev()
        .find(|(k, _, _)| k == "pull_request_opened")
        .unwrap();
    assert_eq!(last.2["created"], false);
    assert_eq!(last.2["number"], pr.number);
}

#[test]
fn a_lost_answer_to_opening_the_pull_request_does_not_open_a_second() {
    let p = PrScratch::new();
    p.s.fake.lock().lose_pull_creates = 1;
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    assert_eq!(p.s.column(1), "Human Review");
    assert_eq!(p.pulls().len(), 1, "{:?}", p.pulls());
    assert_eq!(p.creates(), 1, "the lost creation was found, not repeated");
    let evs = events(&p.db());
    assert_eq!(count(&evs, "pull_request_opened", "acme/app#1"), 1);
    assert_eq!(count(&evs, "intent_failed", "acme/app#1"), 0);
}

#[test]
fn a_pull_request_github_refuses_escalates_the_ticket_with_the_reason() {
    let p = PrScratch::new();
    // The base branch does not exist on the forge: GitHub answers 422.
    let wf = std::fs::read_to_string(p.s.path().join("workflow.yaml")).unwrap();
    std::fs::write(
        p.s.path().join("workflow.yaml"),
        wf.replace(
            "  pull_request:\n",
            "  pull_request:\n    base: no-such-base\n",
        ),
    )
    .unwrap();
    p.s.add_issue(1, "Add a greeting", "Todo");
    // Ends with an escalation, which `--once` reports in its exit status.
    p.s.karajan(&["run", "workflow.yaml", "--once"]);
    assert!(p.pulls().is_empty());
    assert_eq!(p.creates(), 1, "a refusal is not retried");
    let evs = events(&p.db());
    let escalated: Vec<_> = evs
        .iter()
        .filter(|(k, _, _)| k == "escalated")
        .map(|(_, _, p)| p["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        escalated
            .iter()
            .any(|r| r.contains("pull request") && r.contains("`base` invalid")),
        "{escalated:?}"
    );
}

#[test]
fn a_daemon_killed_while_the_pull_request_is_opened_opens_one_after_restart() {
    let p = PrScratch::new();
    // GitHub carries out the creation, but its answer comes too late: the daemon is
    // killed while it waits, after the pull request exists.
    p.s.fake.lock().delay_pull_creates = Some(Duration::from_secs(30));
    p.s.add_issue(1, "Add a greeting", "Todo");
    let mut daemon = crate::e2e::support::command()
        .args(["run", "workflow.yaml"])
        .current_dir(p.s.path())
        .env(TOKEN_VAR, TOKEN)
        .env("KARAJAN_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the pull request to exist", Duration::from_secs(60), || {
        !p.pulls().is_empty()
    });
    daemon.kill().unwrap(); // SIGKILL
    daemon.wait().unwrap();
    p.s.fake.lock().delay_pull_creates = None;
    let evs = events(&p.db());
    assert_eq!(
        count(&evs, "pull_request_opened", "acme/app#1"),
        0,
        "killed before the answer was recorded"
    );
    p.s.once();
    assert_eq!(p.s.column(1), "Human Review");
    assert_eq!(p.pulls().len(), 1, "{:?}", p.pulls());
    assert_eq!(p.creates(), 1, "found after the restart, not opened again");
    let evs = events(&p.db());
    assert_eq!(count(&evs, "pull_request_opened", "acme/app#1"), 1);
}

/// The workflow of `p` reduced to implement → review (merging with `merge_lines`) → done.
pub(crate) fn merging(p: &PrScratch, merge_lines: &str) {
    let path = p.s.path().join("workflow.yaml");
    let wf = std::fs::read_to_string(&path).unwrap();
    let old = "    approve: finalize\n    rework: implement\n    max_rework: 2\n  finalize:\n    kind: agent\n    runner: demo\n    prompt: prompts/finalize.md\n    next: done\n";
    assert!(wf.contains(old), "{wf}");
    let new = format!("    approve: done\n    rework: implement\n    max_rework: 2\n{merge_lines}");
    std::fs::write(path, wf.replace(old, &new)).unwrap();
}

fn escalations(p: &PrScratch) -> Vec<String> {
    events(&p.db())
        .iter()
        .filter(|(k, _, _)| k == "escalated")
        .map(|(_, _, e)| e["reason"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A commit on `branch` of the served repository that changes `file` to `text`.
fn commit_on_forge(p: &PrScratch, branch: &str, file: &str, text: &str) -> String {
    let repo = git2::Repository::open_bare(p.s.path().join("served/acme/app.git")).unwrap();
    let parent = repo
        .find_reference(&format!("refs/heads/{branch}"))
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let blob = repo.blob(text.as_bytes()).unwrap();
    let mut tb = git2::build::TreeUpdateBuilder::new();
    tb.upsert(file, blob, git2::FileMode::Blob);
    let tree = repo
        .find_tree(tb.create_updated(&repo, &parent.tree().unwrap()).unwrap())
        .unwrap();
    let sig = git2::Signature::now("someone", "someone@example.invalid").unwrap();
    let oid = repo
        .commit(
            Some(&format!("refs/heads/{branch}")),
            &sig,
            &sig,
            "someone else's change",
            &tree,
            &[&parent],
        )
        .unwrap();
    oid.to_string()
}

#[test]
fn an_approved_gate_merges_the_pull_request_then_the_ticket_is_done() {
    let p = PrScratch::new();
    merging(&p, "    merge: squash\n");
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    assert_eq!(p.s.column(1), "Human Review");
    let pr = p.pulls()[0].clone();
    let head = p.tip(&pr.head_ref).unwrap();
    let main_before = p.tip("main").unwrap();

    p.s.human_move(1, "Approved");
    let out = p.s.karajan(&["run", "workflow.yaml", "--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        p.s.fake.lock().merge_requests,
        vec![(pr.number, "squash".to_string())],
        "{stderr}"
    );
    let pr_now = p.pulls()[0].clone();
    assert!(pr_now.merged && !pr_now.open, "{pr_now:?}");
    // Really merged: main moved, and has the agent's file.
    let main_after = p.tip("main").unwrap();
    assert_ne!(main_after, main_before);
    let repo = git2::Repository::open_bare(p.s.path().join("served/acme/app.git")).unwrap();
    let tree = repo
        .find_commit(git2::Oid::from_str(&main_after).unwrap())
        .unwrap()
        .tree()
        .unwrap();
    assert!(
        tree.get_path(std::path::Path::new("notes")).is_ok(),
        "the agent's notes are on main"
    );
    let evs = events(&p.db());
    let merged: Vec<_> = evs
        .iter()
        .filter(|(k, _, _)| k == "pull_request_merged")
        .collect();
    assert_eq!(merged.len(), 1, "{merged:?}");
    // The merge was guarded by the head karajan pushed.
    let merge_intent = evs
        .iter()
        .find(|(k, _, e)| k == "intent_recorded" && e["op"] == "merge")
        .unwrap();
    assert_eq!(merge_intent.2["head"], head.as_str());
    // Then the approval took effect: the ticket is done (GitHub closed the issue on
    // the merge, `Closes #1`; karajan does not fail on that).
    let done = evs
        .iter()
        .any(|(k, _, e)| k == "transition" && e["to"] == "done");
    assert!(done, "{stderr}");
    assert!(!p.s.fake.issue(1).open, "closed by the merge");
    assert!(out.status.success(), "{stderr}");
}

#[test]
fn a_merge_github_refuses_escalates_with_the_reason_and_is_not_retried() {
    let p = PrScratch::new();
    merging(&p, "    merge: merge\n");
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    // Someone changes the agent's file on main meanwhile: a conflict.
    let file = "notes/acme_app_1.md";
    commit_on_forge(&p, "main", file, "someone else's words\n");
    p.s.human_move(1, "Approved");
    p.s.karajan(&["run", "workflow.yaml", "--once"]);
    assert!(p.s.fake.lock().merge_requests.is_empty());
    let merges = p.merge_attempts();
    assert_eq!(merges, 1, "tried once, not in a loop");
    assert!(
        escalations(&p)
            .iter()
            .any(|r| r.contains("could not be merged") && r.contains("not mergeable")),
        "{:?}",
        escalations(&p)
    );
    assert_eq!(p.s.column(1), "Human Review", "handed to a human");
    assert!(p.pulls()[0].open);
}

#[test]
fn a_pull_request_someone_pushed_to_is_not_merged_blindly() {
    let p = PrScratch::new();
    merging(&p, "    merge: squash\n");
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    let branch = p.pulls()[0].head_ref.clone();
    commit_on_forge(&p, &branch, "other.txt", "a late change\n");
    p.s.human_move(1, "Approved");
    p.s.karajan(&["run", "workflow.yaml", "--once"]);
    let merges = p.merge_attempts();
    assert_eq!(merges, 0, "refused before asking GitHub");
    assert!(
        escalations(&p)
            .iter()
            .any(|r| r.contains("not merging blindly")),
        "{:?}",
        escalations(&p)
    );
    assert!(p.pulls()[0].open && !p.pulls()[0].merged);
}

#[test]
fn a_merge_conflict_can_send_the_ticket_back_to_the_agent() {
    let p = PrScratch::new();
    merging(&p, "    merge: squash\n    merge_failure: rework\n");
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    commit_on_forge(&p, "main", "notes/acme_app_1.md", "someone else's words\n");
    p.s.human_move(1, "Approved");
    p.s.karajan(&["run", "workflow.yaml", "--once"]);
    let evs = events(&p.db());
    let back = evs
        .iter()
        .find(|(k, _, e)| k == "transition" && e["from"] == "review" && e["to"] == "implement");
    let Some((_, _, back)) = back else {
        panic!("not sent back: {evs:?}")
    };
    assert!(
        back["feedback"]
            .as_str()
            .is_some_and(|f| f.contains("not mergeable")),
        "{back}"
    );
    assert!(escalations(&p).is_empty(), "{:?}", escalations(&p));
}

/// A forge on the tracker's API with the tracker's token spends the tracker's
/// rate-limit budget (one HTTP layer); another token has its own.
#[test]
fn the_forge_shares_the_github_trackers_budget() {
    use karajan::config::{ForgeConfig, ForgeKind, GithubForge, Secret};
    use karajan::tracker::Tracker;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(super::fake::Fake::start());
    let tracker = super::tracker(&fake, "labels", "");
    let shared = tracker.github_http().expect("a GitHub tracker has one");
    let forge = |token: &str| {
        karajan::forge::Forge::sharing(
            &ForgeConfig {
                kind: ForgeKind::Github(Box::new(GithubForge::new(
                    &fake.url,
                    "acme",
                    "app",
                    Secret::new(token),
                ))),
                remote: format!("{}/acme/app.git", fake.url),
                ca_file: None,
            },
            Some(shared.clone()),
        )
    };
    let same = forge(TOKEN);
    assert!(same.github().unwrap().shares_http_with(&shared));
    let other = forge("ghp_another_token");
    assert!(!other.github().unwrap().shares_http_with(&shared));
}

#[test]
fn a_draft_is_marked_ready_when_the_ticket_enters_the_configured_state() {
    let p = PrScratch::new();
    let path = p.s.path().join("workflow.yaml");
    let wf = std::fs::read_to_string(&path).unwrap();
    assert!(wf.contains("  pull_request:\n"));
    std::fs::write(
        &path,
        wf.replace(
            "  pull_request:\n",
            "  pull_request:\n    draft: true\n    ready_in: review\n",
        ),
    )
    .unwrap();
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    assert_eq!(p.s.column(1), "Human Review");
    let pulls = p.pulls();
    assert_eq!(pulls.len(), 1);
    assert!(!pulls[0].draft, "marked ready on entering `review`");
    let requests = p.s.fake.requests();
    let created = requests
        .iter()
        .position(|r| r == "POST /repos/acme/app/pulls")
        .expect("opened");
    let ready = requests
        .iter()
        .position(|r| r == "POST graphql MarkReady")
        .expect("marked ready");
    assert!(created < ready, "{requests:?}");
    let evs = events(&p.db());
    assert_eq!(
        evs.iter()
            .filter(|(k, _, e)| k == "intent_recorded" && e["op"] == "ready_for_review")
            .count(),
        1
    );
    assert_eq!(count(&evs, "intent_failed", "acme/app#1"), 0);
}

#[test]
fn a_lost_answer_to_the_merge_is_read_back_not_merged_twice() {
    let p = PrScratch::new();
    merging(&p, "    merge: squash\n");
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    p.s.fake.lock().lose_merge_answers = 1;
    p.s.human_move(1, "Approved");
    let out = p.s.karajan(&["run", "workflow.yaml", "--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(p.s.fake.lock().merge_requests.len(), 1, "{stderr}");
    assert!(p.pulls()[0].merged);
    let evs = events(&p.db());
    assert_eq!(count(&evs, "pull_request_merged", "acme/app#1"), 1);
    assert!(escalations(&p).is_empty(), "{:?}", escalations(&p));
    assert!(
        evs.iter()
            .any(|(k, _, e)| k == "transition" && e["to"] == "done"),
        "{stderr}"
    );
}
