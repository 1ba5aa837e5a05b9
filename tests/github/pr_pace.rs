//! A gate waiting on its pull request reads it less and less often while nothing
//! changes, and at once when GitHub's webhook says a check suite completed: the real
//! binary on the fake GitHub, a 2 s poll, checks left running. Over the first polls the
//! reads thin out (pauses of 1, 2, 4 … polls); a `check_suite` delivery naming the pull
//! request then gets the green checks read and the gate approved long before the next
//! paced read would have come.

use std::process::Stdio;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::fake::{FakeCheck, TOKEN};
use super::pr_gates::{checked, head, set_checks, transitions};
use super::pr_seen::get;
use super::scratch::TOKEN_VAR;
use crate::e2e::support::wait_for;

const SECRET_VAR: &str = "KJ_PR_PACE_WEBHOOK_SECRET";
const SECRET: &str = "pr-pace-webhook-secret-3f1";

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn reads(p: &super::pr_scratch::PrScratch) -> usize {
    p.s.fake
        .requests()
        .iter()
        .filter(|r| r.contains("PullRequestStatus"))
        .count()
}

#[test]
fn an_unchanged_pull_request_is_read_less_often_and_a_webhook_reads_it_at_once() {
    let p = checked("30m");
    let path = p.s.path().join("workflow.yaml");
    let wf = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, wf.replace("  interval: 5s\n", "  interval: 2s\n")).unwrap();
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    // Webhooks on for the daemon (the run above had none).
    let wf = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!(
            "{wf}server:\n  port: 0\n  webhooks:\n    secret: ${SECRET_VAR}\n    poll_interval: 2s\n"
        ),
    )
    .unwrap();
    let sha = head(&p);
    set_checks(&p, &sha, vec![FakeCheck::running("build")]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _daemon = Killed(
        crate::e2e::support::command()
            .args([
                "run",
                "workflow.yaml",
                "--no-watch",
                "--port",
                &port.to_string(),
            ])
            .current_dir(p.s.path())
            .env(TOKEN_VAR, TOKEN)
            .env(SECRET_VAR, SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the first read", Duration::from_secs(30), || reads(&p) >= 1);
    let first = Instant::now();
    let polls_before = p.s.fake.request_count();
    // The first read shows the reason, the second finds it unchanged: then pauses of
    // 1, 2, 4 polls. Reads at about 0, 2, 4, 8 and 16 s (every poll: 0, 2, 4, 6, 8).
    wait_for("the fifth read", Duration::from_secs(60), || reads(&p) >= 5);
    let elapsed = first.elapsed();
    assert!(
        elapsed >= Duration::from_secs(12),
        "five reads of an unchanged pull request took only {elapsed:?}"
    );
    assert!(
        p.s.fake.request_count() > polls_before,
        "the daemon polled meanwhile"
    );

    // The checks turn green; GitHub says so by webhook. The next paced read is 16 s
    // away: the webhook's read approves the gate.
    set_checks(
        &p,
        &sha,
        vec![FakeCheck::run("build", "SUCCESS", "ok", "all passed")],
    );
    let number = p.pulls()[0].number;
    let body = serde_json::json!({
        "action": "completed",
        "check_suite": {"id": 5, "head_sha": sha, "status": "completed",
            "conclusion": "success", "pull_requests": [{"number": number}]},
        "repository": {"full_name": "acme/app"},
    })
    .to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let sent = Instant::now();
    let before = reads(&p);
    let status = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            reqwest::Client::new()
                .post(format!("http://127.0.0.1:{port}/webhooks"))
                .header("content-type", "application/json")
                .header("x-github-event", "check_suite")
                .header("x-github-delivery", "pr-pace-1")
                .header("x-hub-signature-256", sig)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        });
    assert_eq!(status, 200);
    wait_for("the ci gate approved", Duration::from_secs(30), || {
        transitions(&p)
            .iter()
            .any(|(from, to, actor, _)| from == "ci" && to == "review" && actor == "github:checks")
    });
    let took = sent.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "the webhook did not bring the read forward: approved {took:?} after the delivery"
    );
    assert_eq!(
        reads(&p),
        before + 1,
        "one read, the webhook's, decided it ({:?} after the delivery)",
        sent.elapsed()
    );
    assert!(get(port, "/api/v1/state").is_some());
}
