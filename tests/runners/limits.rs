//! A usage limit pauses its runner instead of burning retries, end to end with the real
//! binary: `implement` runs Codex and `check` runs Claude Code (both the fakes). The
//! fake Claude reports its plan limit (`rate_limit_event` rejected, `resetsAt` = T)
//! while the file `limit-until` holds a time in the future.
//!
//! With `max_attempts: 1`, a usage limit counted as a failed attempt would escalate the
//! ticket at once; instead it waits for T, Codex tickets go on meanwhile (also across a
//! restart), `karajan status` shows the pause, and a daemon polling only hourly resumes
//! the Claude work by itself at T.

use std::process::Stdio;
use std::time::Duration;

use karajan::config::RunnerKind;

use karajan::agent::settings::CliSettings;
use karajan::domain::RunStatus;

use super::{Fixture, config, fake, run, runner};
use crate::e2e::support::{Scratch, events, stdout, wait_for};

#[tokio::test]
async fn codex_and_gemini_quota_errors_end_usage_limited_without_a_reset_time() {
    for kind in [RunnerKind::Codex, RunnerKind::Gemini] {
        let f = Fixture::new();
        let quota = f.workspace.join("quota-exhausted");
        std::fs::write(&quota, "").unwrap();
        let r = runner(&config(
            kind,
            vec![fake(kind).display().to_string()],
            CliSettings::default(),
        ));
        let mut req = f.request("quota", "do it");
        req.env
            .push(("FAKE_QUOTA_FILE".into(), quota.display().to_string()));
        let (outcome, _) = run(r, req).await;
        match &outcome.status {
            RunStatus::UsageLimited {
                until: None,
                reason,
            } => assert!(
                reason.contains("429 Too Many Requests")
                    || reason.contains("Resource has been exhausted"),
                "{kind:?}: {reason}"
            ),
            other => panic!("{kind:?}: {other:?}"),
        }
    }
}

fn workflow(claude: &str, codex: &str, limit_file: &str) -> String {
    format!(
        r#"tracker:
  kind: local
  dir: ./tickets
polling:
  interval: 1h
workspace:
  root: ./.karajan/workspaces
  repo: ./demo-repo.git
runners:
  coder:
    kind: codex
    command: ["{codex}"]
    model: gpt-5-codex
  checker:
    kind: claude
    command: ["{claude}"]
    env:
      FAKE_SCENARIO: usage-limit
      FAKE_LIMIT_FILE: {limit_file}
agent:
  max_concurrent: 3
  max_concurrent_by_state:
    implement: 1
  max_attempts: 1
  kill_grace: 2s
states:
  implement:
    kind: agent
    runner: coder
    prompt: prompts/implement.md
    next: check
  check:
    kind: agent
    runner: checker
    prompt: prompts/finalize.md
    next: review
  review:
    kind: gate
    approve: done
    rework: implement
  done:
    kind: terminal
"#
    )
}

/// The daemon under test, killed if the test fails before stopping it.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

type Events = Vec<(String, Option<String>, serde_json::Value)>;

fn of<'a>(all: &'a Events, kind: &str, id: &str) -> Vec<&'a serde_json::Value> {
    all.iter()
        .filter(|(k, i, _)| k == kind && i.as_deref() == Some(id))
        .map(|(_, _, p)| p)
        .collect()
}

fn global<'a>(all: &'a Events, kind: &str) -> Vec<&'a serde_json::Value> {
    all.iter()
        .filter(|(k, i, _)| k == kind && i.is_none())
        .map(|(_, _, p)| p)
        .collect()
}

