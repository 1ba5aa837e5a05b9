//! API details: an approval retried after a lost response, `OPTIONS`, a pause seen at
//! once, and Symphony's remaining field names.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;

use super::{error_code, harness, harness_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_again_after_a_lost_response_answers_the_existing_transition() {
    // Slow agents: the retry comes while the next state's run is still going.
    let h = harness(2).await;
    h.wait_gate("QS-1").await;
    let (s, first) = h
        .post("/api/v1/issues/QS-1/approve", r#"{"actor":"alice"}"#)
        .await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(
        (first["from"].as_str(), first["to"].as_str()),
        (Some("review"), Some("finalize"))
    );
    // The client lost that answer and sends the same request again.
    let (s, again) = h
        .post("/api/v1/issues/QS-1/approve", r#"{"actor":"alice"}"#)
        .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["from"], "review");
    assert_eq!(again["to"], "finalize");
    assert_eq!(again["identifier"], "QS-1");
    assert_eq!(again["replayed"], true, "{again}");
    // Exactly one approval was recorded.
    let events = h.store.events_for("QS-1").await.unwrap();
    let approvals = events
        .iter()
        .filter(|e| e.kind == "transition" && e.payload["cause"] == "approved")
        .count();
    assert_eq!(approvals, 1);
    assert_eq!(
        again["seq"],
        events
            .iter()
            .rev()
            .find(|e| e.kind == "transition" && e.payload["cause"] == "approved")
            .unwrap()
            .seq
    );
    // Someone else approving a ticket that is no longer at the gate: a conflict.
    let (s, v) = h
        .post("/api/v1/issues/QS-1/approve", r#"{"actor":"bob"}"#)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(error_code(&v), "not_at_gate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_is_method_not_allowed_not_unauthorized() {
    let h = harness(0).await;
    for uri in [
        "/",
        "/api/v1/state",
        "/api/v1/refresh",
        "/api/v1/dispatch/pause",
        "/api/v1/issues/QS-1/approve",
    ] {
        // A plain OPTIONS, and a cross-site CORS preflight.
        for origin in [None, Some("http://evil.example")] {
            let mut req = Request::options(uri).header("host", "127.0.0.1:8080");
            if let Some(o) = origin {
                req = req
                    .header("origin", o)
                    .header("access-control-request-method", "POST");
            }
            let (s, headers, body) = h.send(req.body(Body::empty()).unwrap()).await;
            assert_eq!(
                s,
                StatusCode::METHOD_NOT_ALLOWED,
                "{uri} {origin:?}: {body}"
            );
            assert!(headers.contains_key("allow"), "{uri}: {headers:?}");
            assert!(
                !headers.contains_key("access-control-allow-origin"),
                "{uri}: a preflight is refused: {headers:?}"
            );
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(error_code(&v), "method_not_allowed");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_reflects_a_pause_at_once() {
    let h = harness(0).await;
    for round in 0..10 {
        let (s, v) = h.post("/api/v1/dispatch/pause", "").await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let (_, state) = h.get_json("/api/v1/state").await;
        assert_eq!(
            state["paused"], true,
            "round {round}: pause not seen at once"
        );
        let (s, _) = h.post("/api/v1/dispatch/resume", "").await;
        assert_eq!(s, StatusCode::ACCEPTED);
        let (_, state) = h.get_json("/api/v1/state").await;
        assert_eq!(
            state["paused"], false,
            "round {round}: resume not seen at once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symphony_field_names_are_there_too() {
    // QS-2's agent fails, so it waits in the retry queue.
    let h = harness_with(3, super::SECRET, |s| {
        let agent = s.path().join("agent.sh");
        let text = std::fs::read_to_string(&agent).unwrap().replacen(
            "set -eu\n",
            "set -eu\n[ \"$KARAJAN_ISSUE\" = QS-2 ] && { echo boom >&2; exit 3; }\n",
            1,
        );
        std::fs::write(&agent, text).unwrap();
    })
    .await;
    h.wait_view("a running agent and a retry", |v| {
        !v.running.is_empty() && v.retries.iter().any(|r| r.identifier == "QS-2")
    })
    .await;
    let (_, v) = h.get_json("/api/v1/state").await;
    let row = &v["running"][0];
    assert_eq!(row["issue_url"], row["url"], "{row}");
    assert!(
        row["issue_url"].as_str().unwrap().starts_with("file://"),
        "{row}"
    );
    assert!(row["seconds_running"].as_f64().unwrap() >= 0.0, "{row}");
    let t = &row["tokens"];
    for k in ["input_tokens", "output_tokens", "total_tokens"] {
        assert!(t[k].is_u64(), "`tokens.{k}` in {row}");
    }
    assert_eq!(
        t["total_tokens"].as_u64(),
        Some(t["input_tokens"].as_u64().unwrap() + t["output_tokens"].as_u64().unwrap())
    );
    let retry = v["retrying"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["issue_identifier"] == "QS-2")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(retry["issue_id"], "QS-2", "{retry}");
    let totals = &v["codex_totals"];
    for k in ["input_tokens", "output_tokens", "total_tokens"] {
        assert!(totals[k].is_u64(), "`codex_totals.{k}` in {v}");
    }
    assert!(totals["seconds_running"].as_f64().unwrap() >= 0.0, "{v}");
    for k in ["input_tokens", "output_tokens", "total_tokens"] {
        assert!(
            v["totals"]["tokens"][k].is_u64(),
            "`totals.tokens.{k}` in {v}"
        );
    }

    let running = row["identifier"].as_str().unwrap();
    let (_, d) = h.get_json(&format!("/api/v1/issues/{running}")).await;
    assert_eq!(d["issue_url"], row["url"], "{d}");
}
