//! The drain's scratch folder: a Linear workflow pointing at the fake (in webhook mode
//! with `server.webhooks` on a fixed port), the quickstart's prompts, and a fake agent
//! (a `command` runner script) that notes when it starts.

use std::path::{Path, PathBuf};

use crate::daemon::SECRET_VAR;
use crate::settings::{Mode, Settings};

/// Where the fake agent writes `<ticket>.<state>` holding its start time (ns since
/// the Unix epoch), one file per run.
pub fn starts_dir(dir: &Path) -> PathBuf {
    dir.join("starts")
}

pub fn workflow_path(dir: &Path) -> PathBuf {
    dir.join("workflow.yaml")
}

/// The route deliveries are posted to.
pub const WEBHOOK_PATH: &str = "/hooks/linear";

/// Writes the workflow, prompts and agent into `dir`; `port` is the dashboard's, where
/// webhooks arrive (webhook mode only).
pub fn write(dir: &Path, url: &str, s: &Settings, mode: Mode, port: u16) -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let quickstart = root.join("examples/quickstart");
    std::fs::create_dir_all(dir.join("prompts"))?;
    std::fs::create_dir_all(starts_dir(dir))?;
    for p in ["global.md", "implement.md", "finalize.md"] {
        std::fs::copy(
            quickstart.join("prompts").join(p),
            dir.join("prompts").join(p),
        )?;
    }
    let agent = dir.join("agent.sh");
    std::fs::write(
        &agent,
        format!(
            "#!/bin/sh\n\
             # The drain's fake agent: note the start, read the prompt, report, exit 0.\n\
             date +%s%N > '{starts}/'\"$KARAJAN_ISSUE.$KARAJAN_STATE\"\n\
             cat > /dev/null\n\
             echo '{{\"type\":\"session\",\"session_id\":\"bench-'\"$KARAJAN_RUN_ID\"'\"}}'\n\
             i=0; while [ $i -lt {lines} ]; do echo '{{\"type\":\"assistant\",\"text\":\"working, step '$i'\"}}'; i=$((i+1)); done\n\
             sleep {secs}\n\
             echo '{{\"type\":\"result\",\"summary\":\"done\"}}'\n",
            starts = starts_dir(dir).display(),
            secs = s.agent_secs,
            lines = s.agent_lines,
        ),
    )?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755))?;
    let mut yaml = workflow(dir, url, s, &quickstart);
    if mode == Mode::Webhooks {
        yaml.push_str(&server(s, port));
    }
    std::fs::write(workflow_path(dir), yaml)
}

fn workflow(dir: &Path, url: &str, s: &Settings, quickstart: &Path) -> String {
    format!(
        "tracker:
  kind: linear
  api_key: $LINEAR_API_KEY
  project: proj1
  endpoint: {url}
columns:
  todo: Todo
  active: In Progress
  review: Human Review
  approved: Gate Approved
  rework: Rework
  done: Done
  terminal: [Canceled]
polling:
  interval: {poll}ms
workspace:
  root: ./workspaces
  repo: {repo}
runners:
  fake:
    kind: command
    command: [\"{agent}\"]
agent:
  max_concurrent: {concurrency}
  max_attempts: 3
prompts:
  global: prompts/global.md
states:
  implement:
    kind: agent
    runner: fake
    prompt: prompts/implement.md
    next: review
  review:
    kind: gate
    approve: finalize
    rework: implement
    max_rework: 2
  finalize:
    kind: agent
    runner: fake
    prompt: prompts/finalize.md
    next: done
    session: inherit
  done:
    kind: terminal
  canceled:
    kind: terminal
    column: Canceled
",
        poll = s.poll.as_millis(),
        repo = quickstart.join("demo-repo.git").display(),
        agent = dir.join("agent.sh").display(),
        concurrency = s.concurrency,
    )
}

/// The dashboard on `port` with webhooks on; polling becomes the consistency check.
fn server(s: &Settings, port: u16) -> String {
    format!(
        "server:
  port: {port}
  webhooks:
    path: {WEBHOOK_PATH}
    secret: ${SECRET_VAR}
    poll_interval: {consistency}ms
",
        consistency = s.consistency_poll.as_millis(),
    )
}
