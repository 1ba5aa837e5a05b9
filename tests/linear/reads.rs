//! Reads: pagination, batching, normalization, comments, the terminal sweep.

use karajan::domain::Blocker;
use karajan::tracker::{Tracker, TrackerError};
use serde_json::json;

use super::fake::{FakeLinear, origin};
use super::{columns, config, tracker};

#[tokio::test]
async fn candidates_follow_page_info_across_pages_in_order() {
    let fake = FakeLinear::start().await;
    let mut expected = Vec::new();
    {
        let mut w = fake.world();
        for n in 0..130 {
            let column = if n % 13 == 0 { "Done" } else { "Todo" };
            let id = w.add_issue(column, &format!("ticket {n}"));
            if column == "Todo" {
                expected.push(id);
            }
        }
    }
    let fetched = tracker(&fake)
        .fetch_candidates(&columns(&["Todo"]))
        .await
        .unwrap();
    let got: Vec<_> = fetched
        .tickets
        .iter()
        .map(|t| t.identifier.clone())
        .collect();
    assert_eq!(expected.len(), 120);
    assert_eq!(got, expected, "every candidate, in Linear's order");
    assert!(fetched.skipped.is_empty());
    assert_eq!(fake.count("ListIssues"), 3, "50 + 50 + 20");
    let w = fake.world();
    let vars: Vec<_> = w.requests.iter().map(|r| r.variables.clone()).collect();
    assert_eq!(vars[0]["first"], 50);
    assert_eq!(vars[0].get("after"), None, "no cursor on the first page");
    // The cursor names the last issue served by its place in Linear's order: the
    // 50th Todo issue is the 55th created (every 13th is Done).
    assert_eq!(vars[1]["after"], "cursor:54");
    assert_eq!(
        vars[0]["filter"],
        json!({"project": {"slugId": {"eq": "proj1"}}, "state": {"name": {"in": ["Todo"]}}})
    );
}

#[tokio::test]
async fn team_scope_filters_on_the_team_key() {
    let fake = FakeLinear::start().await;
    fake.world().add_issue("Todo", "a");
    let mut c = config(&fake);
    c.project = None;
    c.team = Some("ENG".into());
    let t = karajan::tracker::linear::LinearTracker::new(c).unwrap();
    let fetched = t
        .fetch_candidates(&columns(&["Todo", "Rework"]))
        .await
        .unwrap();
    assert_eq!(fetched.tickets.len(), 1);
    let w = fake.world();
    assert_eq!(
        w.requests[0].variables["filter"],
        json!({"team": {"key": {"eq": "ENG"}}, "state": {"name": {"in": ["Todo", "Rework"]}}})
    );
}

#[tokio::test]
async fn refresh_by_identifiers_batches_50_and_misses_nothing() {
    let fake = FakeLinear::start().await;
    let ids: Vec<String> = {
        let mut w = fake.world();
        (0..120)
            .map(|n| {
                w.add_issue(
                    if n % 2 == 0 {
                        "In Progress"
                    } else {
                        "Human Review"
                    },
                    "t",
                )
            })
            .collect()
    };
    let mut wanted = ids.clone();
    wanted.reverse();
    wanted.push("ENG-9999".into()); // deleted: simply absent
    let got = tracker(&fake).fetch_by_identifiers(&wanted).await.unwrap();
    let got_ids: Vec<_> = got.iter().map(|t| t.identifier.clone()).collect();
    let mut expect = ids.clone();
    expect.reverse();
    assert_eq!(got_ids, expect, "all 120, in the order asked");
    let w = fake.world();
    assert_eq!(
        w.count("ListIssues"),
        3,
        "121 identifiers = 3 batches of at most 50"
    );
    for r in &w.requests {
        let numbers: usize = r.variables["filter"]["or"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["number"]["in"].as_array().unwrap().len())
            .sum();
        assert!(numbers <= 50, "a batch of {numbers}");
    }
}

