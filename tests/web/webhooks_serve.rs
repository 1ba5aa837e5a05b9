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

#[test]
fn karajan_run_serves_the_webhook_path_with_the_secret_from_the_environment() {
    let s = GhScratch::new("labels", "");
    let path = s.path().join("workflow.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!("{text}server:\n  port: 0\n  webhooks:\n    secret: ${SECRET_VAR}\n"),
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
    let url = format!("http://{addr}/webhooks");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (signed, unsigned) = rt.block_on(async {
        let client = reqwest::Client::new();
        let ping = r#"{"zen":"Design for failure.","hook_id":7}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(ping.as_bytes());
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let signed = client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-github-event", "ping")
            .header("x-github-delivery", "e2e-ping-1")
            .header("x-hub-signature-256", sig)
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
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(signed, 200, "{log}");
    assert_eq!(unsigned, 401, "{log}");
    assert!(
        log.contains("/webhooks"),
        "the webhook URL is logged: {log}"
    );
    assert!(!log.contains(SECRET), "the secret is never logged");
}
