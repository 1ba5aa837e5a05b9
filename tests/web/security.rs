//! Reads open on loopback, mutations need the token, cross-site and rebinding
//! requests are refused, the cookie flow, and no secret in any body.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use tower::ServiceExt;

use super::{SECRET, TOKEN, error_code, get, harness, post};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_need_the_token_and_the_same_origin() {
    let h = harness(0).await;
    // Reads are open on loopback.
    let (s, _) = h.get("/api/v1/state").await;
    assert_eq!(s, StatusCode::OK);
    for uri in [
        "/api/v1/refresh",
        "/api/v1/dispatch/pause",
        "/api/v1/issues/QS-1/approve",
    ] {
        let (s, _, body) = h.send(post(uri, "", None)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(
            error_code(&serde_json::from_str(&body).unwrap()),
            "unauthorized"
        );
        let (s, _, _) = h.send(post(uri, "", Some("wrong-token"))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{uri}");
    }
    // Cross-site, even with the token.
    let req = Request::post("/api/v1/refresh")
        .header("host", "127.0.0.1:8080")
        .header("origin", "http://evil.example")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let (s, _, body) = h.send(req).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        error_code(&serde_json::from_str(&body).unwrap()),
        "cross_origin"
    );
    let req = Request::post("/api/v1/refresh")
        .header("host", "127.0.0.1:8080")
        .header("sec-fetch-site", "cross-site")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(h.send(req).await.0, StatusCode::FORBIDDEN);
    // DNS rebinding: a foreign Host on the loopback listener.
    let req = Request::get("/api/v1/state")
        .header("host", "attacker.example:8080")
        .body(Body::empty())
        .unwrap();
    let (s, _, body) = h.send(req).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        error_code(&serde_json::from_str(&body).unwrap()),
        "forbidden_host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_url_sets_a_strict_http_only_cookie_that_authorizes() {
    let h = harness(0).await;
    let (s, _, _) = h.send(get("/auth?token=nope")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, headers, _) = h.send(get(&format!("/auth?token={TOKEN}"))).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(headers["location"], "/");
    let cookie = headers["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(
        !cookie.contains(TOKEN),
        "the cookie carries a digest, not the token"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let req = Request::post("/api/v1/dispatch/pause")
        .header("host", "127.0.0.1:8080")
        .header("origin", "http://127.0.0.1:8080")
        .header("cookie", &pair)
        .body(Body::empty())
        .unwrap();
    assert_eq!(h.send(req).await.0, StatusCode::ACCEPTED);
    // Signed in, the page offers the actions.
    let req = Request::get("/")
        .header("host", "127.0.0.1:8080")
        .header("cookie", &pair)
        .body(Body::empty())
        .unwrap();
    let (_, _, page) = h.send(req).await;
    assert!(page.contains("data-action=\"resume\"") || page.contains("data-action=\"pause\""));
    assert!(!page.contains("Read-only"));
    let (_, anon) = h.get("/").await;
    assert!(anon.contains("Read-only"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_and_no_token_in_any_page_or_api_body() {
    let h = harness(0).await;
    h.wait_gate("QS-1").await;
    let sse = h
        .router
        .clone()
        .oneshot(get("/api/v1/events"))
        .await
        .unwrap();
    let mut stream = sse.into_body().into_data_stream();
    let (s, _) = h.post("/api/v1/issues/QS-1/approve", "").await;
    assert_eq!(s, StatusCode::OK);
    h.wait_view("QS-1 done", |v| {
        v.recent_transitions
            .iter()
            .any(|t| t.identifier == "QS-1" && t.to == "done")
    })
    .await;
    let mut bodies = vec![];
    for uri in [
        "/",
        "/tickets/QS-1",
        "/tickets/QS-2",
        "/api/v1/state",
        "/api/v1/issues/QS-1",
        "/api/v1/issues/QS-2",
        "/metrics",
        "/healthz",
    ] {
        let (s, body) = h.get(uri).await;
        assert_eq!(s, StatusCode::OK, "{uri}");
        bodies.push((uri.to_string(), body));
    }
    let mut streamed = String::new();
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while let Some(Ok(chunk)) = stream.next().await {
            streamed.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(streamed.contains("event: transition"), "{streamed}");
    bodies.push(("/api/v1/events".into(), streamed));
    for (uri, body) in &bodies {
        assert!(!body.contains(SECRET), "{uri} shows the runner secret");
        assert!(!body.contains(TOKEN), "{uri} shows the operator token");
    }
    // The agent did print the secret: the ticket page shows it blanked.
    let page = &bodies[2].1;
    assert!(
        page.contains("using key [redacted]") || page.contains("key [redacted]"),
        "{page}"
    );
}

#[tokio::test]
async fn a_public_bind_needs_a_configured_token() {
    let refused = karajan::web::bind(Some("0.0.0.0"), 0, false).await;
    assert!(matches!(
        refused,
        Err(karajan::web::ServeError::ExposedWithoutToken(_))
    ));
    let (_l, addr, loopback) = karajan::web::bind(None, 0, false).await.unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0 && loopback);
    let (_l, _, loopback) = karajan::web::bind(Some("0.0.0.0"), 0, true).await.unwrap();
    assert!(!loopback);

    let scratch = crate::e2e::support::Scratch::quickstart();
    let text = std::fs::read_to_string(scratch.workflow()).unwrap();
    let bad = format!("{text}server:\n  host: 0.0.0.0\n  port: 8080\n  prot: 1\n");
    let errors = karajan::workflow_load::load_str(&bad, &scratch.workflow())
        .unwrap_err()
        .to_string();
    assert!(errors.contains("server.token"), "{errors}");
    assert!(
        errors.contains("server.prot") && errors.contains("port"),
        "{errors}"
    );
    let good = format!("{text}server:\n  port: 0\n");
    let wf = karajan::workflow_load::load_str(&good, &scratch.workflow()).unwrap();
    assert_eq!(wf.server.port, Some(0));
    assert!(wf.server.host.is_none() && wf.server.token.is_none());
}

#[test]
fn the_dashboard_verb_prints_the_sign_in_url_and_a_public_bind_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = crate::e2e::support::Scratch::quickstart();
    // No daemon and no configured port: nothing to sign in to.
    let out = scratch.karajan(&["dashboard", "workflow.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--port"));
    // The token was generated at first use, owner-only, and is stable.
    let token_file = scratch.path().join(".karajan/dashboard.token");
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let token = std::fs::read_to_string(&token_file).unwrap();
    let text = std::fs::read_to_string(scratch.workflow()).unwrap();
    std::fs::write(scratch.workflow(), format!("{text}server:\n  port: 8484\n")).unwrap();
    let out = scratch.karajan(&["dashboard", "workflow.yaml"]);
    assert!(out.status.success());
    let url = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        url.trim(),
        format!("http://127.0.0.1:8484/auth?token={}", token.trim())
    );
    // Exposing the dashboard without a token: karajan refuses to start.
    std::fs::write(
        scratch.workflow(),
        format!("{text}server:\n  host: 0.0.0.0\n  port: 0\n"),
    )
    .unwrap();
    let out = scratch.karajan(&["run", "workflow.yaml", "--once"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.token"));
    assert!(!scratch.db().exists(), "nothing ran");
}
