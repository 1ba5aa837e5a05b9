//! Project mode: option resolution, missing options, pagination, skipped items, moves,
//! comments, detail and blockers.

use karajan::domain::{Blocker, TicketRef};
use karajan::tracker::Tracker;

use super::fake::{Fake, PROJECT_ID};
use super::{columns, tracker};

#[tokio::test]
async fn resolves_project_field_and_options() {
    let fake = Fake::start().await;
    let t = tracker(&fake, "project", "");
    let facts = t.reload().await.expect("resolved");
    assert!(facts.iter().any(|f| f.contains("Roadmap")), "{facts:?}");
    assert!(
        facts
            .iter()
            .any(|f| f.contains("Todo, In Progress, Human Review, Done")),
        "{facts:?}"
    );
    // Cached: a poll does not resolve again.
    fake.add_issue(1, Some("Todo"), &[]);
    t.fetch_candidates(&columns(&["Todo"]))
        .await
        .expect("fetch");
    let resolves = fake
        .requests()
        .iter()
        .filter(|r| r.ends_with("ResolveProject"))
        .count();
    assert_eq!(resolves, 1);
}

#[tokio::test]
async fn resolves_a_user_owned_project() {
    let fake = Fake::start().await;
    fake.lock().owner_is_org = false;
    let t = tracker(&fake, "project", "");
    let check = t.check(&columns(&["Todo", "Done"])).await.expect("check");
    assert!(check.errors.is_empty(), "{:?}", check.errors);
}

#[tokio::test]
async fn missing_option_is_rejected_naming_existing_options() {
    let fake = Fake::start().await;
    let t = tracker(&fake, "project", "");
    let check = t
        .check(&columns(&["Todo", "Ready for QA"]))
        .await
        .expect("check");
    assert_eq!(check.errors.len(), 1, "{:?}", check.errors);
    let e = &check.errors[0];
    assert!(
        e.contains("Ready for QA") && e.contains("Todo, In Progress, Human Review, Done"),
        "{e}"
    );
    // The poll refuses too: a renamed column never silently stops dispatch.
    let err = t
        .fetch_candidates(&columns(&["Ready for QA"]))
        .await
        .expect_err("missing option");
    assert!(err.to_string().contains("existing options: Todo"), "{err}");
}

#[tokio::test]
async fn paginates_and_skips_pull_requests_drafts_and_other_columns() {
    let fake = Fake::start().await;
    for n in 1..=7 {
        fake.add_issue(
            n,
            Some(if n % 2 == 0 { "In Progress" } else { "Todo" }),
            &["Bug", "karajan:todo"],
        );
    }
    fake.add_issue(8, Some("Todo"), &[]);
    fake.edit(8, |i| i.is_pr = true);
    fake.add_issue(9, Some("Todo"), &[]);
    fake.edit(9, |i| i.draft = true);
    fake.add_issue(10, Some("Done"), &[]);
    fake.add_issue(11, Some("Todo"), &[]);
    fake.edit(11, |i| i.open = false);
    let t = tracker(&fake, "project", "").with_page_size(3);
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
            "acme/app#7"
        ]
    );
    let pages = fake
        .requests()
        .iter()
        .filter(|r| r.ends_with("ProjectItems"))
        .count();
    assert_eq!(pages, 4, "11 board items at 3 a page");
    let first = &got.tickets[0];
    assert_eq!(first.column, "Todo");
    assert_eq!(
        first.labels,
        vec!["bug".to_string()],
        "lowercased, state labels hidden"
    );
    assert_eq!(first.priority, None);
    assert_eq!(got.tickets[1].column, "In Progress");
    // The terminal sweep sees the Done ticket and the closed one (closed by hand while
    // its card says `Todo`: finished, so in the done column).
    let swept = t.terminal_sweep().await.expect("sweep");
    assert_eq!(
        swept
            .tickets
            .iter()
            .map(|s| (s.identifier.as_str(), s.column.as_str()))
            .collect::<Vec<_>>(),
        [("acme/app#10", "Done"), ("acme/app#11", "Done")]
    );
}

