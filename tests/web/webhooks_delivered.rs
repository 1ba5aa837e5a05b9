//! A Linear `Issue` delivery acted on as a read of its ticket (issue 11 point 4): the
//! issue the delivery carries is the ticket after the change, so an approval delivered
//! becomes the next agent without karajan reading the ticket first; a delivery older
//! than what karajan knows is read instead, one showing what karajan knows is done
//! with, and a read that was out before the delivery cannot undo what it did.
//!
//! Deliveries here are built from the fake's issue as Linear's `IssueWebhookPayload`
//! shapes it (`World::issue_delivery`).

use std::path::PathBuf;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::webhooks::{
    Daemon, SECRET, hmac_hex, linear_daemon_parts, linear_headers, now_ms, start, until,
};
use crate::e2e::support::Scratch;
use crate::linear::fake::{FakeLinear, Fault};

/// The envelope Linear posts around an issue's `data` (`action: update`).
fn issue_update(data: &Value, from_state: &str) -> String {
    json!({
        "action": "update",
        "type": "Issue",
        "actor": {"id": "user-2", "name": "Grace Hopper", "type": "user"},
        "createdAt": data["updatedAt"],
        "data": data,
        "updatedFrom": {"stateId": from_state, "updatedAt": data["createdAt"]},
        "url": data["url"],
        "organizationId": "org-1",
        "webhookId": "webhook-1",
        "webhookTimestamp": now_ms(),
    })
    .to_string()
}

/// A comment's delivery naming its issue (Linear's `Comment` data carries `issue`).
fn comment_created(identifier: &str) -> String {
    json!({
        "action": "create",
        "type": "Comment",
        "createdAt": "2026-12-05T10:00:00.000Z",
        "data": {"id": "comment-9", "body": "looks fine", "issueId": "issue-uuid-1",
                 "issue": {"id": "issue-uuid-1", "identifier": identifier, "title": "t"}},
        "url": format!("https://linear.app/acme/issue/{identifier}#comment-9"),
        "organizationId": "org-1",
        "webhookId": "webhook-1",
        "webhookTimestamp": now_ms(),
    })
    .to_string()
}

