//! Loading a workflow: the one place that knows both `config` and the adapters.
//!
//! `config` reads `workflow.yaml` and validates every section that belongs to no
//! adapter; it never imports an adapter. The sections an adapter owns are handed to it
//! as raw YAML with the error context (`settings::Section`): the tracker section to the
//! tracker adapter of its kind, a runner's CLI keys to the agent runners, templates to
//! the prompt renderer. [`Builtin`] is that wiring; the functions below are what `run`,
//! hot reload and `check` call, so all of them accept and refuse exactly the same files.

use std::path::Path;

use schemars::{Schema, SchemaGenerator};
use yaml_serde::Value;

use crate::config::raw::RawRunner;
use crate::config::{
    self, Adapters, CliSettings, ConfigError, ConfigErrors, RunnerKind, TemplateError,
    TrackerConfig, Workflow,
};
use crate::settings::Section;
use crate::settings::expand::{self, EnvLookup};
use crate::{agent, prompt, tracker};

/// The adapters karajan ships, as `config` sees them.
pub(crate) struct Builtin;

impl Adapters for Builtin {
    fn tracker_kinds(&self) -> &'static [&'static str] {
        &["local", "linear", "github"]
    }

    fn tracker(&self, kind: &str, section: &Value, cx: &mut Section) -> Option<TrackerConfig> {
        match kind {
            "local" => tracker::local::config::section(section, cx),
            "linear" => tracker::linear::config::section(section, cx),
            "github" => tracker::github::config::section(section, cx),
            _ => None,
        }
    }

    fn tracker_schema(&self, kind: &str, generator: &mut SchemaGenerator) -> Schema {
        match kind {
            "local" => tracker::local::config::schema(generator),
            "linear" => tracker::linear::config::schema(generator),
            "github" => tracker::github::config::schema(generator),
            _ => Schema::from(false),
        }
    }

    fn runner_cli(
        &self,
        key: &str,
        kind: RunnerKind,
        runner: &RawRunner,
        cx: &mut Section,
    ) -> CliSettings {
        agent::settings::cli_section(key, kind, runner, cx)
    }

    fn model_fits(&self, kind: RunnerKind, model: &str) -> bool {
        agent::settings::model_fits(kind, model)
    }

    fn compile_template(&self, name: &str, source: &str) -> Result<(), TemplateError> {
        prompt::env::compile(name, source)
    }

    fn render_errors(&self, workflow: &Workflow) -> Vec<ConfigError> {
        prompt::render_errors(workflow)
    }
}

/// Loads and validates the workflow file at `path` (and the prompt files it uses),
/// expanding `$VAR`s from the process environment. Validation includes rendering every
/// template against a sample ticket.
pub fn load(path: &Path) -> Result<Workflow, ConfigErrors> {
    let text = config::read(path)?;
    load_str(&text, path)
}

/// The JSON Schema of `workflow.yaml` (`karajan schema`): every section and key the
/// loader accepts, with the tracker section of each tracker kind.
pub fn json_schema() -> serde_json::Value {
    config::json_schema(&Builtin)
}

/// [`json_schema`] as the text `karajan schema` prints and `karajan init` writes.
pub fn json_schema_text() -> String {
    serde_json::to_string_pretty(&json_schema()).unwrap_or_default()
}

/// [`load`] without rendering the templates: for verbs that only need where things
/// are (the store of `status`, `history`, `verify`), which keep working while a prompt
/// is broken.
pub fn load_unrendered_file(path: &Path) -> Result<Workflow, ConfigErrors> {
    let text = config::read(path)?;
    load_unrendered(&text, path, &expand::process_env)
}

/// Validates workflow text as if it were the file at `path`: relative paths (prompts,
/// tickets, the store) resolve against `path`'s directory, and prompt files are read
/// from disk.
pub fn load_str(yaml: &str, path: &Path) -> Result<Workflow, ConfigErrors> {
    load_str_with_env(yaml, path, &expand::process_env)
}

/// [`load_str`] with an injected environment (tests use it to set variables without
/// touching the process environment).
pub(crate) fn load_str_with_env(
    yaml: &str,
    path: &Path,
    env: EnvLookup<'_>,
) -> Result<Workflow, ConfigErrors> {
    config::load_str_with(yaml, path, env, &Builtin, true)
}

/// Everything [`load_str_with_env`] checks except rendering the templates (they have
/// compiled); for tests of the renderer itself.
pub(crate) fn load_unrendered(
    yaml: &str,
    path: &Path,
    env: EnvLookup<'_>,
) -> Result<Workflow, ConfigErrors> {
    config::load_str_with(yaml, path, env, &Builtin, false)
}

#[cfg(test)]
mod tests;
