//! The orchestrator: the single owner of runtime state.
//!
//! # Theory of operation
//!
//! One task (`actor::run`) owns an `Engine` and runs a `select!` over named sources: the
//! poll tick, control messages from `Handle`s, run completions, config changes and
//! shutdown. Nothing else mutates runtime state; the dashboard and CLI read the store or
//! send messages.
//!
//! A tick: drain the outbox (pending tracker writes) → fetch candidates and refresh the
//! tickets karajan is responsible for → `domain::decide` per ticket → execute actions →
//! dispatch the wanted runs within the global and per-state caps, in priority order.
//!
//! Every action is recorded before it happens: events are appended in one store
//! transaction FIRST, then the side effect is performed, then its outcome is appended. A
//! tracker write is an *intent* (outbox row) until confirmed; after a crash the intent
//! is retried, checking the tracker first so it is never doubled. A run is `run_started`
//! before its process exists and `run_spawned` (with its process group id) right after;
//! a restart finds runs that never finished, stops their process group if it is still
//! alive, records them `interrupted` and retries them once. The store, not memory, is
//! the truth, so a SIGKILL of the daemon loses nothing and never yields two agents on
//! one ticket.

mod actor;
mod budget;
mod counting;
mod dispatch;
mod engine;
mod execute;
mod feedback;
mod finish;
mod gates;
mod hooks;
mod ids;
mod intents;
pub(crate) mod limits;
mod live;
mod publish;
mod recorder;
mod recovery;
mod reload;
mod resume;
mod run_task;
mod runs;
pub mod summary;
mod sweep;
mod tick;
pub mod view;

pub use actor::{Handle, Options, RefreshAck, spawn};
pub use engine::Engine;
pub use gates::{GateDecision, GateError, GateOutcome};
pub use live::LiveEvent;
pub use view::StatusView;
