//! Readable pages (issue 10 point 14 and the dashboard side of points 6 and 7): the
//! timeline in sentences with the raw JSON one click away, the rework feedback a human
//! sent, failure reasons and resume fallbacks on the ticket page, HTML error pages for
//! browsers (JSON for API clients), and no "Read-only" banner for a signed-in operator.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use super::live_figures::claude_harness;
use super::{TOKEN, error_code, harness, harness_with};

fn browser_get(uri: &str, cookie: Option<&str>) -> Request<Body> {
    let mut b = Request::get(uri).header("host", "127.0.0.1:8080").header(
        header::ACCEPT,
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    );
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    b.body(Body::empty()).unwrap()
}

/// The session cookie the sign-in URL sets.
async fn sign_in(h: &super::Harness) -> String {
    let (s, headers, _) = h.send(super::get(&format!("/auth?token={TOKEN}"))).await;
    assert!(s.is_redirection(), "{s}");
    let set = headers[header::SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_get_html_error_pages_and_api_clients_json() {
    let h = harness(0).await;
    // 404: a browser navigation gets a page, an API client the envelope.
    let (s, headers, body) = h.send(browser_get("/no/such/page", None)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let ct = headers[header::CONTENT_TYPE].to_str().unwrap();
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(body.contains("404 · Not Found"), "{body}");
    assert!(
        body.contains("no such endpoint: &#x2f;no&#x2f;such&#x2f;page"),
        "{body}"
    );
    assert!(
        body.contains("/assets/app.css"),
        "the page has the dashboard's look"
    );
    let (s, v) = h.get_json("/no/such/page").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&v), "not_found");
    // 405: the same, and the `Allow` header stays.
    let (s, headers, body) = h.send(browser_get("/api/v1/refresh", None)).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(headers.contains_key(header::ALLOW), "{headers:?}");
    assert!(body.contains("405 · Method Not Allowed"), "{body}");
    let (s, v) = h.get_json("/api/v1/refresh").await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&v), "method_not_allowed");
    // An unknown ticket's API answer stays JSON even for a client asking for it.
    let (s, _, body) = h
        .send(
            Request::get("/api/v1/issues/QS-99")
                .header("host", "127.0.0.1:8080")
                .header(header::ACCEPT, "application/json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(body.starts_with("{\"error\""), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_operator_is_never_shown_read_only() {
    let h = harness(0).await;
    let cookie = sign_in(&h).await;
    for uri in ["/", "/tickets/QS-404", "/no/such/page"] {
        let (_, _, body) = h.send(browser_get(uri, Some(&cookie))).await;
        assert!(!body.contains("Read-only"), "{uri}: {body}");
    }
    // A visitor without the cookie is told, on pages (not on error pages).
    let (_, _, body) = h.send(browser_get("/tickets/QS-404", None)).await;
    assert!(body.contains("Read-only"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeline_reads_as_sentences_and_shows_rework_feedback() {
    let h = harness(0).await;
    h.wait_gate("QS-1").await;
    let (s, v) = h
        .post(
            "/api/v1/issues/QS-1/rework",
            r#"{"feedback":"please cover the empty input"}"#,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    h.wait_gate("QS-1").await;
    let (s, page) = h.get("/tickets/QS-1").await;
    assert_eq!(s, StatusCode::OK);
    // The feedback, on its own and in the timeline.
    assert!(page.contains("id=\"feedback\""), "{page}");
    assert!(
        page.contains("<blockquote>please cover the empty input</blockquote>"),
        "{page}"
    );
    assert!(
        page.contains("rework #1 requested at review, by dashboard:api. Feedback: “please cover the empty input”"),
        "{page}"
    );
    // Runs and transitions in words, with their figures; raw JSON behind a click.
    assert!(
        page.contains("Entered implement: picked up from the todo column, by karajan"),
        "{page}"
    );
    assert!(page.contains(" succeeded after "), "{page}");
    assert!(
        page.contains("(run #1, attempt 1) with the runner command"),
        "{page}"
    );
    assert!(page.contains("<details class=\"raw\""), "{page}");
    assert!(
        !page.contains("<code>{&quot;"),
        "no event is shown only as inline JSON: {page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ticket_page_shows_the_stored_failure_reason() {
    let h = harness_with(0, super::SECRET, |s| {
        s.script(
            "agent.sh",
            "#!/bin/sh\ncat > /dev/null\necho 'upstream says model overloaded 529' >&2\nexit 3\n",
        );
    })
    .await;
    h.wait_view("QS-1 waiting to retry", |v| {
        v.retries.iter().any(|r| r.identifier == "QS-1")
    })
    .await;
    let events = h.store.events_for("QS-1").await.unwrap();
    let finished = events.iter().find(|e| e.kind == "run_finished").unwrap();
    let reason = finished.payload["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("model overloaded 529"), "{reason}");
    let (_, page) = h.get("/tickets/QS-1").await;
    let runs = &page[page.find("id=\"runs\"").expect("a runs table")..];
    assert!(runs.contains(&format!("failed: {reason}")), "{runs}");
    let timeline = &page[page.find("id=\"timeline\"").unwrap()..];
    assert!(
        timeline.contains(&format!("(exit 3): {reason}")),
        "{timeline}"
    );
    // The overview's retry queue says why too.
    let (_, overview) = h.get("/").await;
    assert!(overview.contains("model overloaded 529"), "{overview}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_that_fell_back_is_shown_on_the_ticket_page() {
    // finalize inherits implement's session; this fake Claude no longer knows it.
    let h = claude_harness("resume-unknown").await;
    h.wait_gate("QS-1").await;
    let (s, v) = h.post("/api/v1/issues/QS-1/approve", "").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let start = std::time::Instant::now();
    let fallback = loop {
        let events = h.store.events_for("QS-1").await.unwrap();
        if let Some(e) = events
            .iter()
            .find(|e| e.kind == "run_finished" && e.payload["resume_fallback"].is_string())
        {
            break e.payload["resume_fallback"].as_str().unwrap().to_string();
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no run fell back: {events:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let (_, page) = h.get("/tickets/QS-1").await;
    let short: String = fallback.chars().take(12).collect();
    let runs = &page[page.find("id=\"runs\"").unwrap()..];
    assert!(
        runs.contains(&format!(
            "resume of session <code>{short}</code> fell back to a fresh session"
        )),
        "{runs}"
    );
    assert!(
        page.contains(&format!(
            "could not resume session {short}: started a fresh one"
        )),
        "{page}"
    );
}
