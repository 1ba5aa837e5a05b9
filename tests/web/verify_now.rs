//! "Verify now" over the API (issue 16 item 5): `POST /api/v1/verify` needs the operator
//! token and the same origin like every action, asks the daemon to re-verify the chain,
//! answers with the verdict and publishes it (`/api/v1/state`, the overview); a row
//! edited behind karajan's back turns it into "broken" with that row's seq. The ticket
//! page shows each event's hash link and what seals and anchors it.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use karajan::store::signing;

use super::{TOKEN, error_code, harness, post};
use crate::e2e::history_proof::tamper_payload;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_now_needs_the_token_and_publishes_its_verdict() {
    let h = harness(0).await;
    let key = signing::load_or_create(&h.scratch.path().join("keys/store.key")).unwrap();
    h.store.set_signing_key(key).await.unwrap();
    h.wait_gate("QS-1").await;

    // Like approve: no token, or a token from another origin, is refused.
    let (s, _, body) = h.send(post("/api/v1/verify", "", None)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    let req = Request::post("/api/v1/verify")
        .header("host", "127.0.0.1:8080")
        .header("origin", "http://evil.example")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let (s, _, body) = h.send(req).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(!error_code(&serde_json::from_str(&body).unwrap()).is_empty());

    let (s, v) = h.post("/api/v1/verify", "").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["trigger"], "requested");
    assert!(v["first_break"].is_null(), "{v}");
    let (head, _) = h.store.head().await.unwrap();
    let events = v["events"].as_i64().unwrap();
    assert!(events > 10 && events <= head, "{v} (head {head})");
    let (_, state) = h.get_json("/api/v1/state").await;
    assert_eq!(state["verification"]["at"], v["at"], "{state:#}");
    assert_eq!(state["last_verify_ok"], true);

    // The ticket page: hash links, seals and the anchor.
    let detail = h.store.events_for("QS-1").await.unwrap();
    let last = detail.last().unwrap();
    let (s, page) = h.get("/tickets/QS-1").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        page.contains(&format!(
            "<code title=\"hash {}\">{}</code>",
            last.hash,
            &last.hash[..8]
        )),
        "{page}"
    );
    assert!(page.contains("id=\"proof\""), "{page}");
    assert!(page.contains("sealed by checkpoint #"), "{page}");
    assert!(page.contains("signed, signature valid"), "{page}");
    assert!(page.contains("anchored in the tracker up to seq"), "{page}");
    assert!(page.contains("class=\"badge anchored\""), "{page}");

    // A row edited behind karajan's back: the next verify now says where.
    tamper_payload(&h.scratch.db(), 3).await;
    let (s, v) = h.post("/api/v1/verify", "").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["first_break"]["seq"], 3, "{v}");
    assert!(v["breaks"].as_u64().unwrap() >= 1);
    let (_, state) = h.get_json("/api/v1/state").await;
    assert_eq!(state["verification"]["ok"], false, "{state:#}");
    assert_eq!(state["last_verify_ok"], false);
    let (_, overview) = h.get("/").await;
    assert!(overview.contains(">BROKEN</span>"), "{overview}");
    assert!(overview.contains("the first at seq 3:"), "{overview}");
}
