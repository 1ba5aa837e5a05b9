//! karajan: a daemon that turns an issue tracker into an autonomous software factory.
//!
//! Layout (dependency direction: `domain` and `settings` import nothing of ours; `config`
//! imports only those two, never an adapter; the adapters import `domain`, `settings`
//! and `config`; `workflow_load` wires `config` to the adapters; `orchestrator` ties them
//! together; `cli` and `web` talk to the orchestrator through its handle or read the
//! store):
//!
//! - `domain`: pure tickets, state machine and `decide`.
//! - `settings`: what every config section is built with (`Secret`, `$VAR` expansion,
//!   the error collector with file, line and key path, "did you mean").
//! - `config`: `workflow.yaml` → validated `Workflow`, asking the adapters to validate
//!   the sections they own.
//! - `workflow_load`: `load` and friends: config plus the adapters' sections.
//! - `tracker`: the `Tracker` seam and its adapters (local folder, ...).
//! - `forge`: where code lands: pushing a ticket's branch (git2, never forced).
//! - `agent`: the `AgentRunner` seam, process supervision, runners.
//! - `workspace`: per-ticket git2 clones and hooks.
//! - `prompt`: the three-layer MiniJinja prompt.
//! - `store`: the hash-chained SQLite event store and its projections.
//! - `orchestrator`: the single owner of runtime state.
//! - `proof`: which signed checkpoint and tracker anchor cover an event (`history`,
//!   the ticket page).
//! - `cluster`: several nodes on one Postgres store: nodes, the tracker lease with its
//!   fencing token, terms (standby, renewal, loss).
//! - `notify`: what a human must hear about, sent to webhooks (fed by the recorder).
//! - `graph`: the state machine as a picture (Mermaid, DOT, a layered layout).
//! - `cli`: one file per verb.
//! - `web`: the dashboard and JSON API.

pub mod agent;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod domain;
pub mod forge;
pub mod graph;
mod notify;
pub mod orchestrator;
pub mod prompt;
pub mod proof;
pub mod redact;
mod resident;
pub mod settings;
pub mod store;
pub mod tracker;
pub mod web;
pub mod workflow_load;
pub mod workspace;
