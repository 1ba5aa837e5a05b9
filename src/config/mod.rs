//! Loading `workflow.yaml`: raw serde structs that reject unknown keys, then validation
//! into a typed `Workflow` that reports every problem at once.

pub mod secret;
pub mod workflow;

pub use secret::Secret;
pub use workflow::*;
