//! A Linear ticket's code on GitHub: the pull request a state opens is attached to the
//! Linear issue (Linear's link attachment, one per URL), and its body names the ticket
//! (no `Closes #N`: the issue is not GitHub's).

use crate::e2e::git_http::GitHttp;
use crate::e2e::support::{Scratch, copy_tree, events, repo_root};
use crate::github::fake::{Fake, TOKEN};

use super::e2e::run_once;
use super::fake::FakeLinear;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pull_request_is_attached_to_the_linear_issue_once() {
    let s = Scratch::quickstart();
    let served = s.path().join("served");
    copy_tree(
        &repo_root().join("examples/quickstart/demo-repo.git"),
        &served.join("acme/app.git"),
    );
    let github = Fake::start().await;
    github.lock().git_root = Some(served.clone());
    let git = GitHttp::serve(&served, TOKEN);
    let yaml = std::fs::read_to_string(s.workflow()).unwrap();
    let forge = format!(
        "forge:\n  kind: github\n  api_url: {}\n  repo: acme/app\n  token: {TOKEN}\n  remote: {}/acme/app.git",
        github.url,
        git.url()
    );
    assert!(yaml.contains("forge: { kind: git }") && yaml.contains("    next: review\n"));
    let yaml = yaml
        .replace("approved: Approved", "approved: Gate Approved")
        .replace("forge: { kind: git }", &forge)
        .replacen(
            "    next: review\n",
            "    next: review\n    pull_request: open\n",
            1,
        );
    let yaml = yaml.replace("repo: ./demo-repo.git", "repo: ./served/acme/app.git");
    std::fs::write(s.workflow(), yaml).unwrap();
    let fake = FakeLinear::start().await;
    let id = fake.world().add_issue("Todo", "Add a friendly greeting");

    run_once(s.path(), &fake).await;
    assert_eq!(fake.world().column_of(&id), "Human Review");
    let pulls = github.lock().pulls.clone();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let uuid = fake.world().issue(&id).id.clone();
    assert!(
        pulls[0].body.contains(&format!("Ticket: [{id}]")),
        "{}",
        pulls[0].body
    );
    assert!(!pulls[0].body.contains("Closes"), "{}", pulls[0].body);
    let url = format!("https://github.com/acme/app/pull/{}", pulls[0].number);
    let attached = fake.world().attachments.clone();
    assert_eq!(
        attached,
        vec![(
            uuid,
            url.clone(),
            format!("Pull request #{}", pulls[0].number)
        )]
    );
    let db = s.db();
    let evs = tokio::task::spawn_blocking(move || events(&db))
        .await
        .unwrap();
    let attach = evs
        .iter()
        .filter(|(k, _, e)| k == "intent_recorded" && e["op"] == "attach")
        .count();
    assert_eq!(attach, 1);

    // A rework pushes again and updates the same pull request: no second attachment.
    fake.world().move_issue(&id, "Rework");
    run_once(s.path(), &fake).await;
    assert_eq!(github.lock().pulls.len(), 1);
    assert_eq!(fake.world().attachments.len(), 1);
    let requests = fake
        .world()
        .requests
        .iter()
        .filter(|r| r.operation == "AttachLink")
        .count();
    assert_eq!(
        requests, 1,
        "attached when the pull request was first recorded"
    );
}
