//! karajan: a daemon that turns an issue tracker into an autonomous software factory.
//!
//! Layout (dependency direction: `domain` imports nothing of ours; the adapters import
//! `domain` and `config`; `orchestrator` ties them together; `cli` and `web` talk to the
//! orchestrator through its handle or read the store):
//!
//! - `domain`: pure tickets, state machine and `decide`.
//! - `config`: `workflow.yaml` → validated `Workflow`.
//! - `tracker`: the `Tracker` seam and its adapters (local folder, ...).
//! - `agent`: the `AgentRunner` seam, process supervision, runners.
//! - `workspace`: per-ticket git2 clones and hooks.
//! - `prompt`: the three-layer MiniJinja prompt.
//! - `store`: the hash-chained SQLite event store and its projections.
//! - `orchestrator`: the single owner of runtime state.
//! - `cli`: one file per verb.
//! - `web`: the dashboard and JSON API.

pub mod agent;
pub mod cli;
pub mod config;
pub mod domain;
pub mod orchestrator;
pub mod prompt;
pub mod redact;
pub mod store;
pub mod tracker;
pub mod web;
pub mod workspace;