#[tokio::test]
async fn refresh_paginates_inside_a_batch() {
    let fake = FakeLinear::start().await;
    let ids: Vec<String> = {
        let mut w = fake.world();
        (0..50).map(|_| w.add_issue("In Progress", "t")).collect()
    };
    let mut c = config(&fake);
    c.page_size = 20;
    let t = karajan::tracker::linear::LinearTracker::new(c).unwrap();
    let got = t.fetch_by_identifiers(&ids).await.unwrap();
    assert_eq!(got.len(), 50);
    assert_eq!(fake.count("ListIssues"), 3, "one batch, pages of 20");
}

#[tokio::test]
async fn normalizes_labels_priority_and_fields() {
    let fake = FakeLinear::start().await;
    let id = {
        let mut w = fake.world();
        let id = w.add_issue("Todo", "Fix login");
        let i = w.issue_mut(&id);
        i.labels = vec!["Backend".into(), "Needs-QA".into()];
        i.priority = 2.0;
        let other = w.add_issue("Todo", "No priority");
        w.issue_mut(&other).priority = 0.0;
        id
    };
    let fetched = tracker(&fake)
        .fetch_candidates(&columns(&["Todo"]))
        .await
        .unwrap();
    let t = &fetched.tickets[0];
    assert_eq!(t.identifier, id);
    assert_eq!(t.id, "issue-uuid-1");
    assert_eq!(t.title, "Fix login");
    assert_eq!(t.description, "Description of Fix login");
    assert_eq!(t.labels, vec!["backend", "needs-qa"]);
    assert_eq!(t.priority, Some(2));
    assert_eq!(t.column, "Todo");
    assert_eq!(t.branch_name.as_deref(), Some("ada/eng-1"));
    assert_eq!(
        t.url.as_deref(),
        Some("https://linear.app/acme/issue/ENG-1")
    );
    assert_eq!(t.created_at, origin() + chrono::Duration::minutes(1));
    assert_eq!(fetched.tickets[1].priority, None);
}

#[tokio::test]
async fn blockers_are_resolved_only_when_completed_or_canceled() {
    let fake = FakeLinear::start().await;
    let (blocked, b1, b2) = {
        let mut w = fake.world();
        let b1 = w.add_issue("Done", "done blocker");
        let b2 = w.add_issue("In Progress", "open blocker");
        let blocked = w.add_issue("Todo", "blocked");
        w.issue_mut(&blocked).blocked_by = vec![b1.clone(), b2.clone()];
        (blocked, b1, b2)
    };
    let t = tracker(&fake);
    let snap = &t
        .fetch_by_identifiers(std::slice::from_ref(&blocked))
        .await
        .unwrap()[0];
    assert_eq!(
        snap.blocked_by,
        vec![
            Blocker {
                identifier: b1.clone(),
                resolved: true
            },
            Blocker {
                identifier: b2.clone(),
                resolved: false
            },
        ]
    );
    assert!(snap.is_blocked(), "an open blocker holds the ticket back");
    fake.world().move_issue(&b2, "Canceled");
    let snap = &t
        .fetch_by_identifiers(std::slice::from_ref(&blocked))
        .await
        .unwrap()[0];
    assert!(!snap.is_blocked(), "canceled counts as finished");
}

