//! The three-layer MiniJinja prompt.

pub mod env;
