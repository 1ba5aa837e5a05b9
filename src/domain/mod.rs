//! The pure core of karajan: tickets, the workflow state machine, and `decide`.
//!
//! Nothing in here performs I/O or knows about tokio, sqlx, git2 or reqwest. The
//! orchestrator feeds plain data in (a ticket snapshot from the tracker, the ticket's
//! record from the store, the compiled machine) and executes the actions that come back.
//! Keeping the decisions pure is what lets us table-test and property-test every rule
//! (at most one run per ticket, per-gate rework counts, escalation that is never a dead
//! end) without a runtime.

pub mod action;
pub mod decide;
pub mod evidence;
pub mod machine;
pub mod priority;
pub mod record;
pub mod retry;
pub mod run;
pub mod ticket;
pub mod verdict;

pub use action::{Action, Cause, StopReason};
pub use decide::decide;
pub use machine::{
    Columns, Machine, MergePolicy, PrWatch, Review, ReviewSource, StateKind, StateSpec,
};
pub use record::{IssueRecord, Phase, PullRequestRef};
pub use run::{RunStatus, TokenUsage};
pub use ticket::{
    Blocker, Comment, RECENT_HUMAN_COMMENTS, TicketRef, TicketSnapshot, recent_human,
};
pub use verdict::{Verdict, VerdictKind};

#[cfg(test)]
mod tests;
