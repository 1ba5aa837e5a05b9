//! Loading `workflow.yaml`: raw serde structs that reject unknown keys, then validation
//! into a typed `Workflow` that reports every problem at once.
//!
//! Flow: `load` → `raw::parse` (YAML → `Value`; `schema` reports every unknown key with
//! its path, line and a suggestion; each section is deserialized on its own) →
//! `validate::build` (defaults, paths, secrets, runners, states, the machine, prompt
//! files compiled) → `Workflow`. Errors are collected, never short-circuited.

mod command;
mod error;
mod expand;
mod load;
mod raw;
mod schema;
pub mod secret;
mod states;
mod suggest;
mod tracker;
mod validate;
pub mod workflow;

#[cfg(test)]
mod tests;

pub use error::{ConfigError, ConfigErrors};
#[cfg(test)]
pub(crate) use expand::process_env;
#[cfg(test)]
pub(crate) use load::load_unrendered;
pub use load::{load, load_str, load_unrendered_file};
pub use secret::Secret;
pub use validate::{DEFAULT_BRANCH, is_loopback_host};
pub use workflow::*;
