//! The cost of one poll tick, in GitHub GraphQL points (both modes) and REST requests
//! (labels mode), for 10, 100 and 1,000 items. The fake computes cost with GitHub's
//! formula (see `fake.rs`); the adapter sums the `rateLimit.cost` it is told.

use karajan::tracker::Tracker;

use super::fake::Fake;
use super::{columns, tracker};

#[tokio::test]
async fn points_per_tick_for_10_100_and_1000_items() {
    let mut measured = Vec::new();
    for n in [10_i64, 100, 1000] {
        let fake = Fake::start().await;
        for i in 1..=n {
            fake.add_issue(i, Some("Todo"), &["bug"]);
        }
        let t = tracker(&fake, "project", "");
        t.reload().await.expect("resolve");
        let before = fake.lock().points_spent;
        let spent_before = t.graphql_points_spent();
        let got = t
            .fetch_candidates(&columns(&["Todo", "In Progress"]))
            .await
            .expect("tick");
        assert_eq!(got.tickets.len() as i64, n);
        let points = fake.lock().points_spent - before;
        assert_eq!(
            t.graphql_points_spent() - spent_before,
            points,
            "adapter sums the reported cost"
        );
        measured.push((n, points));
    }
    eprintln!("project mode points per tick (items, points): {measured:?}");
    assert_eq!(
        measured,
        vec![(10, 2), (100, 2), (1000, 20)],
        "board pages + candidate blockers"
    );
}

#[tokio::test]
async fn rest_requests_per_tick_in_labels_mode() {
    let mut measured = Vec::new();
    for n in [10_i64, 100, 1000] {
        let fake = Fake::start().await;
        for i in 1..=n {
            fake.add_issue(i, None, &["karajan:todo"]);
        }
        let t = tracker(&fake, "labels", "");
        let got = t
            .fetch_candidates(&columns(&["Todo", "In Progress", "Human Review"]))
            .await
            .expect("tick");
        assert_eq!(got.tickets.len() as i64, n);
        let rest = fake
            .requests()
            .iter()
            .filter(|r| r.starts_with("GET"))
            .count();
        measured.push((n, rest, t.graphql_points_spent()));
    }
    eprintln!("labels mode requests per tick, 3 columns (items, requests, points): {measured:?}");
    assert_eq!(
        measured,
        vec![(10, 3, 1), (100, 3, 1), (1000, 12, 10)],
        "REST pages + candidate blockers"
    );
}
