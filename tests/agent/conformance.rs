//! The shared `AgentRunner` conformance suite.
//!
//! Every runner must pass these cases. A runner plugs in with a [`Factory`]: given the
//! path of an executable fake CLI (a small shell script written by the case), it returns
//! a runner that executes that script as its agent program. The script receives the
//! prompt on stdin, runs in the workspace and sees exactly `RunRequest::env`. Instantiate
//! the suite with [`conformance_tests!`].

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use karajan::agent::{AgentRunner, RunEvent, RunOutcome, RunRequest};
use karajan::domain::RunStatus;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Builds the runner under test around a fake CLI script.
pub type Factory = fn(script: &Path) -> Arc<dyn AgentRunner>;

/// `#[tokio::test]` wrappers for every case, for one factory.
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::agent::conformance::conformance_tests!(@cases $factory;
            succeeds_with_spawned_event_and_logs,
            failure_reports_exit_code,
            one_megabyte_prompt_arrives_intact,
            ten_megabyte_line_is_handled,
            environment_is_exactly_the_request_env,
            stall_stops_process_and_grandchildren,
            turn_timeout_stops_chatty_process,
            cancel_sends_sigterm_first,
            cancel_escalates_to_sigkill_after_grace,
            normal_exit_leaves_no_grandchild,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::agent::conformance::$case($factory).await;
            }
        )*
    };
}
pub(crate) use conformance_tests;

/// A temp directory with a workspace, a log dir and a script.
pub struct Case {
    _dir: tempfile::TempDir,
    pub workspace: PathBuf,
    pub log_dir: PathBuf,
    pub script: PathBuf,
    pub run_id: String,
}