#[test]
fn a_usage_limit_pauses_its_runner_until_the_reset_without_counting_an_attempt() {
    let s = Scratch::quickstart();
    let limit_file = s.path().join("limit-until");
    let claude = fake(RunnerKind::Claude).display().to_string();
    let codex = fake(RunnerKind::Codex).display().to_string();
    std::fs::write(
        s.workflow(),
        workflow(&claude, &codex, &limit_file.display().to_string()),
    )
    .unwrap();

    // QS-2 (most urgent) is implemented by Codex; the others wait for the state's cap.
    s.once();
    // Claude's plan limit is hit until T.
    let reset = chrono::Utc::now().timestamp() + 20;
    let t = chrono::DateTime::from_timestamp(reset, 0).unwrap();
    std::fs::write(&limit_file, reset.to_string()).unwrap();
    // QS-2's check (Claude) hits the limit; QS-1's implement (Codex) runs. Not a failure:
    // `--once` exits 0.
    s.once();
    let all = events(&s.db());
    let finished = of(&all, "run_finished", "QS-2");
    assert_eq!(finished.len(), 2, "{finished:?}");
    let limited = finished[1];
    assert_eq!(limited["status"], "usage_limited", "{limited}");
    assert_eq!(limited["until"], serde_json::json!(t), "until is resetsAt");
    assert_eq!(limited["attempts_after"], 0, "the attempt is not counted");
    assert_eq!(limited["phase_after"]["phase"], "retry_waiting");
    assert_eq!(limited["phase_after"]["due_at"], serde_json::json!(t));
    assert!(of(&all, "escalated", "QS-2").is_empty(), "not escalated");
    let paused = global(&all, "runner_paused");
    assert_eq!(paused.len(), 1, "{paused:?}");
    assert_eq!(paused[0]["runner"], "checker");
    assert_eq!(paused[0]["until"], serde_json::json!(t));
    assert_eq!(of(&all, "run_finished", "QS-1")[0]["status"], "succeeded");

    // A restart keeps the pause: QS-1's check (Claude) waits, QS-3's implement (Codex)
    // runs.
    s.once();
    let all = events(&s.db());
    assert_eq!(of(&all, "run_started", "QS-1").len(), 1, "Claude is paused");
    assert_eq!(
        of(&all, "run_started", "QS-2").len(),
        2,
        "its retry waits for T"
    );
    let qs3 = of(&all, "run_finished", "QS-3");
    assert_eq!(qs3.len(), 1, "the other runner still dispatches");
    assert_eq!(qs3[0]["status"], "succeeded");
    assert!(global(&all, "runner_resumed").is_empty());

    let out = s.karajan(&["status", "workflow.yaml"]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "runner checker paused until {}",
            t.format("%Y-%m-%d %H:%M:%S UTC")
        )),
        "{text}"
    );

    if chrono::Utc::now() >= t - chrono::Duration::seconds(2) {
        eprintln!(
            "SKIPPED (slow machine): T passed before the daemon started; its timer and the dashboard's pause are not checked"
        );
    }
    // The daemon polls hourly: only the pause's own timer can resume Claude at T.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let port_arg = port.to_string();
    let mut daemon = Daemon(
        crate::e2e::support::command()
            .args(["run", "workflow.yaml", "--port", &port_arg])
            .current_dir(s.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Before T, the dashboard's read model, `/metrics` and the overview show the pause.
    if chrono::Utc::now() < t - chrono::Duration::seconds(2) {
        let mut state = serde_json::Value::Null;
        wait_for("the dashboard", Duration::from_secs(15), || {
            state = get(port, "/api/v1/state")
                .and_then(|b| serde_json::from_str(&b).ok())
                .unwrap_or_default();
            // Not the empty view served before the daemon's first publish.
            state["runners"].as_array().is_some_and(|r| !r.is_empty())
        });
        let runners = state["runners"].as_array().unwrap();
        let checker = runners.iter().find(|r| r["runner"] == "checker").unwrap();
        assert_eq!(checker["paused"], true, "{state}");
        assert_eq!(checker["paused_until"], serde_json::json!(t));
        let coder = runners.iter().find(|r| r["runner"] == "coder").unwrap();
        assert_eq!(coder["paused"], false);
        let metrics = get(port, "/metrics").unwrap();
        assert!(
            metrics.contains("karajan_runner_paused{runner=\"checker\"} 1")
                && metrics.contains("karajan_runner_paused{runner=\"coder\"} 0")
                && metrics.contains(&format!(
                    "karajan_runner_paused_until_seconds{{runner=\"checker\"}} {reset}"
                )),
            "{metrics}"
        );
        let page = get(port, "/").unwrap();
        assert!(
            page.contains("usage limit: dispatch paused until"),
            "the overview shows the pause"
        );
    }
    wait_for(
        "QS-1 and QS-2 checked after T",
        Duration::from_secs(60),
        || {
            ["QS-1", "QS-2"]
                .iter()
                .all(|id| s.column(id) == "Human Review")
        },
    );
    let metrics = get(port, "/metrics").unwrap_or_default();
    assert!(
        metrics.contains("karajan_runner_paused{runner=\"checker\"} 0"),
        "{metrics}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(daemon.0.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(daemon.0.wait().unwrap().success());

    let all = events(&s.db());
    let resumed = global(&all, "runner_resumed");
    assert_eq!(resumed.len(), 1, "{resumed:?}");
    assert_eq!(resumed[0]["runner"], "checker");
    let started = of(&all, "run_started", "QS-2");
    assert_eq!(started.len(), 3);
    assert_eq!(
        started[2]["attempt"], started[1]["attempt"],
        "the same attempt runs again"
    );
    // QS-1's check never started before T (the fake would have been limited).
    let qs1: Vec<_> = of(&all, "run_finished", "QS-1")
        .iter()
        .map(|f| f["status"].clone())
        .collect();
    assert_eq!(qs1, ["succeeded", "succeeded"]);
    for id in ["QS-1", "QS-2"] {
        assert!(of(&all, "escalated", id).is_empty(), "{id} not escalated");
        assert_eq!(s.column(id), "Human Review", "{id}");
    }
}

/// The body of a plain GET to the daemon's dashboard, if it answers.
fn get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    conn.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    // A chunked body: join the chunks.
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            if n == 0 {
                break;
            }
            out.push_str(after.get(..n)?);
            rest = after.get(n + 2..)?;
        }
        return Some(out);
    }
    Some(body.to_string())
}

