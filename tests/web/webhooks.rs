//! Webhooks (issue 11 point 4), from outside: the engine runs against the fake Linear
//! and the fake GitHub with a one-hour poll, and signed deliveries go through the real
//! router. A valid delivery gets the ticket acted on at once; a bad signature, a replay
//! and a stale timestamp are refused, counted on `/metrics` and recorded (coalesced); and
//! with webhooks on, an idle daemon touches the tracker only at its consistency polls
//! (`webhooks_idle`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hmac::{Hmac, Mac};
use karajan::config::{Secret, TrackerConfig, WebhookConfig, Workflow};
use karajan::orchestrator::{Engine, Handle, Options};
use karajan::store::Store;
use karajan::tracker::Tracker;
use karajan::web::{AppState, Auth};
use sha2::Sha256;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::e2e::support::Scratch;

pub(crate) const SECRET: &str = "whsec-test-4f1c9a7e2b";
pub(crate) const HOUR: Duration = Duration::from_secs(3600);

pub(crate) fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The quickstart workflow, with no local tickets, a one-hour poll and webhooks on.
pub(crate) fn workflow(s: &Scratch, poll_interval: Duration) -> Workflow {
    for e in std::fs::read_dir(s.path().join("tickets")).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let mut wf = karajan::workflow_load::load(&s.workflow()).unwrap_or_else(|e| panic!("{e}"));
    wf.polling.interval = HOUR;
    wf.server.port = Some(0);
    wf.server.webhooks = Some(WebhookConfig {
        path: "/hooks/karajan".into(),
        secret: Secret::new(SECRET),
        replay_window: Duration::from_secs(300),
        poll_interval,
    });
    wf
}

pub(crate) struct Daemon {
    router: axum::Router,
    store: Store,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), karajan::store::StoreError>>,
    _handle: Handle,
}

pub(crate) async fn start(wf: Workflow, tracker: Arc<dyn Tracker>) -> Daemon {
    std::fs::create_dir_all(wf.store.path.parent().unwrap()).unwrap();
    std::fs::create_dir_all(&wf.store.logs).unwrap();
    let store = Store::open(&wf.store.path, &wf.store.checkpoints)
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let secrets = karajan::web::secrets_of(&wf);
    assert_eq!(
        secrets.iter().any(|s| s == SECRET),
        wf.server.webhooks.is_some(),
        "the webhook secret is among those redacted"
    );
    let wf = Arc::new(wf);
    let engine = Engine::new(wf.clone(), tracker, store.clone());
    let opts = Options {
        once: false,
        watch: false,
        shutdown: shutdown.clone(),
    };
    let (handle, task) = karajan::orchestrator::spawn(engine, opts);
    let auth = Auth::new(Secret::new("operator-token-0123456789"), true);
    let state = AppState::new(
        handle.clone(),
        store.clone(),
        auth,
        secrets,
        shutdown.clone(),
    )
    .with_webhooks(&wf);
    Daemon {
        router: karajan::web::router(state),
        store,
        shutdown,
        task,
        _handle: handle,
    }
}

