//! The engine's promises seen from outside: the first poll takes only what it can run,
//! any ticket name works, `run --once` reports what happened, budgets hold for every
//! runner, and the live feed carries every recorded event.

mod budget;
mod first_poll;
mod live_feed;
mod names;
mod once_summary;
pub mod support;
