//! End-to-end tests: the real `karajan` binary on a copy of a local-tracker workflow,
//! with scripted agents. They prove the whole loop, crash recovery, hot reload and
//! the dry run's promise to write nothing.

mod appends;
mod cli;
mod command_string;
mod conventions;
mod crash;
mod docs;
mod dry_run;
mod evidence;
mod feedback;
mod flow;
pub(crate) mod git_http;
mod git_https;
mod graph;
pub(crate) mod history_proof;
mod hooks;
mod json_output;
mod migrate;
mod notify;
mod orphans;
mod outbox;
mod postgres;
mod preflight;
mod push;
mod push_github;
mod recover;
mod reload;
mod reload_quiet;
mod review;
mod review_example;
mod secrets;
mod shutdown;
mod signed;
mod single_daemon;
mod store_reset;
pub mod support;
mod top;
mod verbs;
