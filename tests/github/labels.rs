//! Labels mode: one request per column label with Link pagination, pull requests
//! excluded, moves, double state labels repaired, check and label creation.

use karajan::tracker::Tracker;

use super::fake::Fake;
use super::{columns, tracker};

#[tokio::test]
async fn paginates_per_label_and_excludes_pull_requests() {
    let fake = Fake::start().await;
    for n in 1..=5 {
        fake.add_issue(n, None, &["karajan:todo", "Bug"]);
    }
    for n in 6..=8 {
        fake.add_issue(n, None, &["karajan:in-progress"]);
    }
    fake.add_issue(9, None, &["karajan:todo"]);
    fake.edit(9, |i| i.is_pr = true);
    fake.add_issue(10, None, &["karajan:done"]);
    let t = tracker(&fake, "labels", "priority: {label_prefix: 'priority:'}\n").with_page_size(2);
    fake.edit(2, |i| i.labels.push("priority:urgent".into()));
    let got = t
        .fetch_candidates(&columns(&["Todo", "In Progress"]))
        .await
        .expect("fetch");
    let ids: Vec<&str> = got.tickets.iter().map(|s| s.identifier.as_str()).collect();
    assert_eq!(
        ids,
        [
            "acme/app#1",
            "acme/app#2",
            "acme/app#3",
            "acme/app#4",
            "acme/app#5",
            "acme/app#6",
            "acme/app#7",
            "acme/app#8"
        ]
    );
    assert!(got.skipped.is_empty());
    let reqs = fake.requests();
    let todo = reqs
        .iter()
        .filter(|r| r.contains("labels=karajan:todo"))
        .count();
    let wip = reqs
        .iter()
        .filter(|r| r.contains("labels=karajan:in-progress"))
        .count();
    assert_eq!(
        (todo, wip),
        (3, 2),
        "6 todo results (one a PR) at 2 a page; 3 in progress"
    );
    let two = &got.tickets[1];
    assert_eq!(two.column, "Todo");
    assert_eq!(two.priority, Some(1));
    assert_eq!(two.labels, vec!["bug".to_string()]);
    assert_eq!(got.tickets[5].column, "In Progress");
}

#[tokio::test]
async fn moves_add_then_remove_and_close_on_terminal() {
    let fake = Fake::start().await;
    fake.add_issue(4, None, &["karajan:todo", "bug"]);
    let t = tracker(&fake, "labels", "close_on_terminal: true\n");
    let got = t
        .fetch_candidates(&columns(&["Todo"]))
        .await
        .expect("fetch");
    let ticket = got.tickets[0].ticket_ref();
    fake.lock().requests.clear();
    t.move_ticket(&ticket, "In Progress").await.expect("move");
    assert_eq!(
        fake.issue(4).labels,
        vec!["bug".to_string(), "karajan:in-progress".to_string()]
    );
    let reqs = fake.requests();
    let add = reqs
        .iter()
        .position(|r| r.starts_with("POST") && r.ends_with("/labels"))
        .expect("add");
    let remove = reqs
        .iter()
        .position(|r| r.starts_with("DELETE"))
        .expect("remove");
    assert!(add < remove, "add first, then remove: {reqs:?}");
    t.move_ticket(&ticket, "Done").await.expect("move");
    assert!(!fake.issue(4).open);
    let swept = t.terminal_sweep().await.expect("sweep");
    assert_eq!(
        swept.tickets.len(),
        1,
        "closed tickets in terminal columns are swept"
    );
    // Comments work in labels mode too (GraphQL by node id).
    t.comment(&ticket, "done <!-- karajan:{} -->")
        .await
        .expect("comment");
    assert_eq!(t.comments(&ticket).await.expect("comments").len(), 1);
}

