//! Incremental candidate reads: after a full read, polls ask Linear only for issues
//! updated or given a human comment since the last read (minus an overlap) and merge them into the adapter's
//! cache; one poll in every `FULL_READ_EVERY` (the first, the 11th, the 21st...) and any
//! change of columns reads in full.

use karajan::domain::Blocker;
use karajan::tracker::Tracker;
use serde_json::json;

use super::fake::FakeLinear;
use super::{columns, tracker};

const FULL_READ_EVERY: usize = 10;

fn watched() -> Vec<String> {
    columns(&["Todo", "Human Review", "Rework"])
}

fn ids_and_columns(fetched: &karajan::tracker::Fetched) -> Vec<(String, String)> {
    fetched
        .tickets
        .iter()
        .map(|t| (t.identifier.clone(), t.column.clone()))
        .collect()
}

fn pair(id: &str, column: &str) -> (String, String) {
    (id.to_string(), column.to_string())
}

#[tokio::test]
async fn the_second_poll_asks_only_for_changes_and_still_returns_every_candidate() {
    let fake = FakeLinear::start().await;
    let (a, b, c) = {
        let mut w = fake.world();
        let a = w.add_issue("Todo", "a");
        let b = w.add_issue("Todo", "b");
        let c = w.add_issue("Rework", "c");
        w.add_issue("Backlog", "not watched");
        (a, b, c)
    };
    let t = tracker(&fake);
    let first = t.fetch_candidates(&watched()).await.unwrap();
    assert_eq!(
        ids_and_columns(&first),
        vec![pair(&a, "Todo"), pair(&b, "Todo"), pair(&c, "Rework")]
    );
    fake.world().move_issue(&b, "Human Review");
    let second = t.fetch_candidates(&watched()).await.unwrap();
    assert_eq!(
        ids_and_columns(&second),
        vec![
            pair(&a, "Todo"),
            pair(&b, "Human Review"),
            pair(&c, "Rework")
        ],
        "the full set, with the changed issue in its new column"
    );
    let w = fake.world();
    assert_eq!(w.count("ListIssues"), 2, "one request per poll");
    assert_eq!(
        w.requests[0].variables["filter"],
        json!({"project": {"slugId": {"eq": "proj1"}},
               "state": {"name": {"in": ["Todo", "Human Review", "Rework"]}}})
    );
    let filter = &w.requests[1].variables["filter"];
    assert_eq!(filter["project"], json!({"slugId": {"eq": "proj1"}}));
    assert!(
        filter.get("state").is_none(),
        "an issue leaving the watched columns must be seen: {filter}"
    );
    let gte = &filter["or"][0]["updatedAt"]["gte"];
    assert_eq!(
        filter["or"][1],
        json!({"comments": {"some": {"updatedAt": {"gte": gte}, "body": {"notContains": "<!-- karajan:"}}}}),
        "or a human comment since, which may leave the issue's updatedAt as it was"
    );
    let since =
        chrono::DateTime::parse_from_rfc3339(gte.as_str().expect("an updatedAt filter")).unwrap();
    let ago = chrono::Utc::now() - since.with_timezone(&chrono::Utc);
    assert!(
        ago >= chrono::Duration::seconds(60) && ago < chrono::Duration::seconds(120),
        "since the first read's start minus the overlap, got {ago}"
    );
    assert_eq!(
        w.issues_served[1],
        vec![b],
        "only the changed issue came back"
    );
}

#[tokio::test]
async fn an_issue_moved_out_of_the_watched_columns_leaves_and_a_new_one_joins() {
    let fake = FakeLinear::start().await;
    let (a, b) = {
        let mut w = fake.world();
        (w.add_issue("Todo", "a"), w.add_issue("Human Review", "b"))
    };
    let t = tracker(&fake);
    assert_eq!(
        t.fetch_candidates(&watched()).await.unwrap().tickets.len(),
        2
    );
    let c = {
        let mut w = fake.world();
        w.move_issue(&b, "Done");
        let c = w.add_issue("Backlog", "c");
        w.move_issue(&c, "Todo");
        w.issue_mut(&a).title = "a, renamed".into();
        w.issue_mut(&a).updated_at = chrono::Utc::now();
        c
    };
    let fetched = t.fetch_candidates(&watched()).await.unwrap();
    assert_eq!(
        ids_and_columns(&fetched),
        vec![pair(&a, "Todo"), pair(&c, "Todo")]
    );
    assert_eq!(fetched.tickets[0].title, "a, renamed");
    assert!(fake.world().requests[1].variables["filter"]["or"].is_array());
}