#[tokio::test]
async fn malformed_records_are_skipped_in_lists_but_fail_a_refresh() {
    let fake = FakeLinear::start().await;
    let bad = {
        let mut w = fake.world();
        w.add_issue("Todo", "good 1");
        let bad = w.add_issue("Todo", "bad");
        w.add_issue("Todo", "good 2");
        w.issue_mut(&bad).raw_override = Some(json!({
            "id": "issue-uuid-2", "identifier": bad, "title": "bad",
            "createdAt": "not a date"
        }));
        bad
    };
    let t = tracker(&fake);
    let fetched = t.fetch_candidates(&columns(&["Todo"])).await.unwrap();
    let ids: Vec<_> = fetched
        .tickets
        .iter()
        .map(|t| t.identifier.as_str())
        .collect();
    assert_eq!(ids, ["ENG-1", "ENG-3"]);
    assert_eq!(fetched.skipped.len(), 1);
    assert_eq!(fetched.skipped[0].source, format!("linear:{bad}"));

    let err = t
        .fetch_by_identifiers(&["ENG-1".to_string(), bad.clone()])
        .await
        .unwrap_err();
    match err {
        TrackerError::Malformed { source_name, .. } => assert!(source_name.contains(&bad)),
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[tokio::test]
async fn comments_read_every_page_and_sort_oldest_first() {
    let fake = FakeLinear::start().await;
    let id = {
        let mut w = fake.world();
        let id = w.add_issue("In Progress", "chatty");
        for n in 0..120 {
            w.add_comment(
                &id,
                &format!("comment {n:03}"),
                "ada",
                origin() + chrono::Duration::seconds(n),
            );
        }
        w.comments_newest_first = true;
        id
    };
    let t = tracker(&fake);
    let snap = t
        .fetch_by_identifiers(std::slice::from_ref(&id))
        .await
        .unwrap()
        .remove(0);
    let before = fake.total_requests();
    let comments = t.comments(&snap.ticket_ref()).await.unwrap();
    assert_eq!(fake.total_requests() - before, 3, "120 comments = 3 pages");
    let bodies: Vec<_> = comments.iter().map(|c| c.body.clone()).collect();
    let expected: Vec<_> = (0..120).map(|n| format!("comment {n:03}")).collect();
    assert_eq!(bodies, expected);
    assert_eq!(comments[0].author, "ada");
}

#[tokio::test]
async fn comments_of_a_missing_issue_is_not_found() {
    let fake = FakeLinear::start().await;
    let t = tracker(&fake);
    let missing = karajan::domain::TicketRef {
        id: "nope".into(),
        identifier: "ENG-404".into(),
    };
    match t.comments(&missing).await.unwrap_err() {
        TrackerError::NotFound(id) => assert_eq!(id, "ENG-404"),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn terminal_sweep_finds_recently_finished_tickets_only() {
    let fake = FakeLinear::start().await;
    let (recent, _old) = {
        let mut w = fake.world();
        let old = w.add_issue("Done", "finished long ago");
        let recent = w.add_issue("Todo", "finished while down");
        w.move_issue(&recent, "Canceled");
        w.add_issue("In Progress", "still running");
        (recent, old)
    };
    let swept = tracker(&fake).terminal_sweep().await.unwrap();
    let ids: Vec<_> = swept.iter().map(|t| t.identifier.clone()).collect();
    assert_eq!(ids, vec![recent]);
    let w = fake.world();
    let filter = &w.requests[0].variables["filter"];
    assert_eq!(
        filter["state"],
        json!({"name": {"in": ["Done", "Canceled"]}})
    );
    assert!(filter["updatedAt"]["gte"].is_string());
}

#[tokio::test]
async fn terminal_sweep_without_terminal_columns_makes_no_request() {
    let fake = FakeLinear::start().await;
    let mut c = config(&fake);
    c.terminal_columns.clear();
    let t = karajan::tracker::linear::LinearTracker::new(c).unwrap();
    assert!(t.terminal_sweep().await.unwrap().is_empty());
    assert_eq!(fake.total_requests(), 0);
}

#[tokio::test]
async fn refresh_spans_teams_in_one_request() {
    let fake = FakeLinear::start().await;
    let eng = {
        let mut w = fake.world();
        let eng = w.add_issue("In Progress", "eng work");
        w.add_issue_as("OPS-7", "ops work", "Todo");
        eng
    };
    let got = tracker(&fake)
        .fetch_by_identifiers(&["OPS-7".to_string(), eng.clone()])
        .await
        .unwrap();
    let ids: Vec<_> = got.iter().map(|t| t.identifier.clone()).collect();
    assert_eq!(ids, vec!["OPS-7".to_string(), eng]);
    assert_eq!(got[0].column, "Todo");
    let w = fake.world();
    assert_eq!(w.count("ListIssues"), 1);
    assert_eq!(
        w.requests[0].variables["filter"],
        json!({"or": [
            {"team": {"key": {"eq": "ENG"}}, "number": {"in": [1.0]}},
            {"team": {"key": {"eq": "OPS"}}, "number": {"in": [7.0]}}
        ]})
    );
}
