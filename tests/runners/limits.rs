//! A usage limit pauses its runner instead of burning retries, end to end with the real
//! binary: `implement` runs Codex and `check` runs Claude Code (both the fakes). The
//! fake Claude reports its plan limit (`rate_limit_event` rejected, `resetsAt` = T)
//! while the file `limit-until` holds a time in the future.
//!
//! With `max_attempts: 1`, a usage limit counted as a failed attempt would escalate the
//! ticket at once; instead it waits for T, Codex tickets go on meanwhile (also across a
//! restart), `karajan status` shows the pause, and a daemon polling only hourly resumes
//! the Claude work by itself at T.

use std::process::{Command, Stdio};
use std::time::Duration;

use karajan::config::RunnerKind;

use super::fake;
use crate::e2e::support::{Scratch, bin, events, stdout, wait_for};

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
    let mut daemon = Command::new(bin())
        .args(["run", "workflow.yaml", "--port", &port_arg])
        .current_dir(s.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Before T, the dashboard's read model, `/metrics` and the overview show the pause.
    if chrono::Utc::now() < t - chrono::Duration::seconds(2) {
        let mut state = serde_json::Value::Null;
        wait_for("the dashboard", Duration::from_secs(15), || {
            state = get(port, "/api/v1/state")
                .and_then(|b| serde_json::from_str(&b).ok())
                .unwrap_or_default();
            state["runners"].is_array()
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
        nix::unistd::Pid::from_raw(i32::try_from(daemon.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(daemon.wait().unwrap().success());

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
