//! The `claude`, `codex` and `gemini` runners against fake CLIs (`fakes/`) that emit
//! the documented stream formats, through the shared conformance suite, and — when the
//! real CLIs are installed — against the real CLIs' `--help`.

mod accounting;
mod budget;
mod cases;
mod conformance;
mod e2e;
mod help;
mod limits;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use karajan::agent::settings::CliSettings;
use karajan::agent::{AgentRunner, RunEvent, RunOutcome, RunRequest, runner_for};
use karajan::config::{RunnerConfig, RunnerKind};

/// The fake CLI for `kind`.
/// The quickstart's workflow up to its runners (local tickets, columns, polling,
/// workspace): test workflows append their own `runners:`, `agent:` and states.
pub const QUICKSTART_HEAD: &str = r#"tracker:
  kind: local
  dir: ./tickets
columns:
  todo: Todo
  active: In Progress
  review: Human Review
  approved: Approved
  rework: Rework
  done: Done
  terminal: [Canceled]
polling:
  interval: 5s
workspace:
  root: ./.karajan/workspaces
  repo: ./demo-repo.git
  branch: "karajan/{{ issue.identifier }}"
"#;

pub fn fake(kind: RunnerKind) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/runners/fakes")
        .join(kind.as_str())
}

pub fn config(kind: RunnerKind, command: Vec<String>, cli: CliSettings) -> RunnerConfig {
    RunnerConfig {
        name: kind.as_str().into(),
        kind,
        command,
        env: Default::default(),
        inherit_env: Vec::new(),
        model: None,
        stall_timeout: None,
        turn_timeout: None,
        max_turns: None,
        cli,
    }
}

pub fn runner(cfg: &RunnerConfig) -> Arc<dyn AgentRunner> {
    runner_for(cfg).expect("runner")
}

/// A workspace and log dir for one run of a fake CLI.
pub struct Fixture {
    _dir: tempfile::TempDir,
    pub workspace: PathBuf,
    pub log_dir: PathBuf,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let workspace = dir.path().join("ws");
        let log_dir = dir.path().join("logs");
        std::fs::create_dir_all(&workspace).expect("workspace");
        Fixture {
            _dir: dir,
            workspace,
            log_dir,
        }
    }

    pub fn request(&self, scenario: &str, prompt: &str) -> RunRequest {
        // Unique, like real run ids: the end of every run stops whatever carries its id,
        // and tests run concurrently.
        let run_id = format!("run-test-{:016x}", rand::random::<u64>());
        RunRequest {
            run_id: run_id.clone(),
            identifier: "ENG-1".into(),
            state: "implement".into(),
            run_number: 1,
            attempt: 1,
            prompt: prompt.into(),
            workspace: self.workspace.clone(),
            log_dir: self.log_dir.clone(),
            env: vec![
                ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
                ("KARAJAN_RUN_ID".into(), run_id),
                ("FAKE_SCENARIO".into(), scenario.into()),
            ],
            resume_session: None,
            resume_usage: None,
            stall_timeout: Duration::from_secs(10),
            turn_timeout: Duration::from_secs(60),
            grace: Duration::from_millis(300),
            max_turns: 10,
            max_cost_usd: None,
        }
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.workspace.join(name)).unwrap_or_default()
    }

    /// The recorded argv of each invocation.
    pub fn argvs(&self) -> Vec<Vec<String>> {
        self.read("argv.log")
            .lines()
            .map(|l| {
                l.split('\t')
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .collect()
    }
}

pub async fn run(runner: Arc<dyn AgentRunner>, req: RunRequest) -> (RunOutcome, Vec<RunEvent>) {
    crate::agent::conformance::run_collect(runner, req, tokio_util::sync::CancellationToken::new())
        .await
}

pub fn activities(events: &[RunEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Activity { summary, .. } => Some(summary.clone()),
            _ => None,
        })
        .collect()
}
