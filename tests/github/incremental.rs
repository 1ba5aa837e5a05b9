//! Incremental candidate reads in labels mode: after a full read (one request per
//! column label), a poll makes ONE `GET /repos/{o}/{r}/issues?state=all&since=...`
//! request and merges the changes into the adapter's cache; one poll in
//! `FULL_READ_EVERY` reads in full again. Projects v2 mode always reads in full.

use karajan::tracker::{Fetched, Tracker};

use super::fake::Fake;
use super::{columns, tracker};

const FULL_READ_EVERY: usize = 10;

fn watched() -> Vec<String> {
    columns(&["Todo", "In Progress"])
}

fn got(fetched: &Fetched) -> Vec<(String, String)> {
    fetched
        .tickets
        .iter()
        .map(|t| (t.identifier.clone(), t.column.clone()))
        .collect()
}

fn pair(n: i64, column: &str) -> (String, String) {
    (format!("acme/app#{n}"), column.to_string())
}

/// The issue-list requests made since request number `from`.
fn lists_since(fake: &Fake, from: usize) -> Vec<String> {
    fake.requests()
        .into_iter()
        .skip(from)
        .filter(|r| r.starts_with("GET /repos/acme/app/issues?"))
        .collect()
}

#[tokio::test]
async fn the_second_poll_is_one_since_request_and_still_returns_every_candidate() {
    let fake = Fake::start().await;
    fake.add_issue(1, None, &["karajan:todo"]);
    fake.add_issue(2, None, &["karajan:todo"]);
    fake.add_issue(3, None, &["karajan:in-progress"]);
    let t = tracker(&fake, "labels", "");
    let first = t.fetch_candidates(&watched()).await.expect("poll 1");
    assert_eq!(
        got(&first),
        vec![pair(1, "Todo"), pair(2, "Todo"), pair(3, "In Progress")]
    );
    assert_eq!(
        lists_since(&fake, 0).len(),
        2,
        "one request per column label"
    );
    let before = fake.request_count();
    let poll_started = chrono::Utc::now();
    // A human moves #2 on GitHub.
    fake.edit(2, |i| i.labels = vec!["karajan:in-progress".into()]);
    let second = t.fetch_candidates(&watched()).await.expect("poll 2");
    assert_eq!(
        got(&second),
        vec![
            pair(1, "Todo"),
            pair(2, "In Progress"),
            pair(3, "In Progress")
        ]
    );
    let lists = lists_since(&fake, before);
    assert_eq!(lists.len(), 1, "{lists:?}");
    let since = lists[0]
        .strip_prefix("GET /repos/acme/app/issues?since=")
        .expect("an incremental read");
    let since = chrono::DateTime::parse_from_rfc3339(since).expect("ISO 8601");
    let ago = poll_started - since.with_timezone(&chrono::Utc);
    assert!(
        ago >= chrono::Duration::seconds(59) && ago < chrono::Duration::seconds(120),
        "since the first read's start minus the overlap, got {ago}"
    );
}

#[tokio::test]
async fn closed_or_moved_out_issues_leave_and_new_ones_join() {
    let fake = Fake::start().await;
    fake.add_issue(1, None, &["karajan:todo"]);
    fake.add_issue(2, None, &["karajan:todo"]);
    fake.add_issue(3, None, &["karajan:in-progress"]);
    let t = tracker(&fake, "labels", "");
    assert_eq!(
        t.fetch_candidates(&watched()).await.unwrap().tickets.len(),
        3
    );
    fake.edit(1, |i| i.open = false);
    fake.edit(3, |i| i.labels = vec!["karajan:human-review".into()]);
    fake.add_issue(4, None, &["karajan:todo"]);
    // Created just now, so updated just now.
    fake.edit(4, |i| i.title = "new".into());
    fake.add_issue(5, None, &["karajan:todo"]);
    fake.edit(5, |i| i.is_pr = true);
    let fetched = t.fetch_candidates(&watched()).await.expect("poll 2");
    assert_eq!(got(&fetched), vec![pair(2, "Todo"), pair(4, "Todo")]);
    assert_eq!(fetched.tickets[1].title, "new");
}

#[tokio::test]
async fn every_nth_poll_reads_in_full_and_drops_a_deleted_issue() {
    let fake = Fake::start().await;
    fake.add_issue(1, None, &["karajan:todo"]);
    fake.add_issue(2, None, &["karajan:in-progress"]);
    let t = tracker(&fake, "labels", "");
    t.fetch_candidates(&watched()).await.expect("poll 1");
    // Deleted (or transferred) on GitHub: no list shows it any more.
    fake.lock().issues.retain(|i| i.number != 2);
    for poll in 2..=FULL_READ_EVERY {
        let before = fake.request_count();
        let fetched = t.fetch_candidates(&watched()).await.expect("poll");
        assert_eq!(
            got(&fetched),
            vec![pair(1, "Todo"), pair(2, "In Progress")],
            "poll {poll} trusts the cache"
        );
        let lists = lists_since(&fake, before);
        assert!(
            lists.len() == 1 && lists[0].contains("?since="),
            "poll {poll}: {lists:?}"
        );
    }
    let before = fake.request_count();
    let fetched = t.fetch_candidates(&watched()).await.expect("full poll");
    assert_eq!(got(&fetched), vec![pair(1, "Todo")]);
    let lists = lists_since(&fake, before);
    assert_eq!(lists.len(), 2, "a full read again: {lists:?}");
    assert!(lists.iter().all(|r| r.contains("?labels=")));
}

#[tokio::test]
async fn projects_v2_mode_has_no_since_filter_and_reads_in_full() {
    let fake = Fake::start().await;
    fake.add_issue(1, Some("Todo"), &[]);
    let t = tracker(&fake, "project", "");
    for _ in 0..3 {
        assert_eq!(
            t.fetch_candidates(&watched()).await.unwrap().tickets.len(),
            1
        );
    }
    fake.lock().issues.clear();
    assert!(
        t.fetch_candidates(&watched())
            .await
            .unwrap()
            .tickets
            .is_empty()
    );
}
