//! A GitHub `issues` delivery acted on as a read of its ticket (labels mode, issue 11
//! point 4): the REST issue the delivery carries is the ticket after the change, so a
//! human's label approval delivered becomes the next agent without karajan reading the
//! ticket; half of a label swap (two state labels, or none) is read, as the poll
//! resolves it.
//!
//! Deliveries carry the fake's issue as GitHub's REST API shapes it
//! (`Fake::issue_delivery`), stamped to the second as GitHub stamps it.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::webhooks::{Daemon, SECRET, daemon_runtime, github_daemon, hmac_hex, until};
use super::webhooks_delivered::{runs, state_noting_agent};
use crate::e2e::support::Scratch;
use crate::github::scratch::GhScratch;

/// An `issues` delivery of `action` around `issue`.
fn issues_event(action: &str, issue: &Value, label: &str) -> String {
    json!({
        "action": action,
        "issue": issue,
        "label": {"name": label, "color": "ededed"},
        "repository": {"full_name": "acme/app", "name": "app", "owner": {"login": "acme"}},
        "sender": {"login": "grace"}
    })
    .to_string()
}

async fn post(d: &Daemon, n: &str, body: &str) {
    let headers = vec![
        ("x-github-event", "issues".to_string()),
        ("x-github-delivery", format!("delivery-{n}")),
        (
            "x-hub-signature-256",
            format!("sha256={}", hmac_hex(SECRET, body.as_bytes())),
        ),
        ("user-agent", "GitHub-Hookshot/044aadd".into()),
    ];
    let (status, answer) = d.deliver(&headers, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// The requests that read issues (a list, or an issue itself; not comments) among
/// `requests`.
fn reads_in(requests: &[String]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.starts_with("GET /repos/acme/app/issues") && !r.contains("/comments"))
        .cloned()
        .collect()
}

/// `requests` up to karajan's first label added to issue #1 (its move out of the gate,
/// which looks at the issue first).
fn before_karajans_move(requests: &[String]) -> &[String] {
    let moved = requests
        .iter()
        .position(|r| r == "POST /repos/acme/app/issues/1/labels")
        .unwrap_or_else(|| panic!("karajan moved the issue: {requests:#?}"));
    &requests[..moved]
}

/// Issue #1 on the fake GitHub, picked up through a delivery by a daemon whose agent
/// notes each run's state, waits at the gate with karajan's move done, and the clock
/// has passed the second of that move (GitHub stamps to the second). Then a human's
/// `change` to its labels is delivered with the issue as it is now; once the ticket is
/// done, after both agents ran, the fake's requests from the delivery on are returned.
fn delivered_at_the_gate(change: impl FnOnce(&GhScratch)) -> Vec<String> {
    let gh = GhScratch::new("labels", "");
    daemon_runtime().block_on(async {
        let s = Scratch::quickstart();
        let starts = state_noting_agent(&s);
        let d = github_daemon(&s, &gh.fake).await;
        gh.add_issue(1, "Add a greeting", "Todo");
        // A ticket karajan has not read: the delivery gets it read.
        let issue = gh.fake.issue_delivery(1);
        post(
            &d,
            "pick-up",
            &issues_event("labeled", &issue, "karajan:todo"),
        )
        .await;
        until("karajan's move to the gate", || {
            gh.fake
                .lock()
                .moves
                .iter()
                .any(|(n, to)| *n == 1 && to == "karajan:human-review")
        })
        .await;
        until("the old label gone", || gh.fake.issue(1).labels.len() == 1).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(gh.column(1), "Human Review");

        change(&gh);
        let before = gh.fake.request_count();
        let issue = gh.fake.issue_delivery(1);
        post(
            &d,
            "human",
            &issues_event("labeled", &issue, "karajan:approved"),
        )
        .await;
        // (Until karajan resolves them the issue may carry two state labels.)
        until("the finalize agent ran", || {
            runs(&starts).iter().any(|r| r == "finalize")
        })
        .await;
        // (Polled without `column`, which refuses the two state labels a label move
        // leaves for a moment.)
        until("the ticket done", || {
            let labels = gh.fake.issue(1).labels;
            labels.iter().filter(|l| l.starts_with("karajan:")).count() == 1
                && labels.iter().any(|l| l == "karajan:done")
        })
        .await;
        assert_eq!(runs(&starts), vec!["implement", "finalize"]);
        d.stop().await;
        gh.fake.lock().requests[before..].to_vec()
    })
}

#[test]
fn a_label_approval_delivered_with_its_issue_starts_the_next_agent_without_a_read() {
    // A human swaps the label.
    let after = delivered_at_the_gate(|gh| gh.human_move(1, "Approved"));
    // Up to karajan's move out of the gate, the one look at the issue is the move's
    // own (it reads the labels it swaps); a read of the delivered ticket would come
    // before it.
    assert_eq!(
        reads_in(before_karajans_move(&after)),
        vec!["GET /repos/acme/app/issues/1".to_string()],
        "the delivery stood for the read: {after:#?}"
    );
}

#[test]
fn half_a_label_swap_is_read_as_the_poll_resolves_it() {
    // The human adds the approval beside the gate's label: the delivery shows two
    // state labels, which only a read (and the poll's rules) can resolve.
    let after = delivered_at_the_gate(|gh| {
        gh.fake
            .edit(1, |i| i.labels.push("karajan:approved".to_string()));
    });
    assert!(
        reads_in(before_karajans_move(&after)).len() >= 2,
        "the ticket was read before karajan's own look: {after:#?}"
    );
}
