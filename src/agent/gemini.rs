//! The `gemini` runner: Gemini CLI in headless mode.
//!
//! `gemini -p "" --output-format stream-json` with the prompt on stdin (the `-p` text is
//! appended to stdin, so an empty `-p` selects headless mode without touching argv
//! limits), then from config: `--model`, `--approval-mode <m>`, `extra_args`, and
//! `--resume <uuid>` for an inherited session. Gemini CLI has no turn-limit flag (only a
//! settings key), so karajan counts turns (1 + tool calls) and stops the process past
//! `max_turns`. Exit codes do not tell the outcome; [`super::gemini_stream`] reads
//! `result.status`.

use super::RunRequest;
use super::cli::{CliFlavor, model_for};
use super::gemini_stream::GeminiStream;
use super::stream::StreamParser;
use crate::config::RunnerConfig;

#[derive(Debug, Clone)]
pub struct Gemini {
    config: RunnerConfig,
}

impl Gemini {
    pub fn new(config: RunnerConfig) -> Self {
        Gemini { config }
    }
}

impl CliFlavor for Gemini {
    fn config(&self) -> &RunnerConfig {
        &self.config
    }

    fn default_program(&self) -> &'static str {
        "gemini"
    }

    fn args(&self, _req: &RunRequest, resume: Option<&str>) -> Vec<String> {
        let cli = &self.config.cli;
        let mut a: Vec<String> = ["-p", "", "--output-format", "stream-json"]
            .map(String::from)
            .to_vec();
        if let Some(m) = model_for(&self.config) {
            a.extend(["--model".into(), m.to_string()]);
        }
        if let Some(mode) = cli.approval_mode {
            a.extend(["--approval-mode".into(), mode.as_str().to_string()]);
        }
        a.extend(cli.extra_args.iter().cloned());
        if let Some(id) = resume {
            a.extend(["--resume".into(), id.to_string()]);
        }
        a
    }

    fn parser(&self) -> Box<dyn StreamParser> {
        Box::new(GeminiStream::new())
    }

    fn enforces_turns(&self) -> bool {
        true
    }
}