#[tokio::test]
async fn a_blocker_finishing_unblocks_the_cached_ticket() {
    let fake = FakeLinear::start().await;
    let (blocker, blocked) = {
        let mut w = fake.world();
        let blocker = w.add_issue("In Progress", "blocker");
        let blocked = w.add_issue("Todo", "blocked");
        w.issue_mut(&blocked).blocked_by = vec![blocker.clone()];
        (blocker, blocked)
    };
    let t = tracker(&fake);
    let first = t.fetch_candidates(&watched()).await.unwrap();
    assert!(first.tickets[0].is_blocked());
    fake.world().move_issue(&blocker, "Done");
    let second = t.fetch_candidates(&watched()).await.unwrap();
    assert_eq!(second.tickets[0].identifier, blocked);
    assert_eq!(
        second.tickets[0].blocked_by,
        vec![Blocker {
            identifier: blocker,
            resolved: true
        }]
    );
}

#[tokio::test]
async fn every_nth_poll_reads_in_full_and_drops_a_deleted_issue() {
    let fake = FakeLinear::start().await;
    let (a, b) = {
        let mut w = fake.world();
        (w.add_issue("Todo", "a"), w.add_issue("Todo", "b"))
    };
    let t = tracker(&fake);
    t.fetch_candidates(&watched()).await.unwrap();
    // Deleted in Linear: no longer served by any read, so only a full read notices.
    fake.world().issues.retain(|i| i.identifier != b);
    for poll in 2..=FULL_READ_EVERY {
        let fetched = t.fetch_candidates(&watched()).await.unwrap();
        assert_eq!(
            ids_and_columns(&fetched),
            vec![pair(&a, "Todo"), pair(&b, "Todo")],
            "poll {poll} is incremental and trusts the cache"
        );
    }
    let fetched = t.fetch_candidates(&watched()).await.unwrap();
    assert_eq!(ids_and_columns(&fetched), vec![pair(&a, "Todo")]);
    {
        let w = fake.world();
        assert_eq!(w.count("ListIssues"), FULL_READ_EVERY + 1);
        let full: Vec<usize> = w
            .requests
            .iter()
            .enumerate()
            .filter(|(_, r)| r.variables["filter"].get("or").is_none())
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(full, vec![1, FULL_READ_EVERY + 1], "polls read in full");
    }
    t.fetch_candidates(&watched()).await.unwrap();
    assert!(fake.world().requests.last().unwrap().variables["filter"]["or"].is_array());
}

#[tokio::test]
async fn a_change_of_columns_reads_in_full() {
    let fake = FakeLinear::start().await;
    let (a, b) = {
        let mut w = fake.world();
        (w.add_issue("Todo", "a"), w.add_issue("Gate Approved", "b"))
    };
    let t = tracker(&fake);
    t.fetch_candidates(&watched()).await.unwrap();
    let wider = columns(&["Todo", "Human Review", "Rework", "Gate Approved"]);
    let fetched = t.fetch_candidates(&wider).await.unwrap();
    assert_eq!(
        ids_and_columns(&fetched),
        vec![pair(&a, "Todo"), pair(&b, "Gate Approved")]
    );
    let w = fake.world();
    assert!(w.requests[1].variables["filter"].get("or").is_none());
    assert_eq!(
        w.requests[1].variables["filter"]["state"],
        json!({"name": {"in": wider}})
    );
}

#[tokio::test]
async fn a_failed_incremental_read_changes_nothing_and_the_next_one_catches_up() {
    let fake = FakeLinear::start().await;
    let a = fake.world().add_issue("Todo", "a");
    let t = tracker(&fake);
    t.fetch_candidates(&watched()).await.unwrap();
    for _ in 0..3 {
        fake.fault_on("ListIssues", super::fake::Fault::ServerError);
    }
    fake.world().move_issue(&a, "Rework");
    assert!(t.fetch_candidates(&watched()).await.is_err());
    let fetched = t.fetch_candidates(&watched()).await.unwrap();
    assert_eq!(ids_and_columns(&fetched), vec![pair(&a, "Rework")]);
}