#[test]
fn without_a_reset_time_the_runner_pauses_for_agent_usage_limit_pause() {
    let s = Scratch::quickstart();
    let quota = s.path().join("quota-exhausted");
    std::fs::write(&quota, "").unwrap();
    let codex = fake(RunnerKind::Codex).display().to_string();
    let wf = format!(
        r#"tracker:
  kind: local
  dir: ./tickets
workspace:
  root: ./.karajan/workspaces
  repo: ./demo-repo.git
runners:
  coder:
    kind: codex
    command: ["{codex}"]
    model: gpt-5-codex
    env:
      FAKE_SCENARIO: quota
      FAKE_QUOTA_FILE: {quota}
agent:
  max_concurrent: 1
  max_attempts: 1
  usage_limit_pause: 4s
  kill_grace: 2s
states:
  implement:
    kind: agent
    runner: coder
    prompt: prompts/implement.md
    next: review
  review:
    kind: gate
    approve: done
    rework: implement
  done:
    kind: terminal
"#,
        quota = quota.display()
    );
    std::fs::write(s.workflow(), wf).unwrap();
    let before = chrono::Utc::now();
    s.once();
    let after = chrono::Utc::now();
    let all = events(&s.db());
    let finished = of(&all, "run_finished", "QS-2");
    assert_eq!(finished.len(), 1);
    assert_eq!(finished[0]["status"], "usage_limited");
    assert_eq!(finished[0]["attempts_after"], 0);
    let until: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(finished[0]["until"].clone()).unwrap();
    assert!(
        until >= before + chrono::Duration::seconds(4)
            && until <= after + chrono::Duration::seconds(4),
        "until = the run's end + agent.usage_limit_pause: {until}"
    );
    let paused = global(&all, "runner_paused");
    assert_eq!(paused.len(), 1);
    assert_eq!(paused[0]["runner"], "coder");
    // The quota is back, but the pause holds until its end.
    std::fs::remove_file(&quota).unwrap();
    if chrono::Utc::now() < until - chrono::Duration::seconds(1) {
        s.once();
        assert_eq!(
            events(&s.db())
                .iter()
                .filter(|(k, _, _)| k == "run_started")
                .count(),
            1,
            "nothing runs before the pause ends"
        );
    } else {
        eprintln!("SKIPPED (slow machine): the pause ended before it could be checked");
    }
    while chrono::Utc::now() <= until {
        std::thread::sleep(Duration::from_millis(100));
    }
    s.once();
    let all = events(&s.db());
    assert_eq!(global(&all, "runner_resumed").len(), 1);
    let finished = of(&all, "run_finished", "QS-2");
    assert_eq!(finished.len(), 2);
    assert_eq!(finished[1]["status"], "succeeded");
    assert_eq!(s.column("QS-2"), "Human Review");
}
