//! The orchestrator: the single owner of runtime state.
//!
//! # Theory of operation
//!
//! One task (`actor::run`) owns an `Engine` and runs a `select!` over named sources: the
//! poll tick, control messages from `Handle`s, run completions, reports of its own tasks
//! (`inbox`), config changes and shutdown. Nothing else mutates runtime state; the
//! dashboard and CLI read the store or send messages.
//!
//! The owner decides; tasks do. It never awaits the tracker, a clone, a hook or a
//! process stop: the poll's read runs in a task (`tick`), a ticket's writes, hooks and
//! workspace removal run in that ticket's *chain* (`effects`, `chains`), a run's
//! workspace and prompt are prepared in the run's own task (`prepare`), rework feedback
//! is read by a task (`feedback`), and a stopped run reports its end like any run
//! (`finish`). Each reports back as a message. So a hung tracker or a slow hook holds
//! only its own ticket; approvals, completions and other tickets go on. The owner
//! awaits only the store (local, and the place where intents must land first).
//!
//! A tick: launch the outbox's owed writes → read candidates and refresh the tickets
//! karajan is responsible for (a task) → on its answer, `domain::decide` per ticket that
//! is not busy → execute actions → dispatch the wanted runs within the global and
//! per-state caps, in priority order.
//!
//! Every action is recorded before it happens: events are appended in one store
//! transaction FIRST, then the side effect is handed to a task, then its outcome is
//! appended when the task reports. A ticket has at most one chain in flight; what is
//! decided meanwhile queues behind it, so its writes keep their order. A
//! tracker write is an *intent* (outbox row) until confirmed; after a crash the intent
//! is retried, checking the tracker first so it is never doubled. A run is `run_started`
//! before its process exists and `run_spawned` (with its process group id) right after;
//! a restart finds runs that never finished, stops their process group if it is still
//! alive, records them `interrupted` and retries them once. The store, not memory, is
//! the truth, so a SIGKILL of the daemon loses nothing and never yields two agents on
//! one ticket.
//!
//! In a cluster (`store.cluster: true`, see `cluster`) the orchestrator runs on the node
//! that holds the tracker lease, for one *term*: it starts on a store freshly opened and
//! fenced with the term's token, so its first act is the same recovery a restart makes
//! (the previous holder's unfinished runs are interrupted and retried, its owed tracker
//! writes drained), and every append it makes is checked against the lease. When the
//! lease is lost, its shutdown token is cancelled: it stops every run as a daemon stop
//! does, and since the store now rejects its appends, records nothing more (the next
//! holder's recovery does); a rejected append anywhere ends it the same way.

mod actor;
mod attach;
mod budget;
mod chains;
mod claimed_run;
mod counting;
mod delivered;
mod dispatch;
mod effects;
mod engine;
pub(crate) mod evidence;
mod execute;
mod feedback;
mod finish;
mod forge_calls;
mod forge_failures;
mod gates;
mod heap_trim;
mod hooks;
mod ids;
mod inbox;
mod intents;
pub(crate) mod limits;
mod live;
mod merge;
mod pr_pace;
mod pr_verdict;
mod pr_watch;
mod prepare;
mod publish;
mod pull;
mod push;
mod ready;
mod recorder;
mod recovery;
mod reload;
mod remote_run;
mod resume;
mod review_post;
mod run_task;
mod runs;
pub mod summary;
mod sweep;
mod tick;
mod verifying;
pub mod view;

pub use actor::{Handle, Options, RefreshAck, spawn};
pub use claimed_run::{ClaimCtx, run_claimed};
pub use engine::{Engine, Heads, RunDone};
pub use gates::{GateDecision, GateError, GateOutcome};
pub use live::LiveEvent;
pub use verifying::Verification;
pub use view::StatusView;