/// The `gte` of an incremental read's window, as sent.
fn window_start(filter: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    let gte = filter["or"][0]["updatedAt"]["gte"]
        .as_str()
        .expect("an incremental read's window");
    chrono::DateTime::parse_from_rfc3339(gte)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

#[tokio::test]
async fn an_idle_poll_after_a_burst_reads_none_of_the_tickets_it_finished() {
    let fake = FakeLinear::start().await;
    let burst: Vec<String> = {
        let mut w = fake.world();
        (0..20)
            .map(|n| w.add_issue("Todo", &format!("t{n}")))
            .collect()
    };
    let t = tracker(&fake);
    assert_eq!(
        t.fetch_candidates(&watched()).await.unwrap().tickets.len(),
        20
    );
    // The burst: every ticket finished (as karajan's own moves would leave them).
    for id in &burst {
        fake.world().move_issue(id, "Done");
    }
    let second = t.fetch_candidates(&watched()).await.unwrap();
    assert!(second.tickets.is_empty(), "each cached ticket seen leaving");
    assert_eq!(fake.world().issues_served[1].len(), 20);
    // Idle: the finished tickets are still inside the window, but none can change the
    // candidates any more, so none is read again.
    for poll in 3..=5 {
        let idle = t.fetch_candidates(&watched()).await.unwrap();
        assert!(idle.tickets.is_empty());
        let w = fake.world();
        let filter = &w.requests[poll - 1].variables["filter"];
        let since = window_start(filter);
        assert!(
            burst.iter().all(|id| w.issue(id).updated_at >= since),
            "the burst is inside poll {poll}'s window: the window was not narrowed"
        );
        assert_eq!(
            filter["and"],
            json!([{"or": [{"state": {"name": {"in": ["Todo", "Human Review", "Rework"]}}}]}]),
            "poll {poll}: only issues in the watched columns (nothing is cached)"
        );
        assert!(
            w.issues_served[poll - 1].is_empty(),
            "poll {poll} read nothing again"
        );
    }
    // A finished ticket a human brings back is a candidate again at once.
    fake.world().move_issue(&burst[3], "Todo");
    let back = t.fetch_candidates(&watched()).await.unwrap();
    assert_eq!(ids_and_columns(&back), vec![pair(&burst[3], "Todo")]);
}

#[tokio::test]
async fn writes_in_flight_inside_the_overlap_are_still_caught_by_a_narrowed_read() {
    let fake = FakeLinear::start().await;
    let (a, b, blocker, blocked) = {
        let mut w = fake.world();
        let a = w.add_issue("Todo", "a");
        let b = w.add_issue("Backlog", "b");
        let blocker = w.add_issue("In Progress", "blocker");
        let blocked = w.add_issue("Todo", "blocked");
        w.issue_mut(&blocked).blocked_by = vec![blocker.clone()];
        (a, b, blocker, blocked)
    };
    let t = tracker(&fake);
    let first_started = chrono::Utc::now();
    t.fetch_candidates(&watched()).await.unwrap();
    // Writes the first read did not see although Linear stamped them before it began
    // (in flight, or a clock ahead of ours): inside the overlap, so the next read must
    // still catch every one of them, narrowed or not.
    let stamped = first_started - chrono::Duration::seconds(30);
    {
        let mut w = fake.world();
        w.move_issue(&a, "Done");
        w.issue_mut(&a).updated_at = stamped;
        w.move_issue(&b, "Todo");
        w.issue_mut(&b).updated_at = stamped;
        w.move_issue(&blocker, "Done");
        w.issue_mut(&blocker).updated_at = stamped;
    }
    let second = t.fetch_candidates(&watched()).await.unwrap();
    assert!(
        fake.world().requests[1].variables["filter"]["and"].is_array(),
        "the read was narrowed"
    );
    assert_eq!(
        ids_and_columns(&second),
        vec![pair(&b, "Todo"), pair(&blocked, "Todo")],
        "the cached ticket that left is gone, the one that came is in"
    );
    assert_eq!(
        second.tickets[1].blocked_by,
        vec![Blocker {
            identifier: blocker,
            resolved: true
        }],
        "a cached ticket's blocker is read wherever it went"
    );
}

#[tokio::test]
async fn a_board_with_more_candidates_than_the_narrowed_filter_lists_reads_as_before() {
    let fake = FakeLinear::start().await;
    {
        let mut w = fake.world();
        // One more than `linear::narrow::MAX_LISTED` (250).
        for n in 0..251 {
            w.add_issue("Todo", &format!("t{n}"));
        }
    }
    let t = tracker(&fake);
    assert_eq!(
        t.fetch_candidates(&watched()).await.unwrap().tickets.len(),
        251
    );
    t.fetch_candidates(&watched()).await.unwrap();
    let w = fake.world();
    let last = &w.requests.last().unwrap().variables["filter"];
    assert!(last["or"].is_array(), "incremental");
    assert!(last.get("and").is_none(), "not narrowed: {last}");
}
