//! A scratch workflow on the fake GitHub for end-to-end tests of the real binary: the
//! quickstart's prompts, agent and demo repository, a `workflow.yaml` whose tracker is
//! `kind: github` pointing `api_url` at the fake, and the fake running on its own
//! multi-threaded runtime so it answers while the test blocks on the child process.
//!
//! The token is `$KJ_E2E_GITHUB_TOKEN`, set only in the child's environment: the test
//! process never exports it, so finding it anywhere proves a leak by karajan.

use std::path::{Path, PathBuf};
use std::process::Output;

use super::fake::{self, Fake};
use crate::e2e::support::{copy_tree, repo_root};

/// The variable the workflow reads the token from.
pub const TOKEN_VAR: &str = "KJ_E2E_GITHUB_TOKEN";

/// The workflow's columns, as board options or state labels.
pub const COLUMNS: &[&str] = &[
    "Todo",
    "In Progress",
    "Human Review",
    "Approved",
    "Rework",
    "Done",
    "Canceled",
];

pub struct GhScratch {
    pub dir: tempfile::TempDir,
    pub fake: Fake,
    pub mode: &'static str,
    // Dropped last: the fake's server runs on it.
    _rt: tokio::runtime::Runtime,
}

impl GhScratch {
    /// A fake with the workflow's columns, and a workflow for `mode` (`project` or
    /// `labels`); `tracker_extra` is appended to the `tracker:` section.
    pub fn new(mode: &'static str, tracker_extra: &str) -> GhScratch {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let fake = rt.block_on(Fake::start());
        {
            let mut s = fake.lock();
            s.options = COLUMNS.iter().map(|c| c.to_string()).collect();
            s.repo_labels.extend(
                COLUMNS
                    .iter()
                    .map(|c| format!("karajan:{}", karajan::tracker::github::config::slug(c))),
            );
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let quickstart = repo_root().join("examples/quickstart");
        copy_tree(&quickstart.join("prompts"), &dir.path().join("prompts"));
        copy_tree(
            &quickstart.join("demo-repo.git"),
            &dir.path().join("demo-repo.git"),
        );
        std::fs::copy(quickstart.join("agent.sh"), dir.path().join("agent.sh")).expect("agent");
        let s = GhScratch {
            dir,
            fake,
            mode,
            _rt: rt,
        };
        // The scripted agent: records its environment in its run's log folder, then
        // does what the quickstart's agent does.
        s.script(
            "recording-agent.sh",
            &format!(
                "#!/bin/sh\nenv > \"$KARAJAN_LOG_DIR/agent-env.txt\"\nexec {}/agent.sh\n",
                s.path().display()
            ),
        );
        s.write_workflow(tracker_extra);
        s
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write_workflow(&self, tracker_extra: &str) {
        let mode = match self.mode {
            "project" => "mode: project\n  project: {owner: acme, number: 7}",
            _ => "mode: labels",
        };
        let yaml = format!(
            r#"tracker:
  kind: github
  repo: acme/app
  {mode}
  token: ${TOKEN_VAR}
  api_url: {url}
{tracker_extra}
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
  branch: "karajan/{{{{ issue.identifier }}}}"
runners:
  demo:
    kind: command
    command: ["./recording-agent.sh"]
agent:
  max_concurrent: 3
  max_attempts: 2
  stall_timeout: 2m
  turn_timeout: 10m
  kill_grace: 2s
prompts:
  global: prompts/global.md
states:
  implement:
    kind: agent
    runner: demo
    prompt: prompts/implement.md
    next: review
  review:
    kind: gate
    approve: finalize
    rework: implement
    max_rework: 2
  finalize:
    kind: agent
    runner: demo
    prompt: prompts/finalize.md
    next: done
  done:
    kind: terminal
  canceled:
    kind: terminal
    column: Canceled
"#,
            url = self.fake.url
        );
        std::fs::write(self.path().join("workflow.yaml"), yaml).expect("workflow");
    }

    /// Write an executable script.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.path().join(name);
        std::fs::write(&p, body).expect("script");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    /// Adds issue `number` of `acme/app` in `column` (board status or state label).
    pub fn add_issue(&self, number: i64, title: &str, column: &str) {
        match self.mode {
            "project" => self.fake.add_issue(number, Some(column), &[]),
            _ => self.fake.add_issue(number, None, &[&label(column)]),
        }
        self.fake.edit(number, |i| i.title = title.to_string());
    }

    /// The issue's column as GitHub holds it (asserting a single state label).
    pub fn column(&self, number: i64) -> String {
        let issue = self.fake.issue(number);
        if self.mode == "project" {
            return issue.status.unwrap_or_default();
        }
        let states: Vec<&String> = issue
            .labels
            .iter()
            .filter(|l| l.starts_with("karajan:"))
            .collect();
        assert_eq!(states.len(), 1, "#{number} state labels: {states:?}");
        COLUMNS
            .iter()
            .find(|c| label(c) == *states[0])
            .map(|c| c.to_string())
            .unwrap_or_else(|| panic!("unknown state label {}", states[0]))
    }

    /// A human moves the issue on GitHub: sets the board status, or swaps the label.
    pub fn human_move(&self, number: i64, column: &str) {
        let project = self.mode == "project";
        self.fake.edit(number, |i| {
            if project {
                i.status = Some(column.to_string());
            } else {
                i.labels.retain(|l| !l.starts_with("karajan:"));
                i.labels.push(label(column));
            }
        });
    }

    /// `karajan <args>` in the scratch folder, with the token only in its environment.
    pub fn karajan(&self, args: &[&str]) -> Output {
        crate::e2e::support::command()
            .args(args)
            .current_dir(self.path())
            .env("KARAJAN_LOG", "debug")
            .env(TOKEN_VAR, fake::TOKEN)
            .output()
            .expect("karajan")
    }

    pub fn once(&self) -> Output {
        let out = self.karajan(&["run", "workflow.yaml", "--once"]);
        assert!(
            out.status.success(),
            "run --once failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Requests the fake received that change something on GitHub.
    pub fn mutations(&self) -> Vec<String> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| {
                r.ends_with(" AddComment")
                    || r.ends_with(" UpdateItemStatus")
                    || r.ends_with(" CloseIssue")
                    || !(r.starts_with("GET ") || r.starts_with("POST graphql "))
            })
            .collect()
    }
}

pub fn label(column: &str) -> String {
    format!("karajan:{}", karajan::tracker::github::config::slug(column))
}

/// Every file under `dir`, recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
