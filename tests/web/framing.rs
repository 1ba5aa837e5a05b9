//! No framing, no inline or foreign scripts, no script URLs: every response carries a
//! Content-Security-Policy (`frame-ancestors 'none'`, scripts and styles from this
//! origin only) and `X-Frame-Options: DENY`; the pages need nothing inline; a ticket's
//! tracker link is a link only when it is `http(s)`.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use tower::ServiceExt;

use super::{TOKEN, get, harness_with, post};

fn assert_no_framing(what: &str, headers: &HeaderMap) {
    assert_eq!(
        headers.get("x-frame-options").map(|v| v.to_str().unwrap()),
        Some("DENY"),
        "{what}: {headers:?}"
    );
    let csp = headers
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy: {headers:?}"))
        .to_str()
        .unwrap();
    for directive in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{what}: `{directive}` in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{what}: {csp}");
}

/// Inline code the policy would block (and that would tempt loosening it).
fn assert_nothing_inline(what: &str, page: &str) {
    let lower = page.to_ascii_lowercase();
    for (i, _) in lower.match_indices("<script") {
        let tag = &lower[i..i + lower[i..].find('>').unwrap()];
        assert!(tag.contains(" src="), "{what}: an inline script: {tag}");
    }
    assert!(!lower.contains("<style"), "{what}: an inline <style>");
    assert!(
        !lower.contains(" style="),
        "{what}: an inline style attribute"
    );
    let handler = inline_handler(&lower);
    assert!(handler.is_none(), "{what}: an inline handler {handler:?}");
    // As text (a rendered prompt quoting the ticket) it is harmless; as an attribute
    // value it would run.
    for (i, _) in lower.match_indices("javascript:") {
        let before = lower[..i].trim_end_matches([' ', '\t', '\n']);
        let quoted = before.trim_end_matches(['"', '\'']);
        assert!(
            !quoted.ends_with('='),
            "{what}: a javascript: URL in an attribute: {}",
            &page[i.saturating_sub(100)..(i + 100).min(page.len())]
        );
    }
}

/// The first ` on…=` attribute (an inline event handler), if any.
fn inline_handler(page: &str) -> Option<String> {
    page.match_indices(" on").find_map(|(i, _)| {
        let rest = &page[i + 3..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        (!name.is_empty() && rest[name.len()..].starts_with('=')).then(|| format!("on{name}"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_forbids_framing_and_foreign_scripts() {
    let h = harness_with(0, super::SECRET, |_| {}).await;
    h.wait_gate("QS-1").await;
    let mut requests: Vec<(&str, Request<Body>, StatusCode)> = vec![
        ("overview", get("/"), StatusCode::OK),
        ("ticket page", get("/tickets/QS-1"), StatusCode::OK),
        (
            "unknown ticket page",
            get("/tickets/QS-9"),
            StatusCode::NOT_FOUND,
        ),
        ("state", get("/api/v1/state"), StatusCode::OK),
        ("issue", get("/api/v1/issues/QS-1"), StatusCode::OK),
        ("script", get("/assets/app.js"), StatusCode::OK),
        ("style", get("/assets/app.css"), StatusCode::OK),
        ("metrics", get("/metrics"), StatusCode::OK),
        ("health", get("/healthz"), StatusCode::OK),
        ("unknown route", get("/nope"), StatusCode::NOT_FOUND),
        (
            "wrong method",
            get("/api/v1/refresh"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "no token",
            post("/api/v1/refresh", "", None),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "bad sign-in",
            get("/auth?token=nope"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "sign-in",
            get(&format!("/auth?token={TOKEN}")),
            StatusCode::SEE_OTHER,
        ),
        (
            "approve",
            post("/api/v1/issues/QS-1/approve", "", Some(TOKEN)),
            StatusCode::OK,
        ),
    ];
    requests.push((
        "foreign host",
        Request::get("/")
            .header("host", "evil.example")
            .body(Body::empty())
            .unwrap(),
        StatusCode::FORBIDDEN,
    ));
    for (what, req, want) in requests {
        let (status, headers, body) = h.send(req).await;
        assert_eq!(status, want, "{what}: {body}");
        assert_no_framing(what, &headers);
        let html = headers
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("text/html"));
        if html {
            assert_nothing_inline(what, &body);
        }
    }
    // The live stream too (its headers come before any event).
    let res = h
        .router
        .clone()
        .oneshot(get("/api/v1/events"))
        .await
        .unwrap();
    assert_no_framing("events", res.headers());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_http_tracker_links_are_links() {
    let set_url = |s: &crate::e2e::support::Scratch, id: &str, url: &str| {
        let text =
            s.read_ticket(id)
                .replacen("state: Todo", &format!("state: Todo\nurl: '{url}'"), 1);
        std::fs::write(s.ticket(id), text).unwrap();
    };
    let h = harness_with(0, super::SECRET, |s| {
        set_url(
            s,
            "QS-1",
            r#" JavaScript:fetch("/api/v1/issues/QS-1/approve",{method:"POST"})"#,
        );
        set_url(s, "QS-3", "https://tracker.example/QS-3");
        // QS-2 keeps the local tracker's own `file://` URL.
    })
    .await;
    for id in ["QS-1", "QS-2", "QS-3"] {
        h.wait_gate(id).await;
    }
    let (_, page) = h.get("/tickets/QS-1").await;
    assert_nothing_inline("QS-1", &page);
    assert!(!page.contains("open in the tracker"), "{page}");

    let (_, page) = h.get("/tickets/QS-2").await;
    assert!(!page.contains("href=\"file:"), "{page}");
    assert!(
        page.contains("file:&#x2f;&#x2f;") && page.contains("QS-2.md"),
        "the local ticket's file is shown as text: {page}"
    );

    let (_, page) = h.get("/tickets/QS-3").await;
    assert!(
        page.contains("href=\"https:&#x2f;&#x2f;tracker.example&#x2f;QS-3\""),
        "{page}"
    );
    assert!(page.contains("open in the tracker"), "{page}");
}
