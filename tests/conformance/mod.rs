//! The shared `Tracker` conformance suite (`tracker.rs`) and its instantiations, one
//! module per adapter, each with the tests only that adapter needs.

mod linear;
mod local;
pub mod tracker;
