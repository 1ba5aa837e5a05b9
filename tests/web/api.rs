//! Every endpoint's JSON shape, the error envelope, gate actions recorded with their
//! actor, refresh coalescing, and the live event stream.

use std::time::Duration;

use axum::http::StatusCode;
use futures::StreamExt;
use serde_json::Value;
use tower::ServiceExt;

use super::{error_code, get, harness};

fn keys(v: &Value, want: &[&str]) {
    for k in want {
        assert!(v.get(*k).is_some(), "missing `{k}` in {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_has_running_rows_gates_and_symphony_fields() {
    let h = harness(2).await;
    h.wait_view("a running agent", |v| !v.running.is_empty())
        .await;
    let (s, v) = h.get_json("/api/v1/state").await;
    assert_eq!(s, StatusCode::OK);
    keys(
        &v,
        &[
            "generated_at",
            "counts",
            "running",
            "gates",
            "retries",
            "retrying",
            "totals",
            "rate_limit",
            "rate_limits",
            "config",
            "last_verified_at",
            "metrics",
            "today",
        ],
    );
    assert!(v["counts"]["running"].as_u64().unwrap() >= 1, "{v}");
    let row = &v["running"][0];
    keys(
        row,
        &[
            "ticket",
            "identifier",
            "issue_identifier",
            "url",
            "state",
            "runner",
            "session_id",
            "turns",
            "turn_count",
            "tokens",
            "cost_usd",
            "started_at",
            "last_event",
            "last_event_at",
            "last_message",
        ],
    );
    assert_eq!(row["state"], "implement");
    assert_eq!(row["runner"], "demo");
    keys(&v["config"], &["digest", "last_error", "applied_at"]);
    assert_eq!(v["today"]["daily_budget_usd"], Value::Null);
    assert_eq!(v["today"]["note"], "no daily budget configured");
    // No reported cost: exactly zero (not `-0.0`, which an empty float sum gives).
    assert_eq!(v["today"]["cost_usd"].to_string(), "0.0");

    h.wait_gate("QS-1").await;
    let (_, v) = h.get_json("/api/v1/state").await;
    let gate = v["gates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["identifier"] == "QS-1")
        .unwrap();
    keys(gate, &["state", "since", "waited_seconds", "rework_count"]);
    assert_eq!(gate["state"], "review");
    assert!(gate["waited_seconds"].as_i64().unwrap() >= 0);

    let (s, v) = h.get_json("/healthz").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_detail_and_the_not_found_envelope() {
    let h = harness(0).await;
    h.wait_gate("QS-1").await;
    let (s, v) = h.get_json("/api/v1/issues/QS-1").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    keys(
        &v,
        &[
            "issue_identifier",
            "state",
            "status",
            "workspace",
            "attempts",
            "current_run",
            "runs",
            "recent_events",
            "logs",
            "totals",
        ],
    );
    assert_eq!(v["state"], "review");
    assert_eq!(v["status"], "waiting");
    assert_eq!(v["workspace"]["branch"], "karajan/QS-1");
    assert!(
        v["workspace"]["path"]
            .as_str()
            .unwrap()
            .ends_with("workspaces/QS-1")
    );
    assert_eq!(v["current_run"]["state"], "implement");
    assert!(v["logs"]["prompt"].as_str().unwrap().ends_with("prompt.md"));
    let events = v["recent_events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["kind"] == "transition"));
    for pair in events.windows(2) {
        // Hash-linked only where the chain is contiguous; every event carries both.
        assert_eq!(pair[0]["hash"].as_str().unwrap().len(), 64);
        assert!(pair[0]["seq"].as_i64() < pair[1]["seq"].as_i64());
    }
    // A GitHub-style identifier, percent-encoded, is decoded before the lookup.
    let (s, v) = h.get_json("/api/v1/issues/owner%2Frepo%237").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&v), "issue_not_found");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("owner/repo#7")
    );
    let (s, v) = h.get_json("/api/v1/issues/owner/repo%237").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("owner/repo#7")
    );
    // The ticket page exists too, and an unknown one is a 404 page.
    let (s, body) = h.get("/tickets/QS-1").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        body.contains("Timeline") && body.contains("Rendered prompt"),
        "{body}"
    );
    assert!(
        body.contains("karajan&#x2f;QS-1"),
        "the branch, HTML-escaped: {body}"
    );
    let (s, _) = h.get("/tickets/owner%2Frepo%237").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_and_unknown_route_use_the_envelope() {
    let h = harness(0).await;
    let (s, headers, body) = h.send(get("/api/v1/refresh")).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers["content-type"], "application/json");
    assert!(headers["allow"].to_str().unwrap().contains("POST"));
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error_code(&v), "method_not_allowed");
    let (s, _, body) = h
        .send(super::post("/api/v1/state", "", Some(super::TOKEN)))
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        error_code(&serde_json::from_str(&body).unwrap()),
        "method_not_allowed"
    );
    let (s, v) = h.get_json("/api/v1/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&v), "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_via_the_api_is_recorded_with_its_actor() {
    let h = harness(0).await;
    h.wait_gate("QS-1").await;
    // Rework needs feedback; a ticket not at a gate is a conflict.
    let (s, v) = h.post("/api/v1/issues/QS-1/rework", "{}").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&v), "feedback_required");
    let (s, v) = h.post("/api/v1/issues/QS-9/approve", "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&v), "issue_not_found");

    let (s, v) = h
        .post("/api/v1/issues/QS-1/approve", r#"{"actor":"alice"}"#)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["from"], "review");
    assert_eq!(v["to"], "finalize");
    let events = h.store.events_for("QS-1").await.unwrap();
    let t = events
        .iter()
        .rev()
        .find(|e| e.kind == "transition")
        .unwrap();
    assert_eq!(t.payload["actor"], "dashboard:alice");
    assert_eq!(t.payload["to"], "finalize");
    assert_eq!(t.payload["from"], "review");
    // Approving again: the ticket is no longer at the gate.
    let (s, v) = h.post("/api/v1/issues/QS-1/approve", "").await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(error_code(&v), "not_at_gate");

    // Rework with feedback, percent-encoded path, default actor from the bearer token.
    h.wait_gate("QS-2").await;
    let (s, v) = h
        .post(
            "/api/v1/issues/QS%2D2/rework",
            r#"{"feedback":"please add tests"}"#,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["to"], "implement");
    let events = h.store.events_for("QS-2").await.unwrap();
    let t = events
        .iter()
        .rev()
        .find(|e| e.kind == "transition")
        .unwrap();
    assert_eq!(t.payload["actor"], "dashboard:api");
    assert_eq!(t.payload["feedback"], "please add tests");
    // The ticket moved in the tracker through the intent path.
    h.wait_view("QS-1 to leave the gate", |v| {
        !v.gates.iter().any(|g| g.identifier == "QS-1")
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while h.scratch.column("QS-1") == "Human Review" && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ne!(h.scratch.column("QS-1"), "Human Review");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_coalesces_repeats_and_pause_resume_answer() {
    let h = harness(0).await;
    let mut acks = vec![];
    for _ in 0..5 {
        let (s, v) = h.post("/api/v1/refresh", "").await;
        assert_eq!(s, StatusCode::ACCEPTED);
        keys(&v, &["queued", "coalesced", "requested_at", "operations"]);
        assert_eq!(v["queued"], true);
        assert_eq!(v["operations"], serde_json::json!(["poll", "reconcile"]));
        acks.push(v["coalesced"].as_bool().unwrap());
    }
    assert!(
        !acks[0],
        "the first request is queued, not coalesced: {acks:?}"
    );
    assert!(
        acks[1..].iter().any(|c| *c),
        "back-to-back requests join the queued one: {acks:?}"
    );

    let (s, v) = h.post("/api/v1/dispatch/pause", "").await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(v["paused"], true);
    h.wait_view("paused", |v| v.paused).await;
    let (_, page) = h.get("/").await;
    assert!(page.contains("Dispatch is paused"));
    let (s, v) = h.post("/api/v1/dispatch/resume", "").await;
    assert_eq!(s, StatusCode::ACCEPTED);
    assert_eq!(v["paused"], false);
    h.wait_view("resumed", |v| !v.paused).await;
}

/// Subscribe to `/api/v1/events` with QS-3 at its gate, approve it over the API, and
/// read the stream until `done` says so (20 s at most): whether it did, and the text.
async fn approve_and_listen(done: impl Fn(&str) -> bool) -> (bool, String) {
    let h = harness(0).await;
    h.wait_gate("QS-3").await;
    let res = h
        .router
        .clone()
        .oneshot(get("/api/v1/events"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body().into_data_stream();
    let (s, _) = h.post("/api/v1/issues/QS-3/approve", "").await;
    assert_eq!(s, StatusCode::OK);
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if done(&seen) {
                return true;
            }
        }
        false
    })
    .await;
    (found == Ok(true), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_carries_transitions_live() {
    let (found, seen) = approve_and_listen(|seen| {
        seen.contains("event: transition") && seen.contains("dashboard:api")
    })
    .await;
    assert!(found, "stream so far:\n{seen}");
    assert!(seen.starts_with("event: hello"), "{seen}");
    let line = seen
        .lines()
        .find(|l| l.starts_with("data: ") && l.contains("dashboard:api"))
        .unwrap();
    let ev: Value = serde_json::from_str(&line["data: ".len()..]).unwrap();
    assert_eq!(ev["kind"], "transition");
    assert_eq!(ev["identifier"], "QS-3");
    assert_eq!(ev["hash"].as_str().unwrap().len(), 64);
}

/// The page re-renders from the published view, which follows the recorded events: a
/// page that re-rendered on the event alone could read the view before the publish and
/// stay stale (no event comes after the last one). So each publish is announced too
/// (`view`), after the events it includes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_announces_each_published_view_after_its_events() {
    let (found, seen) = approve_and_listen(|seen| {
        seen.find("dashboard:api")
            .is_some_and(|at| seen[at..].contains("event: view"))
    })
    .await;
    assert!(found, "no view after the transition:\n{seen}");
    let view = seen[seen.find("dashboard:api").unwrap()..]
        .split("event: view\n")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .and_then(|l| l.strip_prefix("data: "))
        .unwrap();
    let v: Value = serde_json::from_str(view).unwrap();
    assert!(v["generated_at"].is_string(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_an_ephemeral_loopback_port_stops_with_the_daemon_despite_open_streams() {
    let h = harness(0).await;
    let (listener, addr, loopback) = karajan::web::bind(None, 0, false).await.unwrap();
    assert!(loopback && addr.ip().is_loopback() && addr.port() != 0);
    let server = tokio::spawn(karajan::web::serve(
        listener,
        h.router.clone(),
        h.shutdown.clone(),
    ));
    let client = reqwest::Client::new();
    let mut sse = client
        .get(format!("http://{addr}/api/v1/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let first = sse.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event: hello"));
    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    h.shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
}
