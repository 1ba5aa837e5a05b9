//! The seam between `config` and the adapters, so loading flows one way.
//!
//! `config` owns the document and the sections that belong to no adapter; the tracker
//! section, the CLI-specific keys of a runner and the templates belong to the tracker
//! adapters, the agent runners and the prompt renderer. While building a [`Workflow`]
//! config hands each of those sections, as raw data, with a [`Section`] error context to
//! the [`Adapters`] it was given (`workflow_load` passes the real ones), and stores what
//! comes back: the tracker's settings opaquely ([`TrackerConfig`]), the CLI settings as
//! plain data. Nothing here names an adapter's module.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use schemars::{Schema, SchemaGenerator};
use yaml_serde::Value;

use super::cli_settings::CliSettings;
use super::raw::RawRunner;
use super::workflow::{RunnerKind, Workflow};
use crate::settings::{ConfigError, Secret, Section, TemplateError};

/// What `config` asks of the sections it does not own.
pub(crate) trait Adapters {
    /// The tracker kinds (`tracker.kind` must be one of them), in the order messages
    /// list them.
    fn tracker_kinds(&self) -> &'static [&'static str];

    /// The whole `tracker:` section of one of [`Adapters::tracker_kinds`], validated by
    /// its adapter; `None` when it has problems, each pushed to `cx`.
    fn tracker(&self, kind: &str, section: &Value, cx: &mut Section) -> Option<TrackerConfig>;

    /// The JSON Schema of the `tracker:` section of `kind` (one of
    /// [`Adapters::tracker_kinds`]), derived from the raw struct its adapter reads; its
    /// definitions go to `generator` (`karajan schema`).
    fn tracker_schema(&self, kind: &str, generator: &mut SchemaGenerator) -> Schema;

    /// The CLI-specific keys of the runner profile at `key` (`runners.<name>`), each
    /// checked against its choices and against the runner's `kind`.
    fn runner_cli(
        &self,
        key: &str,
        kind: RunnerKind,
        runner: &RawRunner,
        cx: &mut Section,
    ) -> CliSettings;

    /// Whether a state may set `model` on a runner of `kind` (a model of another vendor
    /// may not).
    fn model_fits(&self, kind: RunnerKind, model: &str) -> bool;

    /// Whether a template (named `name` in messages) compiles.
    fn compile_template(&self, name: &str, source: &str) -> Result<(), TemplateError>;

    /// Every template of a loaded workflow that does not render against a sample ticket.
    fn render_errors(&self, workflow: &Workflow) -> Vec<ConfigError>;
}

/// A tracker adapter's validated settings, as `config` sees them: a kind, the secrets to
/// keep out of every page and log, and the credentials the workflow opted to pass to
/// agents. The adapter reads its own type back with [`TrackerConfig::get`].
pub trait TrackerSection: Any + fmt::Debug + Send + Sync {
    /// The `tracker.kind` this came from.
    fn kind(&self) -> &'static str;

    /// Every secret in these settings (for redaction).
    fn secrets(&self) -> Vec<&Secret> {
        Vec::new()
    }

    /// Variables every runner gets unless it sets them itself (an explicit opt-in such
    /// as Linear's `pass_api_key_to_agents`; empty without one).
    fn agent_env(&self) -> Vec<(String, Secret)> {
        Vec::new()
    }

    /// Where the tickets' code lives when the tracker knows (a GitHub tracker: its
    /// repository, API and token): the defaults of a `forge: {kind: github}` section.
    fn forge_defaults(&self) -> Option<ForgeDefaults> {
        None
    }
}

/// A tracker's answer to "where does the code live": what `forge: {kind: github}`
/// defaults to.
#[derive(Debug, Clone)]
pub struct ForgeDefaults {
    /// The REST API base (`https://api.github.com`, `https://HOST/api/v3`).
    pub api_url: String,
    /// `owner/name`.
    pub repo: String,
    pub token: Secret,
}

/// The `tracker:` section, validated by the adapter of its kind.
#[derive(Clone)]
pub struct TrackerConfig(Arc<dyn TrackerSection>);

impl TrackerConfig {
    pub fn new(section: impl TrackerSection) -> Self {
        TrackerConfig(Arc::new(section))
    }

    pub fn kind(&self) -> &'static str {
        self.0.kind()
    }

    /// The adapter's own settings, when they are of type `T`.
    pub fn get<T: TrackerSection>(&self) -> Option<&T> {
        let any: &dyn Any = self.0.as_ref();
        any.downcast_ref()
    }

    pub fn secrets(&self) -> Vec<&Secret> {
        self.0.secrets()
    }

    pub fn agent_env(&self) -> Vec<(String, Secret)> {
        self.0.agent_env()
    }

    pub fn forge_defaults(&self) -> Option<ForgeDefaults> {
        self.0.forge_defaults()
    }
}

impl fmt::Debug for TrackerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
