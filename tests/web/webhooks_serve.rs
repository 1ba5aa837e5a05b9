//! The real binary with `server.webhooks` configured: `karajan run` serves the webhook
//! path on its dashboard port (over 127.0.0.1), outside the operator token, and refuses
//! an unsigned delivery, with the secret taken from the environment only.

use std::process::Stdio;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::github::fake;
use crate::github::scratch::{GhScratch, TOKEN_VAR};

const SECRET_VAR: &str = "KJ_E2E_WEBHOOK_SECRET";
const SECRET: &str = "e2e-webhook-secret-91c2";

/// `karajan run` in `s` with webhooks on (the secret from the environment; `extra`
/// appended under `server.webhooks`), once it serves: the child and the webhook URL.
fn serve(s: &GhScratch, extra: &str) -> (std::process::Child, String) {
    let path = s.path().join("workflow.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!("{text}server:\n  port: 0\n  webhooks:\n    secret: ${SECRET_VAR}\n{extra}"),
    )
    .unwrap();
    let mut child = crate::e2e::support::command()
        .args(["run", "workflow.yaml"])
        .current_dir(s.path())
        .env(TOKEN_VAR, fake::TOKEN)
        .env(SECRET_VAR, SECRET)
        .env("KARAJAN_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("karajan");
    let addr_file = s.path().join(".karajan/dashboard.addr");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let addr = loop {
        if let Ok(a) = std::fs::read_to_string(&addr_file) {
            break a.trim().to_string();
        }
        assert!(std::time::Instant::now() < deadline, "no dashboard address");
        assert!(child.try_wait().unwrap().is_none(), "karajan exited");
        std::thread::sleep(Duration::from_millis(20));
    };
    (child, format!("http://{addr}/webhooks"))
}

/// SIGTERM, then the child's log.
fn stop(child: std::process::Child) -> String {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sign(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[test]
fn karajan_run_serves_the_webhook_path_with_the_secret_from_the_environment() {
    let s = GhScratch::new("labels", "");
    let (child, url) = serve(&s, "");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (signed, unsigned) = rt.block_on(async {
        let client = reqwest::Client::new();
        let ping = r#"{"zen":"Design for failure.","hook_id":7}"#;
        let signed = client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-github-event", "ping")
            .header("x-github-delivery", "e2e-ping-1")
            .header("x-hub-signature-256", sign(ping))
            .body(ping)
            .send()
            .await
            .unwrap()
            .status();
        let unsigned = client
            .post(&url)
            .header("content-type", "application/json")
            .body(ping)
            .send()
            .await
            .unwrap()
            .status();
        (signed.as_u16(), unsigned.as_u16())
    });
    let log = stop(child);
    assert_eq!(signed, 200, "{log}");
    assert_eq!(unsigned, 401, "{log}");
    assert!(
        log.contains("/webhooks"),
        "the webhook URL is logged: {log}"
    );
    assert!(!log.contains(SECRET), "the secret is never logged");
}

/// Project mode, the real binary, a one-hour consistency poll: a human's move of the
/// card, delivered as GitHub's `projects_v2_item` (node ids only), gets the issue read
/// alone and the ticket to Done, without a read of the board.
#[test]
fn karajan_run_acts_on_a_project_items_delivery_by_reading_its_issue() {
    let s = GhScratch::new("project", "");
    s.add_issue(1, "Add a greeting", "Todo");
    let (child, url) = serve(&s, "    poll_interval: 1h\n");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while s.column(1) != "Human Review" {
        assert!(std::time::Instant::now() < deadline, "#1 at the gate");
        std::thread::sleep(Duration::from_millis(50));
    }
    s.human_move(1, "Approved");
    let before = s.fake.request_count();
    let item = serde_json::json!({
        "action": "edited",
        "projects_v2_item": {
            "id": 1001, "node_id": "PVTI_item1", "project_node_id": fake::PROJECT_ID,
            "content_node_id": s.fake.issue(1).node_id(), "content_type": "Issue",
            "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-07T10:00:00Z",
            "archived_at": null
        },
        "changes": {"field_value": {"field_node_id": "PVTSSF_status", "field_type": "single_select"}},
        "organization": {"login": "acme"},
        "sender": {"login": "grace"}
    })
    .to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(&url)
            .header("content-type", "application/json")
            .header("x-github-event", "projects_v2_item")
            .header("x-github-delivery", "e2e-item-1")
            .header("x-hub-signature-256", sign(&item))
            .body(item.clone())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while s.column(1) != "Done" {
        assert!(
            std::time::Instant::now() < deadline,
            "#1 done after the delivery"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = stop(child);
    assert_eq!(status, 200, "{log}");
    let after = s.fake.requests()[before..].to_vec();
    let ops: Vec<&str> = after
        .iter()
        .filter_map(|r| r.strip_prefix("POST graphql "))
        .collect();
    assert_eq!(ops.first(), Some(&"IssueDetail"), "{after:#?}");
    assert!(
        !ops.contains(&"ProjectItems"),
        "the board was read: {after:#?}"
    );
}
