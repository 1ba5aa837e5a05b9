//! A GitHub project's item delivery (`projects_v2_item`, project mode; issue 11 point 4):
//! it names the issue only by node id, so karajan maps the id to a ticket it knows and
//! reads that issue alone; an issue it does not know brings the whole poll forward; an
//! item of another project (an organization's hook delivers every project's) is
//! nothing to karajan.
//!
//! The deliveries carry the fields GitHub's `projects_v2_item` payload has (`id`,
//! `node_id`, `project_node_id`, `content_node_id`, `content_type`, `changes`).

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use super::webhooks::{Daemon, HOUR, SECRET, daemon_runtime, hmac_hex, start, until, workflow};
use super::webhooks_delivered::{runs, state_noting_agent};
use crate::e2e::support::Scratch;
use crate::github::fake::{PROJECT_ID, TOKEN};
use crate::github::scratch::GhScratch;
use karajan::config::TrackerConfig;

/// An `edited` delivery of issue `number`'s item on the project `project`.
fn item_event(number: i64, project: &str) -> String {
    json!({
        "action": "edited",
        "projects_v2_item": {
            "id": 1000 + number,
            "node_id": format!("PVTI_item{number}"),
            "project_node_id": project,
            "content_node_id": format!("I_node{number}"),
            "content_type": "Issue",
            "created_at": "2026-12-01T10:00:00Z",
            "updated_at": "2026-12-07T10:00:00Z",
            "archived_at": null
        },
        "changes": {"field_value": {"field_node_id": "PVTSSF_status", "field_type": "single_select"}},
        "organization": {"login": "acme"},
        "sender": {"login": "grace"}
    })
    .to_string()
}

async fn post(d: &Daemon, delivery: &str, body: &str) -> String {
    let headers = vec![
        ("x-github-event", "projects_v2_item".to_string()),
        ("x-github-delivery", delivery.to_string()),
        (
            "x-hub-signature-256",
            format!("sha256={}", hmac_hex(SECRET, body.as_bytes())),
        ),
        ("user-agent", "GitHub-Hookshot/044aadd".into()),
    ];
    let (status, answer) = d.deliver(&headers, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

/// A daemon on the quickstart `s` with the fake GitHub (project mode, `acme`'s project
/// 7) as its tracker, once it has polled.
async fn project_daemon(s: &Scratch, gh: &GhScratch) -> Daemon {
    let mut wf = workflow(s, HOUR);
    let yaml = format!(
        "kind: github\nrepo: acme/app\nmode: project\nproject: {{owner: acme, number: 7}}\n\
         token: $GITHUB_TOKEN\napi_url: {}\n",
        gh.fake.url
    );
    let raw: karajan::tracker::github::RawGithubConfig = yaml_serde::from_str(&yaml).unwrap();
    let config = karajan::tracker::github::GithubConfig::from_raw(raw, |_| Ok(TOKEN.to_string()))
        .expect("valid config");
    wf.tracker = TrackerConfig::new(config);
    let tracker = karajan::tracker::from_config(&wf).unwrap();
    let d = start(wf, tracker).await;
    until("the first poll", || gh.fake.request_count() > 0).await;
    d
}

/// The fake's GraphQL operations among `requests` (`ProjectItems`, `IssueDetail`, …).
fn operations(requests: &[String]) -> Vec<&str> {
    requests
        .iter()
        .filter_map(|r| r.strip_prefix("POST graphql "))
        .collect()
}

#[test]
fn a_known_issues_item_delivery_reads_that_issue_alone() {
    let gh = GhScratch::new("project", "");
    daemon_runtime().block_on(async {
        let s = Scratch::quickstart();
        let starts = state_noting_agent(&s);
        let d = project_daemon(&s, &gh).await;

        // An issue karajan has not read: its item's delivery brings the poll forward.
        gh.add_issue(1, "Add a greeting", "Todo");
        let before = gh.fake.request_count();
        let answer = post(&d, "pick-up", &item_event(1, PROJECT_ID)).await;
        assert!(answer.contains("I_node1"), "{answer}");
        until("karajan's move to the gate", || {
            gh.column(1) == "Human Review"
        })
        .await;
        let picked = gh.fake.requests()[before..].to_vec();
        assert!(
            operations(&picked).contains(&"ProjectItems"),
            "an unknown issue's item brings the whole poll: {picked:#?}"
        );

        // An item of another project, even of an issue karajan knows: nothing read.
        let before = gh.fake.request_count();
        post(&d, "other", &item_event(1, "PVT_kwDOanother")).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let other = gh.fake.requests()[before..].to_vec();
        assert!(
            other.is_empty(),
            "another project's item was read: {other:#?}"
        );

        // A human moves the card; its item's delivery reads the issue, not the board.
        gh.human_move(1, "Approved");
        let before = gh.fake.request_count();
        post(&d, "human", &item_event(1, PROJECT_ID)).await;
        until("the finalize agent ran", || {
            runs(&starts).iter().any(|r| r == "finalize")
        })
        .await;
        until("the ticket done", || gh.column(1) == "Done").await;
        assert_eq!(runs(&starts), vec!["implement", "finalize"]);
        d.stop().await;
        let after = gh.fake.requests()[before..].to_vec();
        let ops = operations(&after);
        assert_eq!(ops.first(), Some(&"IssueDetail"), "{after:#?}");
        assert!(
            !ops.contains(&"ProjectItems"),
            "a known issue's item read the whole board: {after:#?}"
        );
    });
}
