//! The `codex` runner: Codex CLI's `exec` mode.
//!
//! `codex exec --json [flags] -` with the prompt on stdin; a resumed session is
//! `codex exec resume --json [flags] <thread_id> -`. Flags from config: `--model` (never
//! a model of another vendor: a Codex state does not inherit a Claude model name; `check`
//! rejects that and the runner drops it defensively), the sandbox (`--sandbox <mode>`,
//! or `-c sandbox_mode="<mode>"` on resume, whose help has no `--sandbox`;
//! `--dangerously-bypass-approvals-and-sandbox` for `bypass`; Codex 0.169 has no
//! `--full-auto`), then `extra_args`. Codex has no turn-limit flag, so karajan counts
//! turns (1 + tool calls) and stops the process past `max_turns`.
//! The stream is read by [`super::codex_stream`].

use super::RunRequest;
use super::cli::{CliFlavor, model_for};
use super::codex_stream::CodexStream;
use super::settings::CodexSandbox;
use super::stream::StreamParser;
use crate::config::RunnerConfig;

#[derive(Debug, Clone)]
pub struct Codex {
    config: RunnerConfig,
}

impl Codex {
    pub fn new(config: RunnerConfig) -> Self {
        Codex { config }
    }
}

impl CliFlavor for Codex {
    fn config(&self) -> &RunnerConfig {
        &self.config
    }

    fn default_program(&self) -> &'static str {
        "codex"
    }

    fn args(&self, _req: &RunRequest, resume: Option<&str>) -> Vec<String> {
        let cli = &self.config.cli;
        let mut a: Vec<String> = vec!["exec".into()];
        if resume.is_some() {
            a.push("resume".into());
        }
        a.push("--json".into());
        if let Some(m) = model_for(&self.config) {
            a.extend(["--model".into(), m.to_string()]);
        }
        match (cli.sandbox, resume.is_some()) {
            (Some(CodexSandbox::Bypass), _) => {
                a.push("--dangerously-bypass-approvals-and-sandbox".into());
            }
            (Some(s), false) => a.extend(["--sandbox".into(), s.mode().unwrap_or("").into()]),
            (Some(s), true) => a.extend([
                "-c".into(),
                format!("sandbox_mode=\"{}\"", s.mode().unwrap_or("")),
            ]),
            (None, _) => {}
        }
        a.extend(cli.extra_args.iter().cloned());
        if let Some(id) = resume {
            a.push(id.to_string());
        }
        a.push("-".into());
        a
    }

    fn parser(&self) -> Box<dyn StreamParser> {
        Box::new(CodexStream::new())
    }

    fn enforces_turns(&self) -> bool {
        true
    }
}
