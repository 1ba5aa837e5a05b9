//! The `AgentRunner` conformance suite and the runners that pass it.

mod command;
pub mod conformance;
mod paused;
mod process;
mod supervision;