#[tokio::test]
async fn moves_cards_comments_and_closes_on_terminal() {
    let fake = Fake::start().await;
    fake.add_issue(5, Some("Todo"), &[]);
    let t = tracker(&fake, "project", "close_on_terminal: true\n");
    let got = t
        .fetch_candidates(&columns(&["Todo"]))
        .await
        .expect("fetch");
    let ticket = got.tickets[0].ticket_ref();
    t.move_ticket(&ticket, "In Progress").await.expect("move");
    assert_eq!(fake.issue(5).status.as_deref(), Some("In Progress"));
    assert!(fake.issue(5).open);
    t.comment(&ticket, "started <!-- karajan:{\"state\":\"code\"} -->")
        .await
        .expect("comment");
    t.comment(&ticket, "second").await.expect("comment");
    let comments = t.comments(&ticket).await.expect("comments");
    assert_eq!(comments.len(), 2);
    assert!(comments[0].is_karajan() && !comments[1].is_karajan());
    t.move_ticket(&ticket, "Done").await.expect("move");
    assert_eq!(fake.issue(5).status.as_deref(), Some("Done"));
    assert!(!fake.issue(5).open, "closed on the terminal column");
    let err = t
        .move_ticket(&ticket, "Nowhere")
        .await
        .expect_err("no option");
    assert!(err.to_string().contains("Nowhere"));
}

#[tokio::test]
async fn move_without_a_cached_item_looks_it_up() {
    let fake = Fake::start().await;
    fake.add_issue(3, Some("Todo"), &[]);
    let t = tracker(&fake, "project", "");
    let ticket = TicketRef {
        id: "I_node3".into(),
        identifier: "acme/app#3".into(),
    };
    t.move_ticket(&ticket, "Human Review").await.expect("move");
    assert_eq!(fake.issue(3).status.as_deref(), Some("Human Review"));
}

#[tokio::test]
async fn detail_reads_column_priority_and_blockers() {
    let fake = Fake::start().await;
    fake.add_issue(1, Some("Done"), &[]);
    fake.edit(1, |i| i.open = false);
    fake.add_issue(2, Some("Todo"), &[]);
    fake.add_issue(3, Some("In Progress"), &["Feature"]);
    fake.edit(3, |i| {
        i.blocked_by = vec![1, 2];
        i.priority_option = Some(1);
    });
    let t = tracker(&fake, "project", "priority: {field: Priority}\n");
    let got = t
        .fetch_by_identifiers(&columns(&["acme/app#3", "acme/app#99"]))
        .await
        .expect("detail");
    assert_eq!(got.len(), 1, "a missing issue is absent");
    let s = &got[0];
    assert_eq!(s.id, "I_node3");
    assert_eq!(s.column, "In Progress");
    assert_eq!(s.priority, Some(2), "second option of the priority field");
    assert_eq!(s.description, "Body of 3");
    assert_eq!(
        s.blocked_by,
        vec![
            Blocker {
                identifier: "acme/app#1".into(),
                resolved: true
            },
            Blocker {
                identifier: "acme/app#2".into(),
                resolved: false
            },
        ]
    );
    assert!(s.is_blocked());
    // Candidate polls carry the priority too.
    let c = t
        .fetch_candidates(&columns(&["In Progress"]))
        .await
        .expect("fetch");
    assert_eq!(c.tickets[0].priority, Some(2));
    let _ = PROJECT_ID;
}

#[tokio::test]
async fn blockers_fall_back_to_none_on_an_older_schema() {
    let fake = Fake::start().await;
    fake.lock().blocked_by_supported = false;
    fake.add_issue(1, Some("Todo"), &[]);
    fake.add_issue(2, Some("Todo"), &[]);
    fake.edit(2, |i| i.blocked_by = vec![1]);
    let t = tracker(&fake, "project", "");
    let got = t
        .fetch_by_identifiers(&columns(&["acme/app#2"]))
        .await
        .expect("detail");
    assert!(got[0].blocked_by.is_empty());
    t.fetch_by_identifiers(&columns(&["acme/app#2"]))
        .await
        .expect("detail");
    let asked = fake
        .requests()
        .iter()
        .filter(|r| r.ends_with("IssueBlockers"))
        .count();
    assert_eq!(asked, 1, "the unsupported field is not asked again");
}
