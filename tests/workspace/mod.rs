//! Workspaces: git2 clones, branches, containment, removal and hooks.

mod clone;
mod follow;
mod hooks;
mod mirror;
