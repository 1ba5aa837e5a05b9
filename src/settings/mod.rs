//! The leaf of configuration: what every section of `workflow.yaml` is built with, and
//! nothing else. [`Secret`] (a value never printed), `~`/`$VAR` expansion, the error
//! collector that names the file, line and key path of each problem, "did you mean"
//! hints, and [`Section`], the context a section's owner validates its part with.
//!
//! It imports nothing of karajan's own, so `config` and every adapter (trackers, agent
//! runners, prompts) can use it without importing each other: `config` reads the
//! document and the sections that belong to no adapter, each adapter validates its own
//! section from raw YAML, and `workflow_load` wires the two.

pub(crate) mod error;
pub(crate) mod expand;
mod scalar;
pub mod secret;
mod section;
pub(crate) mod suggest;

pub use error::{ConfigError, ConfigErrors, TemplateError};
pub(crate) use scalar::Scalar;
pub use secret::Secret;
pub use section::Section;

/// `path.key`, or `key` at the root: how key paths in messages are written.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}
