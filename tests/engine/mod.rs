//! The engine's promises seen from outside: the first poll takes only what it can run,
//! any ticket name works, `run --once` reports what happened, budgets hold for every
//! runner, the live feed carries every recorded event, and the owner never waits on
//! the tracker.

mod budget;
mod first_poll;
mod live_feed;
mod names;
mod once_deferred;
mod once_summary;
mod owner;
pub mod support;
