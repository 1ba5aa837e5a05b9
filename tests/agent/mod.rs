//! The `AgentRunner` conformance suite and the runners that pass it.

mod command;
pub mod conformance;
mod process;
mod supervision;