async fn post(d: &Daemon, n: &str, body: &str) {
    let headers = linear_headers(n, hmac_hex(SECRET, body.as_bytes()));
    let (status, answer) = d.deliver(&headers, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// The ticket reads (`ListIssues`) the fake answered from request `from` on.
fn reads_since(fake: &FakeLinear, from: usize) -> usize {
    fake.world().requests[from..]
        .iter()
        .filter(|r| r.operation == "ListIssues")
        .count()
}

/// A daemon on the fake Linear whose agent notes each run's state in `starts`, then
/// sleeps `implement_secs` in `implement` (0 in `finalize`). One ticket, picked up
/// through a delivery, waits at the state `until_column` shows.
async fn ticket_at(
    implement_secs: u32,
    until_column: &str,
) -> (Scratch, FakeLinear, Daemon, String, PathBuf) {
    let s = Scratch::quickstart();
    let starts = s.path().join("starts.txt");
    s.script(
        "agent.sh",
        &format!(
            "#!/bin/sh\ncat > /dev/null\necho \"$KARAJAN_STATE\" >> '{}'\n\
             if [ \"$KARAJAN_STATE\" = implement ]; then sleep {implement_secs}; fi\necho done\n",
            starts.display()
        ),
    );
    crate::linear::gate_approved(&s);
    let fake = FakeLinear::start().await;
    let wf = linear_daemon_parts(&s, &fake);
    let tracker = karajan::tracker::from_config(&wf).unwrap();
    let d = start(wf, tracker).await;
    until("the first poll", || !fake.world().requests.is_empty()).await;
    let id = fake.world().add_issue("Todo", "Add a friendly greeting");
    fake.world().issue_mut(&id).labels = vec!["Backend".into()];
    // A ticket karajan has not read: the delivery gets it read.
    let data = fake.world().issue_delivery(&id);
    post(&d, "pick-up", &issue_update(&data, "state-eng-0")).await;
    until(&format!("the ticket in {until_column}"), || {
        fake.world().column_of(&id) == until_column
    })
    .await;
    (s, fake, d, id, starts)
}

/// Until karajan's move to the gate (its second move and comment, after the pick-up)
/// was answered, and a moment for karajan to take the answer.
async fn gate_move_answered(fake: &FakeLinear) {
    until("karajan's move to the gate answered", || {
        fake.world()
            .requests
            .iter()
            .filter(|r| r.operation == "MoveAndComment")
            .count()
            >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// The quickstart's agent replaced by one that notes the state of each run it makes, a
/// line per run, in the file returned (read with [`runs`]).
pub(crate) fn state_noting_agent(s: &Scratch) -> PathBuf {
    let starts = s.path().join("starts.txt");
    s.script(
        "agent.sh",
        &format!(
            "#!/bin/sh\ncat > /dev/null\necho \"$KARAJAN_STATE\" >> '{}'\necho done\n",
            starts.display()
        ),
    );
    starts
}

/// The states the agent ran in, in order (one line per run in `starts`).
pub(crate) fn runs(starts: &PathBuf) -> Vec<String> {
    std::fs::read_to_string(starts)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_delivered_with_its_issue_starts_the_next_agent_without_a_read() {
    let (_s, fake, d, id, starts) = ticket_at(0, "Human Review").await;
    // The move to the gate answered (karajan's comment follows it in one request).
    gate_move_answered(&fake).await;
    // A human approves; Linear delivers the issue as it is now.
    let data = {
        let mut w = fake.world();
        w.move_issue(&id, "Gate Approved");
        w.issue_delivery(&id)
    };
    let before = fake.world().requests.len();
    post(&d, "approval", &issue_update(&data, "state-eng-3")).await;
    until("the finalize agent ran", || {
        runs(&starts).iter().any(|r| r == "finalize")
    })
    .await;
    assert_eq!(
        reads_since(&fake, before),
        0,
        "the delivery stood for the read: {:?}",
        fake.world().requests[before..]
            .iter()
            .map(|r| r.operation.clone())
            .collect::<Vec<_>>()
    );
    until("the ticket done", || fake.world().column_of(&id) == "Done").await;
    assert_eq!(runs(&starts), vec!["implement", "finalize"]);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_older_than_what_karajan_knows_is_read_and_an_echo_is_done_with() {
    let (_s, fake, d, id, starts) = ticket_at(0, "Human Review").await;
    gate_move_answered(&fake).await;
    let before = fake.world().requests.len();
    // Karajan's own move to the gate, delivered back: nothing new, nothing read.
    let echo = fake.world().issue_delivery(&id);
    post(&d, "echo", &issue_update(&echo, "state-eng-2")).await;
    // A delivery claiming an approval, stamped before what karajan last saw (a
    // delivery retried late, out of order): not acted on as it stands, but read.
    let mut stale = echo.clone();
    stale["state"] = json!({"id": "state-eng-4", "name": "Gate Approved", "type": "started", "color": "#f2c94c"});
    stale["stateId"] = json!("state-eng-4");
    stale["updatedAt"] = stale["createdAt"].clone();
    post(&d, "stale", &issue_update(&stale, "state-eng-3")).await;
    // Deliveries are taken in order: the one read seen is the stale delivery's.
    until("the stale delivery's read", || {
        reads_since(&fake, before) >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(reads_since(&fake, before), 1, "the echo was not read");
    let number = id.rsplit('-').next().unwrap();
    let filter = fake.world().requests[before..]
        .iter()
        .find(|r| r.operation == "ListIssues")
        .map(|r| r.variables["filter"].to_string())
        .unwrap();
    assert!(filter.contains(number), "a read of the ticket: {filter}");
    // The read shows the gate: nothing moved, no agent started.
    assert_eq!(fake.world().column_of(&id), "Human Review");
    assert_eq!(runs(&starts), vec!["implement"]);
    assert!(
        !fake.world().requests[before..]
            .iter()
            .any(|r| r.operation.contains("Move")),
        "nothing moved"
    );
    d.stop().await;
}

/// A read out when the delivery is acted on answers afterwards with the ticket as it
/// was before: it cannot undo the delivery. A human parks a ticket whose agent runs
/// (back to Backlog) while a read of it (brought by a comment's delivery) is out; the
/// move is delivered and the run stopped; the read answers later showing the ticket
/// still in progress, which without the rule resumed the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_out_before_a_delivery_cannot_undo_it() {
    let (_s, fake, d, id, starts) = ticket_at(30, "In Progress").await;
    until("the implement agent started", || {
        runs(&starts).iter().any(|r| r == "implement")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The next read is carried out now and answered 2 s later.
    fake.fault_on(
        "ListIssues",
        Fault::ExecuteThenDelay(Duration::from_secs(2)),
    );
    let before = fake.world().requests.len();
    post(&d, "comment", &comment_created(&id)).await;
    until("the read out", || reads_since(&fake, before) >= 1).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let data = {
        let mut w = fake.world();
        w.move_issue(&id, "Backlog");
        w.issue_delivery(&id)
    };
    post(&d, "parked", &issue_update(&data, "state-eng-2")).await;
    // The read answers 2 s after it was carried out; give karajan time to act on it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(fake.world().column_of(&id), "Backlog");
    assert_eq!(
        runs(&starts),
        vec!["implement"],
        "no run started from the read that predates the move"
    );
    let moves: Vec<String> = fake.world().requests[before..]
        .iter()
        .filter(|r| r.operation.contains("Move"))
        .map(|r| r.variables.to_string())
        .collect();
    assert!(
        moves.is_empty(),
        "nothing moved after the human's move: {moves:?}"
    );
    d.stop().await;
}
