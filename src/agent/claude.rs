//! The `claude` runner: Claude Code in headless mode.
//!
//! `claude -p --output-format stream-json --verbose`, the prompt on stdin (a long prompt
//! must not hit the argv limit), then from config: `--model`, `--max-turns` (the
//! request's limit; Claude Code enforces it and ends with `error_max_turns`), the
//! permission handling (`--permission-mode <m>` or `--dangerously-skip-permissions`),
//! `--allowedTools`, `--append-system-prompt`, `extra_args`, and `--resume <id>` when the
//! state inherits a session. `--dangerously-skip-permissions` refuses to run as root
//! unless `IS_SANDBOX=1`, so the runner sets exactly that whenever it passes the flag.
//! The stream is read by [`super::claude_stream`].

use super::RunRequest;
use super::claude_stream::ClaudeStream;
use super::cli::{CliFlavor, model_for};
use super::settings::ClaudePermission;
use super::stream::StreamParser;
use crate::config::RunnerConfig;

#[derive(Debug, Clone)]
pub struct Claude {
    config: RunnerConfig,
}

impl Claude {
    pub fn new(config: RunnerConfig) -> Self {
        Claude { config }
    }
}

impl CliFlavor for Claude {
    fn config(&self) -> &RunnerConfig {
        &self.config
    }

    fn default_program(&self) -> &'static str {
        "claude"
    }

    fn args(&self, req: &RunRequest, resume: Option<&str>) -> Vec<String> {
        let cli = &self.config.cli;
        let mut a: Vec<String> = ["-p", "--output-format", "stream-json", "--verbose"]
            .map(String::from)
            .to_vec();
        if let Some(m) = model_for(&self.config) {
            a.extend(["--model".into(), m.to_string()]);
        }
        if req.max_turns > 0 {
            a.extend(["--max-turns".into(), req.max_turns.to_string()]);
        }
        if let Some(usd) = req.max_cost_usd {
            a.extend(["--max-budget-usd".into(), format!("{usd}")]);
        }
        match cli.permission_mode {
            Some(ClaudePermission::Mode(m)) => {
                a.extend(["--permission-mode".into(), m.as_str().to_string()]);
            }
            Some(ClaudePermission::Skip) => a.push("--dangerously-skip-permissions".into()),
            None => {}
        }
        if !cli.allowed_tools.is_empty() {
            a.extend(["--allowedTools".into(), cli.allowed_tools.join(",")]);
        }
        if let Some(s) = &cli.append_system_prompt {
            a.extend(["--append-system-prompt".into(), s.clone()]);
        }
        a.extend(cli.extra_args.iter().cloned());
        if let Some(id) = resume {
            a.extend(["--resume".into(), id.to_string()]);
        }
        a
    }

    fn extra_env(&self) -> Vec<(String, String)> {
        if self.config.cli.permission_mode == Some(ClaudePermission::Skip) {
            vec![("IS_SANDBOX".into(), "1".into())]
        } else {
            Vec::new()
        }
    }

    fn parser(&self) -> Box<dyn StreamParser> {
        Box::new(ClaudeStream::new())
    }

    fn enforces_turns(&self) -> bool {
        false
    }
}
