//! No secret in any form on any surface, and nothing but secrets blanked.
//!
//! The secret here is made of the characters that HTML, JSON and URL escaping rewrite
//! (`/ + & < > " \`): redaction that ran after escaping missed every escaped copy. It
//! reaches the dashboard through a ticket's title, rework feedback, the agent's stdout,
//! stderr and JSON events, and an error message naming it.

use std::time::Duration;

use axum::http::StatusCode;
use futures::StreamExt;
use tower::ServiceExt;

use super::{get, harness_with};

pub const HOSTILE: &str = r#"ab/c+d&e<f>g"h\i"#;

/// HTML escaping as the templates do it (MiniJinja's HTML auto-escape).
fn html(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '/' => out.push_str("&#x2f;"),
            c => out.push(c),
        }
    }
    out
}

fn json(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap();
    quoted[1..quoted.len() - 1].to_string()
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Every form the secret can take in a body: raw, HTML-escaped, JSON-escaped, JSON
/// inside HTML, percent-encoded.
fn forms(secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("raw", secret.to_string()),
        ("html", html(secret)),
        ("json", json(secret)),
        ("json in html", html(&json(secret))),
        ("percent-encoded", percent(secret)),
    ]
}

fn assert_clean(surface: &str, body: &str) {
    for (form, text) in forms(HOSTILE) {
        assert!(
            !body.contains(&text),
            "{surface} shows the secret ({form}: {text}):\n{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_with_escaped_characters_is_blanked_on_every_surface() {
    let h = harness_with(0, HOSTILE, |s| {
        // Someone pasted the key into the ticket's title.
        let text = s.read_ticket("QS-1").replace(
            "title: Add a friendly greeting",
            &format!("title: 'greeting {HOSTILE}'"),
        );
        std::fs::write(s.ticket("QS-1"), text).unwrap();
    })
    .await;
    h.wait_gate("QS-1").await;
    let sse = h
        .router
        .clone()
        .oneshot(get("/api/v1/events"))
        .await
        .unwrap();
    let mut stream = sse.into_body().into_data_stream();
    let feedback = serde_json::json!({ "feedback": format!("rotate {HOSTILE} please") });
    let (s, v) = h
        .post("/api/v1/issues/QS-1/rework", &feedback.to_string())
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_clean("the rework answer", &v.to_string());
    h.wait_view("QS-1 back at the gate after rework", |v| {
        v.gates
            .iter()
            .any(|g| g.identifier == "QS-1" && g.rework_count == 1)
    })
    .await;
    let mut streamed = String::new();
    let _ = tokio::time::timeout(Duration::from_millis(800), async {
        while let Some(Ok(chunk)) = stream.next().await {
            streamed.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(streamed.contains("event: transition"), "{streamed}");
    assert_clean("/api/v1/events", &streamed);
    assert!(
        streamed.contains("rotate [redacted] please"),
        "the feedback is streamed, blanked: {streamed}"
    );

    let mut pages = vec![];
    for uri in [
        "/",
        "/tickets/QS-1",
        "/api/v1/state",
        "/api/v1/issues/QS-1",
        "/metrics",
        "/api/v1/stats/daily",
    ] {
        let (s, body) = h.get(uri).await;
        assert_eq!(s, StatusCode::OK, "{uri}");
        assert_clean(uri, &body);
        pages.push(body);
    }
    // Verify now's answer (a break's problem names what the store holds).
    let (s, v) = h.post("/api/v1/verify", "").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_clean("/api/v1/verify", &v.to_string());
    // Error messages that name what was asked for.
    for uri in [
        format!("/api/v1/issues/{}", percent(HOSTILE)),
        format!("/tickets/{}", percent(HOSTILE)),
        format!("/nope/{}", percent(HOSTILE)),
    ] {
        let (s, body) = h.get(&uri).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{uri}");
        assert_clean(&uri, &body);
    }
    // A bad query is echoed in its error, blanked.
    let uri = format!("/api/v1/stats/daily?days={}", percent(HOSTILE));
    let (s, body) = h.get(&uri).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}");
    assert_clean(&uri, &body);
    // The secret did reach each surface, blanked.
    let (overview, ticket, issue) = (&pages[0], &pages[1], &pages[3]);
    assert!(overview.contains("greeting [redacted]"), "{overview}");
    for shown in [
        "greeting [redacted]",
        "using key [redacted]",
        "key [redacted]",
        "leaking [redacted]",
        "rotate [redacted] please",
    ] {
        assert!(ticket.contains(shown), "the ticket page shows `{shown}`");
    }
    assert!(issue.contains("leaking [redacted]"), "{issue}");
    assert!(issue.contains("rotate [redacted] please"), "{issue}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_literal_runner_env_value_is_not_blanked() {
    // The harness sets `KARAJAN_STAGE: implement`, a literal: not a secret.
    let h = harness_with(0, HOSTILE, |_| {}).await;
    h.wait_gate("QS-1").await;
    let (_, v) = h.get_json("/api/v1/issues/QS-1").await;
    assert_eq!(v["current_run"]["state"], "implement", "{v}");
    let (_, page) = h.get("/tickets/QS-1").await;
    assert!(page.contains("implement #1"), "{page}");
    assert!(
        !page.contains("[redacted] #1"),
        "a state name is not a secret"
    );
}