#[tokio::test]
async fn double_state_labels_are_repaired_to_the_recorded_column() {
    let fake = Fake::start().await;
    fake.add_issue(1, None, &["karajan:todo", "karajan:in-progress"]);
    fake.add_issue(2, None, &["karajan:todo", "karajan:in-progress"]);
    let t = tracker(&fake, "labels", "");
    let cols = columns(&["Todo", "In Progress"]);
    // Unknown to karajan: reported, not guessed.
    let got = t.fetch_candidates(&cols).await.expect("fetch");
    assert!(got.tickets.is_empty());
    assert_eq!(got.skipped.len(), 2);
    assert!(
        got.skipped[0].error.contains("two state labels"),
        "{:?}",
        got.skipped
    );
    // Recorded by the engine: repaired during the poll.
    t.note_recorded_column("acme/app#1", "In Progress").await;
    let got = t.fetch_candidates(&cols).await.expect("fetch");
    assert_eq!(got.tickets.len(), 1);
    assert_eq!(got.tickets[0].column, "In Progress");
    assert_eq!(
        fake.issue(1).labels,
        vec!["karajan:in-progress".to_string()]
    );
    // Or repaired explicitly.
    let ticket = karajan::domain::TicketRef {
        id: "I_node2".into(),
        identifier: "acme/app#2".into(),
    };
    let removed = t
        .repair_state_labels(&ticket, "Todo")
        .await
        .expect("repair");
    assert_eq!(removed, vec!["karajan:in-progress".to_string()]);
    assert_eq!(fake.issue(2).labels, vec!["karajan:todo".to_string()]);
}

#[tokio::test]
async fn check_reports_missing_labels_and_init_creates_them() {
    let fake = Fake::start().await;
    fake.lock().repo_labels.push("karajan:todo".into());
    let t = tracker(&fake, "labels", "");
    let cols = columns(&["Todo", "In Progress", "Done"]);
    let check = t.check(&cols).await.expect("check");
    assert_eq!(check.errors.len(), 2, "{:?}", check.errors);
    assert!(
        check.errors[0].contains("karajan:in-progress")
            && check.errors[0].contains("--github-labels")
    );
    let created = t.create_state_labels(&cols).await.expect("create");
    assert_eq!(
        created,
        vec![
            "karajan:in-progress".to_string(),
            "karajan:done".to_string()
        ]
    );
    assert!(t.check(&cols).await.expect("check").errors.is_empty());
    assert!(
        t.create_state_labels(&cols)
            .await
            .expect("again")
            .is_empty(),
        "422 already_exists tolerated"
    );
}

#[tokio::test]
async fn detail_reads_one_issue_and_drops_pull_requests() {
    let fake = Fake::start().await;
    fake.add_issue(1, None, &["karajan:human-review"]);
    fake.add_issue(2, None, &[]);
    fake.edit(2, |i| i.is_pr = true);
    let t = tracker(&fake, "labels", "").with_page_size(50);
    t.note_recorded_column("acme/app#0", "Human Review").await;
    let got = t
        .fetch_by_identifiers(&columns(&["acme/app#1", "acme/app#2", "acme/app#404"]))
        .await
        .expect("detail");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].column, "Human Review");
    assert_eq!(
        got[0].url.as_deref(),
        Some("https://github.com/acme/app/issues/1")
    );
}

#[tokio::test]
async fn a_state_label_outside_the_workflow_reads_as_that_label_and_does_not_fail() {
    let fake = Fake::start().await;
    fake.add_issue(7, None, &["karajan:blocked", "bug"]);
    fake.add_issue(8, None, &["karajan:todo"]);
    let t = tracker(&fake, "labels", "");
    // Not a candidate of any workflow column, and the poll still works.
    let got = t
        .fetch_candidates(&columns(&["Todo"]))
        .await
        .expect("fetch");
    let ids: Vec<&str> = got.tickets.iter().map(|s| s.identifier.as_str()).collect();
    assert_eq!(ids, ["acme/app#8"]);
    // A refresh of the ticket shows where a human put it, so the engine can hold it.
    let one = t
        .fetch_by_identifiers(&["acme/app#7".to_string()])
        .await
        .expect("refresh");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].column, "karajan:blocked");
    assert_eq!(one[0].labels, vec!["bug".to_string()]);
}