impl Case {
    pub fn new(body: &str) -> Case {
        let dir = tempfile::tempdir().expect("tempdir");
        let workspace = dir.path().join("ws");
        let log_dir = dir.path().join("logs");
        std::fs::create_dir_all(&workspace).expect("workspace");
        let script = dir.path().join("fake-agent.sh");
        std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).expect("script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let run_id = format!("run-{:016x}", rand::random::<u64>());
        Case {
            _dir: dir,
            workspace,
            log_dir,
            script,
            run_id,
        }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
            ("KARAJAN_RUN_ID".into(), self.run_id.clone()),
            ("KARAJAN_ISSUE".into(), "ENG-1".into()),
            ("AGENT_TOKEN".into(), "given-explicitly".into()),
        ]
    }

    pub fn request(
        &self,
        prompt: &str,
        stall: Duration,
        turn: Duration,
        grace: Duration,
    ) -> RunRequest {
        RunRequest {
            run_id: self.run_id.clone(),
            identifier: "ENG-1".into(),
            state: "implement".into(),
            run_number: 1,
            attempt: 1,
            prompt: prompt.into(),
            workspace: self.workspace.clone(),
            log_dir: self.log_dir.clone(),
            env: self.env(),
            resume_session: None,
            resume_usage: None,
            stall_timeout: stall,
            turn_timeout: turn,
            grace,
            max_turns: 10,
            max_cost_usd: None,
        }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.workspace.join(name)
    }

    /// Pids a script appended, one per line, to `name` in the workspace.
    pub fn pids(&self, name: &str) -> Vec<u32> {
        std::fs::read_to_string(self.file(name))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Wait (up to 5 s) until the script created `name` in the workspace.
    pub async fn wait_for_file(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.file(name).exists() {
            assert!(Instant::now() < deadline, "script never created {name}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Whether `pid` is a live (non-zombie) process.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next().map(str::to_string));
            !matches!(state.as_deref(), Some("Z") | Some("X"))
        }
        Err(_) => false,
    }
}

/// Run `req` to completion, collecting every event.
pub async fn run_collect(
    runner: Arc<dyn AgentRunner>,
    req: RunRequest,
    cancel: CancellationToken,
) -> (RunOutcome, Vec<RunEvent>) {
    let (tx, mut rx) = mpsc::channel(1024);
    let collector = tokio::spawn(async move {
        let mut events = Vec::new();
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
        events
    });
    let outcome = runner.run(req, tx, cancel).await.expect("run");
    let events = collector.await.expect("collector");
    (outcome, events)
}

const S: fn(u64) -> Duration = Duration::from_millis;

pub async fn succeeds_with_spawned_event_and_logs(factory: Factory) {
    let case = Case::new("cat >/dev/null\necho working\necho 'to stderr' >&2\nexit 0");
    let runner = factory(&case.script);
    let (outcome, events) = run_collect(
        runner,
        case.request("do it", S(2000), S(5000), S(500)),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!(outcome.exit_code, Some(0));
    assert_eq!(outcome.signal, None);
    match events.first() {
        Some(RunEvent::Spawned { pid }) => assert!(*pid > 1),
        other => panic!("first event must be Spawned, got {other:?}"),
    }
    let stdout = std::fs::read_to_string(case.log_dir.join("stdout.log")).expect("stdout.log");
    assert!(stdout.contains("working"), "{stdout:?}");
    let stderr = std::fs::read_to_string(case.log_dir.join("stderr.log")).expect("stderr.log");
    assert!(stderr.contains("to stderr"), "{stderr:?}");
}

pub async fn failure_reports_exit_code(factory: Factory) {
    let case = Case::new("cat >/dev/null\necho 'fatal: it broke' >&2\nexit 3");
    let (outcome, _) = run_collect(
        factory(&case.script),
        case.request("x", S(2000), S(5000), S(500)),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(outcome.exit_code, Some(3));
    match outcome.status {
        RunStatus::Failed { reason } => assert!(reason.contains("exit code 3"), "{reason}"),
        other => panic!("expected Failed, got {other:?}"),
    }
}

pub async fn one_megabyte_prompt_arrives_intact(factory: Factory) {
    // The script writes 2 MB before reading any input: with a sequential
    // write-then-read supervisor this deadlocks on full pipes.
    let case = Case::new(
        "head -c 2000000 /dev/zero | tr '\\0' 'x'\necho\ncat > prompt.txt\necho read-done",
    );
    let mut prompt = String::new();
    let mut i = 0u64;
    while prompt.len() < 1 << 20 {
        prompt.push_str(&format!("line {i} — ünïcödé {}\n", i * 7919 % 1000));
        i += 1;
    }
    let (outcome, _) = run_collect(
        factory(&case.script),
        case.request(&prompt, S(5000), S(20000), S(500)),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    let got = std::fs::read(case.file("prompt.txt")).expect("prompt.txt");
    assert_eq!(got.len(), prompt.len());
    assert_eq!(Sha256::digest(&got), Sha256::digest(prompt.as_bytes()));
}

pub async fn ten_megabyte_line_is_handled(factory: Factory) {
    let case =
        Case::new("cat >/dev/null\nhead -c 10485760 /dev/zero | tr '\\0' 'a'\necho\necho done");
    let (outcome, _) = run_collect(
        factory(&case.script),
        case.request("x", S(5000), S(20000), S(500)),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    let log = std::fs::read(case.log_dir.join("stdout.log")).expect("stdout.log");
    assert_eq!(log.len(), 10_485_760 + 1 + "done\n".len());
    assert!(log.ends_with(b"a\ndone\n"));
}

pub async fn environment_is_exactly_the_request_env(factory: Factory) {
    // /proc/$$/environ is what exec received, before the shell adds PWD and friends.
    let case = Case::new("cat >/dev/null\ntr '\\0' '\\n' < /proc/$$/environ > env.txt");
    let (outcome, _) = run_collect(
        factory(&case.script),
        case.request("x", S(2000), S(5000), S(500)),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    let dumped = std::fs::read_to_string(case.file("env.txt")).expect("env.txt");
    let got: BTreeSet<String> = dumped.lines().map(str::to_string).collect();
    let want: BTreeSet<String> = case.env().iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(got, want);
    // Nothing of this test process's environment leaks (HOME, CARGO_*, any token...).
    let given: BTreeSet<String> = case.env().into_iter().map(|(k, _)| k).collect();
    let parent: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| !given.contains(k))
        .collect();
    assert!(
        !parent.is_empty(),
        "the test process should have some environment"
    );
    for name in parent {
        assert!(
            !got.iter().any(|kv| kv.starts_with(&format!("{name}="))),
            "{name} leaked into the agent"
        );
    }
}

const SPAWN_GRANDCHILDREN: &str = "cat >/dev/null
sleep 1000 &
echo $! >> pids.txt
sh -c 'sleep 1000' &
echo $! >> pids.txt
echo $$ >> pids.txt
touch ready";

pub async fn stall_stops_process_and_grandchildren(factory: Factory) {
    let case = Case::new(&format!("{SPAWN_GRANDCHILDREN}\necho started\nsleep 1000"));
    let started = Instant::now();
    let (outcome, _) = run_collect(
        factory(&case.script),
        case.request("x", S(400), S(10000), S(300)),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Stalled);
    assert!(started.elapsed() < Duration::from_secs(5));
    let pids = case.pids("pids.txt");
    assert_eq!(pids.len(), 3);
    for pid in pids {
        assert!(!alive(pid), "pid {pid} survived the stall");
    }
}

pub async fn turn_timeout_stops_chatty_process(factory: Factory) {
    let case = Case::new(&format!(
        "{SPAWN_GRANDCHILDREN}\nwhile true; do echo tick; sleep 0.05; done"
    ));
    let started = Instant::now();
    let (outcome, _) = run_collect(
        factory(&case.script),
        case.request("x", S(400), S(900), S(300)),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::TimedOut);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= S(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    for pid in case.pids("pids.txt") {
        assert!(!alive(pid), "pid {pid} survived the turn timeout");
    }
}

pub async fn cancel_sends_sigterm_first(factory: Factory) {
    let case = Case::new(
        "cat >/dev/null\ntrap 'echo graceful > term_marker; exit 0' TERM\nsleep 1000 &\necho $! >> pids.txt\necho $$ >> pids.txt\ntouch ready\nwait",
    );
    let cancel = CancellationToken::new();
    let run = tokio::spawn(run_collect(
        factory(&case.script),
        case.request("x", S(30000), S(30000), S(20000)),
        cancel.clone(),
    ));
    case.wait_for_file("ready").await;
    let cancelled_at = Instant::now();
    cancel.cancel();
    let (outcome, _) = run.await.expect("run task");
    assert!(
        matches!(outcome.status, RunStatus::Cancelled { .. }),
        "{:?}",
        outcome.status
    );
    // Stopped by SIGTERM, well before the 20 s grace ran out (the margin is wide: under a
    // loaded CI machine the stop and the run-id sweep take a few seconds).
    let elapsed = cancelled_at.elapsed();
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    let marker = std::fs::read_to_string(case.file("term_marker")).expect("TERM trap ran");
    assert_eq!(marker.trim(), "graceful");
    for pid in case.pids("pids.txt") {
        assert!(!alive(pid));
    }
}

pub async fn cancel_escalates_to_sigkill_after_grace(factory: Factory) {
    let case = Case::new(&format!("trap '' TERM\n{SPAWN_GRANDCHILDREN}\nsleep 1000"));
    let cancel = CancellationToken::new();
    let run = tokio::spawn(run_collect(
        factory(&case.script),
        case.request("x", S(10000), S(10000), S(400)),
        cancel.clone(),
    ));
    case.wait_for_file("ready").await;
    let cancelled_at = Instant::now();
    cancel.cancel();
    let (outcome, _) = run.await.expect("run task");
    let elapsed = cancelled_at.elapsed();
    assert!(matches!(outcome.status, RunStatus::Cancelled { .. }));
    assert_eq!(
        outcome.signal,
        Some(9),
        "the TERM-ignoring leader dies by SIGKILL"
    );
    assert!(
        elapsed >= S(400) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    let pids = case.pids("pids.txt");
    assert_eq!(pids.len(), 3);
    for pid in pids {
        assert!(!alive(pid), "pid {pid} survived SIGKILL");
    }
}

pub async fn normal_exit_leaves_no_grandchild(factory: Factory) {
    // The background sleep keeps stdout open: the run must still end promptly.
    let case = Case::new(&format!("{SPAWN_GRANDCHILDREN}\necho bye\nexit 0"));
    let started = Instant::now();
    let (outcome, _) = run_collect(
        factory(&case.script),
        case.request("x", S(5000), S(10000), S(500)),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert!(started.elapsed() < Duration::from_secs(4));
    let pids = case.pids("pids.txt");
    assert_eq!(pids.len(), 3);
    for pid in pids {
        assert!(!alive(pid), "grandchild {pid} outlived a successful run");
    }
}
