//! Loading `workflow.yaml`: raw serde structs that reject unknown keys, then validation
//! into a typed `Workflow` that reports every problem at once.
//!
//! Flow: `raw::parse` (YAML → `Value`; `schema` reports every unknown key with its path,
//! line and a suggestion; each section is deserialized on its own) → `validate::build`
//! (defaults, paths, secrets, runners, states, the machine, prompt files read) →
//! `Workflow`. Errors are collected, never short-circuited. The same raw structs give
//! `karajan schema` its JSON Schema (`json_schema`), so editors check what the loader
//! checks.
//!
//! Config flows one way: this module imports the leaf `settings` (secrets, `$VAR`
//! expansion, the error collector) and `domain`, never an adapter. The sections an
//! adapter owns (the tracker's, the CLI keys of a runner, templates) are validated by
//! that adapter through [`Adapters`], which `workflow_load` implements and passes in;
//! their typed results are opaque here ([`TrackerConfig`]) or plain data
//! ([`CliSettings`]). A test fails if a file here names `crate::tracker`, `crate::agent`
//! or `crate::prompt`.

mod adapters;
mod cli_settings;
mod command;
mod forge;
mod gate_watch;
mod json_schema;
mod load;
mod notify;
pub(crate) mod raw;
pub(crate) mod schema;
mod states;
mod store_url;
mod tracker;
mod validate;
pub mod workflow;

#[cfg(test)]
mod tests;

// The leaf's modules under their old names, so `super::expand` and the like keep
// working inside this module.
pub use crate::settings::secret;
pub(crate) use crate::settings::{error, expand, suggest};

pub use crate::settings::{ConfigError, ConfigErrors, Secret, TemplateError};
pub(crate) use adapters::Adapters;
pub use adapters::{ForgeDefaults, TrackerConfig, TrackerSection};
pub use cli_settings::{
    APPROVAL_MODES, ClaudeMode, ClaudePermission, CliSettings, CodexSandbox, GeminiApproval,
    PERMISSION_MODES, Price, SANDBOXES,
};
pub(crate) use json_schema::document as json_schema;
pub(crate) use load::{load_str_with, read};
pub use notify::{EVENT_NAMES, NotifyConfig, NotifyTarget, TargetKind};
pub use store_url::PgUrl;
pub(crate) use validate::default_signing_key;
pub use validate::{DEFAULT_BRANCH, is_loopback_host};
pub use workflow::*;