impl Daemon {
    /// POST a delivery as it arrives through a reverse proxy (public `Host`).
    pub(crate) async fn deliver(
        &self,
        headers: &[(&str, String)],
        body: &str,
    ) -> (StatusCode, String) {
        let mut req = Request::post("/hooks/karajan")
            .header("host", "karajan.example.com")
            .header("content-type", "application/json; charset=utf-8");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let res = self
            .router
            .clone()
            .oneshot(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn metrics(&self) -> String {
        let req = Request::get("/metrics")
            .header("host", "127.0.0.1:8080")
            .body(Body::empty())
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// A Linear delivery as Linear sends it: `Linear-Event`, `Linear-Delivery` and the hex
/// HMAC of the raw body in `Linear-Signature`, `webhookTimestamp` in ms. Its `data` is
/// cut down to the issue's name (no `updatedAt`, labels or state id), so it cannot
/// stand for a read: karajan reads the ticket, the path these tests follow (deliveries
/// that carry the whole issue: `webhooks_delivered`).
fn linear_issue(identifier: &str, at_ms: i64) -> String {
    serde_json::json!({
        "action": "update",
        "type": "Issue",
        "createdAt": "2026-12-03T10:00:00.000Z",
        "data": {"id": "issue-uuid-1", "identifier": identifier, "title": "Greet",
                 "state": {"name": "Todo", "type": "unstarted"}},
        "updatedFrom": {"stateId": "state-backlog"},
        "url": format!("https://linear.app/acme/issue/{identifier}"),
        "organizationId": "org-1",
        "webhookTimestamp": at_ms,
        "webhookId": "webhook-1"
    })
    .to_string()
}

pub(crate) fn linear_headers(delivery: &str, signature: String) -> Vec<(&'static str, String)> {
    vec![
        ("linear-event", "Issue".into()),
        ("linear-delivery", delivery.into()),
        ("linear-signature", signature),
        ("user-agent", "Linear-Webhook".into()),
    ]
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Wait (up to 30 s of real time; the poll is an hour away) until `f` holds.
pub(crate) async fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn linear_daemon_parts(s: &Scratch, fake: &crate::linear::fake::FakeLinear) -> Workflow {
    let mut wf = workflow(s, HOUR);
    let mut c = crate::linear::config(fake);
    c.request_timeout = Duration::from_secs(5);
    wf.tracker = TrackerConfig::new(c);
    wf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linear_delivery_gets_the_ticket_acted_on_without_waiting_for_the_poll() {
    let s = Scratch::quickstart();
    let fake = crate::linear::fake::FakeLinear::start().await;
    let wf = linear_daemon_parts(&s, &fake);
    let tracker = karajan::tracker::from_config(&wf).unwrap();
    let d = start(wf, tracker).await;
    until("the first poll", || !fake.world().requests.is_empty()).await;
    let polled = fake.world().requests.len();

    // A human puts a ticket in Todo; Linear tells karajan.
    let id = fake.world().add_issue("Todo", "Add a friendly greeting");
    let body = linear_issue(&id, now_ms());
    let (status, answer) = d
        .deliver(
            &linear_headers("0b3c-delivery-1", hmac_hex(SECRET, body.as_bytes())),
            &body,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer.contains(&id), "{answer}");
    until("the ticket dispatched", || {
        fake.world().column_of(&id) != "Todo"
    })
    .await;
    assert!(fake.world().requests.len() > polled);
    // The delivery named the ticket: karajan read that ticket alone (by its number),
    // not the whole candidate list.
    let number = id.rsplit('-').next().unwrap().to_string();
    let reads: Vec<String> = fake.world().requests[polled..]
        .iter()
        .filter(|r| r.operation == "ListIssues")
        .map(|r| r.variables["filter"].to_string())
        .collect();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert!(
        reads[0].contains("number") && reads[0].contains(&number),
        "a read of the named ticket: {reads:?}"
    );
    assert!(
        d.metrics()
            .await
            .contains("karajan_webhook_deliveries_total{source=\"linear\",outcome=\"accepted\"} 1")
    );
    d.stop().await;
}

/// The GitHub tracker config for the fake (labels mode, repo `acme/app`).
pub(crate) fn github_config(
    fake: &crate::github::fake::Fake,
) -> karajan::tracker::github::GithubConfig {
    let yaml = format!(
        "kind: github\nrepo: acme/app\nmode: labels\ntoken: $GITHUB_TOKEN\napi_url: {}\n",
        fake.url
    );
    let raw: karajan::tracker::github::RawGithubConfig = yaml_serde::from_str(&yaml).unwrap();
    karajan::tracker::github::GithubConfig::from_raw(raw, |_| {
        Ok(crate::github::fake::TOKEN.to_string())
    })
    .expect("valid config")
}

/// The runtime a daemon on the fake GitHub runs on (the fake has its own: see
/// `GhScratch`).
pub(crate) fn daemon_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A daemon on the quickstart `s` with the fake GitHub (labels mode) as its tracker,
/// once it has polled.
pub(crate) async fn github_daemon(s: &Scratch, fake: &crate::github::fake::Fake) -> Daemon {
    let mut wf = workflow(s, HOUR);
    wf.tracker = TrackerConfig::new(github_config(fake));
    let tracker = karajan::tracker::from_config(&wf).unwrap();
    let d = start(wf, tracker).await;
    until("the first poll", || fake.request_count() > 0).await;
    d
}

#[test]
fn a_github_delivery_gets_the_issue_acted_on_without_waiting_for_the_poll() {
    // The fake runs on its own runtime (see `GhScratch`); the daemon on this one.
    let gh = crate::github::scratch::GhScratch::new("labels", "");
    daemon_runtime().block_on(async {
        let s = Scratch::quickstart();
        let d = github_daemon(&s, &gh.fake).await;

        gh.add_issue(1, "Add a greeting", "Todo");
        let body = serde_json::json!({
            "action": "labeled",
            "issue": {"number": 1, "title": "Add a greeting", "state": "open",
                      "labels": [{"name": "karajan:todo"}]},
            "label": {"name": "karajan:todo"},
            "repository": {"full_name": "acme/app", "name": "app", "owner": {"login": "acme"}},
            "sender": {"login": "ada"}
        })
        .to_string();
        let sig = format!("sha256={}", hmac_hex(SECRET, body.as_bytes()));
        let headers = vec![
            ("x-github-event", "issues".to_string()),
            (
                "x-github-delivery",
                "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
            ),
            ("x-hub-signature-256", sig.clone()),
            ("user-agent", "GitHub-Hookshot/044aadd".into()),
        ];
        let (status, answer) = d.deliver(&headers, &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(answer.contains("acme/app#1"), "{answer}");
        // (A label move is two requests: look for the old label gone.)
        until("the issue dispatched", || {
            !gh.fake.issue(1).labels.iter().any(|l| l == "karajan:todo")
        })
        .await;
        // (Not `GhScratch::column`, which refuses the two state labels one of
        // karajan's label moves leaves for a moment.)
        assert!(
            gh.fake
                .issue(1)
                .labels
                .iter()
                .any(|l| l.starts_with("karajan:") && l != "karajan:todo"),
            "{:?}",
            gh.fake.issue(1).labels
        );

        // The same delivery again is a replay.
        let (status, _) = d.deliver(&headers, &body).await;
        assert_eq!(status, StatusCode::CONFLICT);
        // A ping (sent when the hook is created) is accepted and ignored.
        let ping = r#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
        let (status, answer) = d
            .deliver(
                &[
                    ("x-github-event", "ping".into()),
                    ("x-github-delivery", "ping-1".into()),
                    (
                        "x-hub-signature-256",
                        format!("sha256={}", hmac_hex(SECRET, ping.as_bytes())),
                    ),
                ],
                ping,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(answer.contains("ignored"), "{answer}");
        d.stop().await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_replays_and_stale_deliveries_are_refused_and_recorded() {
    let s = Scratch::quickstart();
    let fake = crate::linear::fake::FakeLinear::start().await;
    let wf = linear_daemon_parts(&s, &fake);
    let tracker = karajan::tracker::from_config(&wf).unwrap();
    let d = start(wf, tracker).await;
    until("the first poll", || !fake.world().requests.is_empty()).await;
    let polled = fake.world().requests.len();

    let body = linear_issue("ENG-9", now_ms());
    // Signed with another secret: 401, and a flood of them records one event.
    for n in 0..25 {
        let (status, answer) = d
            .deliver(
                &linear_headers(
                    &format!("junk-{n}"),
                    hmac_hex("not-the-secret", body.as_bytes()),
                ),
                &body,
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert!(answer.contains("bad_signature"), "{answer}");
        assert!(!answer.contains(SECRET));
    }
    // No signature header at all; no sender headers at all.
    let (status, _) = d
        .deliver(&[("linear-delivery", "d-nosig".into())], &body)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer) = d.deliver(&[], &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(answer.contains("unsigned"), "{answer}");
    // Correctly signed, but sent ten minutes ago (the window is five).
    let stale = linear_issue("ENG-9", now_ms() - 600_000);
    let (status, answer) = d
        .deliver(
            &linear_headers("d-stale", hmac_hex(SECRET, stale.as_bytes())),
            &stale,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer.contains("stale"), "{answer}");
    // A body tampered with after signing.
    let tampered = body.replace("ENG-9", "ENG-1");
    let (status, _) = d
        .deliver(
            &linear_headers("d-tampered", hmac_hex(SECRET, body.as_bytes())),
            &tampered,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Too large.
    let big = format!(
        "{{\"pad\":\"{}\"}}",
        "x".repeat(karajan::web::WEBHOOK_MAX_BODY)
    );
    let (status, _) = d
        .deliver(
            &linear_headers("d-big", hmac_hex(SECRET, big.as_bytes())),
            &big,
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        fake.world().requests.len(),
        polled,
        "no refused delivery makes karajan read the tracker"
    );

    // Accepted once, then the same delivery id is a replay.
    let headers = linear_headers("d-once", hmac_hex(SECRET, body.as_bytes()));
    assert_eq!(d.deliver(&headers, &body).await.0, StatusCode::OK);
    let (status, answer) = d.deliver(&headers, &body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert!(answer.contains("replay"), "{answer}");

    let metrics = d.metrics().await;
    for line in [
        "{source=\"linear\",outcome=\"bad_signature\"} 27",
        "{source=\"unknown\",outcome=\"unsigned\"} 1",
        "{source=\"linear\",outcome=\"stale\"} 1",
        "{source=\"linear\",outcome=\"too_large\"} 1",
        "{source=\"linear\",outcome=\"replay\"} 1",
        "{source=\"linear\",outcome=\"accepted\"} 1",
    ] {
        assert!(
            metrics.contains(&format!("karajan_webhook_deliveries_total{line}")),
            "{line} in:\n{metrics}"
        );
    }

    let recorded = d
        .store
        .recent_of_kind("webhook_refused", 100)
        .await
        .unwrap();
    let mut reasons: Vec<(String, String, u64)> = recorded
        .iter()
        .map(|e| {
            let p = &e.payload;
            (
                p["source"].as_str().unwrap().to_string(),
                p["reason"].as_str().unwrap().to_string(),
                p["suppressed"].as_u64().unwrap(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            ("linear".into(), "bad_signature".into(), 0),
            ("linear".into(), "replay".into(), 0),
            ("linear".into(), "stale".into(), 0),
            ("linear".into(), "too_large".into(), 0),
            ("unknown".into(), "unsigned".into(), 0),
        ],
        "one event per kind of refusal, however many arrived"
    );
    let first_bad = recorded
        .iter()
        .find(|e| e.payload["reason"] == "bad_signature")
        .unwrap();
    assert_eq!(first_bad.payload["delivery"], "junk-0");
    for e in &recorded {
        assert!(!e.payload.to_string().contains(SECRET));
    }
    d.stop().await;
}

/// The race the drain benchmark found: a human approves (and Linear delivers it) while
/// karajan's own move of the ticket to the gate is still out (carried out, its answer
/// not back yet). The read the delivery triggers shows the approval, but the ticket has
/// work in flight, so it is not decided on that read; when the move's answer comes back,
/// the ticket must be read again rather than decided on the snapshot from before the
/// approval, or the approval waits for the consistency poll (an hour here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_delivered_while_karajans_own_move_is_out_is_not_lost() {
    approval_during_own_move(None, false).await;
}

/// The same race with the human's move stamped in the same millisecond as karajan's
/// (Linear's `updatedAt` has millisecond precision): the tracker's clock cannot tell
/// which came last, so the ticket is read again once the move's answer is back, and
/// the approval is acted on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_stamped_in_the_same_millisecond_as_karajans_move_is_read_again() {
    approval_during_own_move(None, true).await;
}

/// The same race, with the read the delivery triggers answering only after karajan's
/// move has landed and its chain ended: the move that landed while the read was out
/// must not overwrite what the read saw when that is neither the column the move left
/// nor the one it made (a human moved the ticket after it), or the approval waits for
/// the consistency poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_read_after_karajans_own_move_landed_is_not_overwritten_by_it() {
    approval_during_own_move(Some(Duration::from_secs(4)), false).await;
}

/// Karajan's move to the gate is carried out at once and answered 2 s later; meanwhile
/// a human approves and Linear delivers it. `slow_read`: the read that delivery
/// triggers answers only after this long. `same_instant`: the human's move carries
/// the `updatedAt` karajan's move left.
async fn approval_during_own_move(slow_read: Option<Duration>, same_instant: bool) {
    let s = Scratch::quickstart();
    s.script(
        "agent.sh",
        "#!/bin/sh\ncat > /dev/null\nsleep 1\necho done\n",
    );
    // The fake's board names the approval column as a Linear team might.
    crate::linear::gate_approved(&s);
    let fake = crate::linear::fake::FakeLinear::start().await;
    let wf = linear_daemon_parts(&s, &fake);
    let tracker = karajan::tracker::from_config(&wf).unwrap();
    let d = start(wf, tracker).await;
    until("the first poll", || !fake.world().requests.is_empty()).await;
    let id = fake.world().add_issue("Todo", "Add a friendly greeting");
    let deliver = |n: u32| {
        let body = linear_issue(&id, now_ms());
        let headers = linear_headers(
            &format!("race-delivery-{n}"),
            hmac_hex(SECRET, body.as_bytes()),
        );
        (headers, body)
    };
    let (h, b) = deliver(1);
    assert_eq!(d.deliver(&h, &b).await.0, StatusCode::OK);
    until("the pick-up landed", || {
        fake.world().column_of(&id) == "In Progress"
    })
    .await;
    // The agent runs for a second; its move to the gate will be carried out at once
    // and answered only 2 s later.
    fake.fault_on(
        "MoveAndComment",
        crate::linear::fake::Fault::ExecuteThenDelay(Duration::from_secs(2)),
    );
    until("the move to the gate carried out", || {
        fake.world().column_of(&id) == "Human Review"
    })
    .await;
    if same_instant {
        let mut world = fake.world();
        let moved_at = world.issue(&id).updated_at;
        world.move_issue(&id, "Gate Approved");
        world.issue_mut(&id).updated_at = moved_at;
    } else {
        // A millisecond at least after karajan's move, as `updatedAt` counts.
        tokio::time::sleep(Duration::from_millis(2)).await;
        fake.world().move_issue(&id, "Gate Approved");
    }
    if let Some(delay) = slow_read {
        fake.fault_on("ListIssues", crate::linear::fake::Fault::Slow(delay));
    }
    let before = fake.world().requests.len();
    let (h, b) = deliver(2);
    assert_eq!(d.deliver(&h, &b).await.0, StatusCode::OK);
    until("the approval acted on (finalize runs, then done)", || {
        fake.world().column_of(&id) == "Done"
    })
    .await;
    // The read shows the ticket changed after karajan's move (Linear's `updatedAt` in
    // the move's answer): the approval is the later word and is acted on as read, when
    // the read answered after the move landed and when it answered before the move's
    // answer came back, without reading the ticket a second time.
    let reads = fake.world().requests[before..]
        .iter()
        .filter(|r| r.operation == "ListIssues")
        .count();
    // Stamped in the same millisecond: read once more, after the move's answer.
    let want = if same_instant { 2 } else { 1 };
    assert_eq!(reads, want, "reads of the delivered ticket");
    d.stop().await;
}
