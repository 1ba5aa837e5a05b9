//! `CommandRunner`: the conformance suite, plus what is specific to the `command` kind
//! (JSON lines, session ids, usage, the factory).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use karajan::agent::{AgentError, AgentRunner, RunEvent, runner_for};
use karajan::config::{RunnerConfig, RunnerKind};
use karajan::domain::{RunStatus, TokenUsage};
use tokio_util::sync::CancellationToken;

use super::conformance::{Case, alive, conformance_tests, run_collect};

fn config(kind: RunnerKind, command: Vec<String>) -> RunnerConfig {
    RunnerConfig {
        name: "fake".into(),
        kind,
        command,
        env: BTreeMap::new(),
        inherit_env: Vec::new(),
        model: None,
        stall_timeout: None,
        turn_timeout: None,
        max_turns: None,
        cli: Default::default(),
    }
}

fn command_runner(script: &Path) -> Arc<dyn AgentRunner> {
    let cfg = config(RunnerKind::Command, vec![script.display().to_string()]);
    runner_for(&cfg).expect("command runner")
}

conformance_tests!(command_runner);

const MS: fn(u64) -> Duration = Duration::from_millis;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_become_events_session_usage_and_cost() {
    let case = Case::new(
        r#"cat >/dev/null
echo '{"type":"session","id":"sess-1"}'
echo 'thinking about it'
echo '{"type":"assistant","usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":100,"cache_creation_input_tokens":7},"cost_usd":0.25}'
echo '{"type":"result","session_id":"sess-1","usage":{"input_tokens":1,"output_tokens":2},"cost_usd":0.5,"num_turns":4}'
echo '[1,2,3]'"#,
    );
    let (outcome, events) = run_collect(
        command_runner(&case.script),
        case.request("go", MS(2000), MS(5000), MS(300)),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!(outcome.session_id.as_deref(), Some("sess-1"));
    assert_eq!(
        outcome.tokens,
        TokenUsage {
            input: 11,
            output: 7,
            cache_read: 100,
            cache_write: 7
        }
    );
    assert_eq!(outcome.cost_usd, Some(0.75));
    assert_eq!(outcome.turns, Some(4));

    let sessions: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Session { id } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(sessions, ["sess-1"]);
    let json: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Json { value, .. } => value.get("type").and_then(|t| t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(json, ["session", "assistant", "result"]);
    let activity: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Activity { summary, .. } => Some(summary.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(activity, ["thinking about it", "[1,2,3]"]);

    let jsonl = std::fs::read_to_string(case.log_dir.join("events.jsonl")).expect("events.jsonl");
    let lines: Vec<_> = jsonl.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], r#"{"type":"session","id":"sess-1"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_reason_carries_last_stderr_line() {
    let case = Case::new("echo 'first' >&2\necho 'error: disk full' >&2\nexit 2");
    let (outcome, _) = run_collect(
        command_runner(&case.script),
        case.request("x", MS(2000), MS(5000), MS(300)),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(
        outcome.status,
        RunStatus::Failed {
            reason: "exit code 2: error: disk full".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_line_activity_is_truncated() {
    let case = Case::new("cat >/dev/null\nhead -c 5000 /dev/zero | tr '\\0' 'q'\necho");
    let (_, events) = run_collect(
        command_runner(&case.script),
        case.request("x", MS(2000), MS(5000), MS(300)),
        CancellationToken::new(),
    )
    .await;
    let summary = events
        .iter()
        .find_map(|e| match e {
            RunEvent::Activity { summary, .. } => Some(summary.clone()),
            _ => None,
        })
        .expect("an activity event");
    assert!(summary.chars().count() <= 201, "{}", summary.len());
    assert!(summary.starts_with("qqqq"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_run_future_kills_the_group() {
    let case = Case::new(
        "cat >/dev/null\nsleep 1000 &\necho $! >> pids.txt\necho $$ >> pids.txt\ntouch ready\nsleep 1000",
    );
    let runner = command_runner(&case.script);
    let (tx, _rx) = tokio::sync::mpsc::channel(1024);
    let req = case.request("x", MS(10_000), MS(10_000), MS(5_000));
    let run = runner.run(req, tx, CancellationToken::new());
    let waited = tokio::time::timeout(MS(5_000), async {
        tokio::pin!(run);
        tokio::select! {
            _ = &mut run => panic!("the run must not finish by itself"),
            _ = case.wait_for_file("ready") => {}
        }
        // `run` is dropped here, mid-flight.
    })
    .await;
    assert!(waited.is_ok());
    let pids = case.pids("pids.txt");
    assert_eq!(pids.len(), 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            std::time::Instant::now() < deadline,
            "group survived the drop of the run future"
        );
        tokio::time::sleep(MS(20)).await;
    }
}

#[tokio::test]
async fn missing_program_is_a_fatal_spawn_error() {
    let case = Case::new("exit 0");
    let runner = runner_for(&config(
        RunnerKind::Command,
        vec!["/nonexistent/karajan-agent".into()],
    ))
    .expect("runner");
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let err = runner
        .run(
            case.request("x", MS(1000), MS(1000), MS(100)),
            tx,
            CancellationToken::new(),
        )
        .await
        .expect_err("spawn must fail");
    assert!(matches!(err, AgentError::Spawn { .. }), "{err}");
    assert!(!err.is_retryable());
}

#[test]
fn factory_maps_kinds() {
    let cmd = runner_for(&config(
        RunnerKind::Command,
        vec!["agent".into(), "--x".into()],
    ))
    .expect("command");
    assert_eq!(cmd.kind(), "command");
    let case = Case::new("exit 0");
    assert_eq!(
        cmd.command_line(&case.request("p", MS(1), MS(1), MS(1))),
        ["agent", "--x"]
    );
    for kind in [RunnerKind::Claude, RunnerKind::Codex, RunnerKind::Gemini] {
        let r = runner_for(&config(kind, vec!["x".into()])).expect("cli runner");
        assert_eq!(r.kind(), kind.as_str());
        assert_eq!(
            r.command_line(&case.request("p", MS(1), MS(1), MS(1)))[0],
            "x"
        );
    }
}
