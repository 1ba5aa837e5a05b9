//! `karajan top` (also `karajan status --watch`): a live view of the running daemon,
//! refreshed every `--interval`, from its read model (`GET /api/v1/state`).
//!
//! On a terminal it draws a full-screen view (`tui`) with keys to approve, send back
//! for rework, pause or resume dispatch and open a ticket's log. When stdout is not a
//! terminal (a pipe, a file, a CI log) it degrades to plain text: one frame per
//! interval, separated by a blank line, `-n N` frames at most (like `top -b -n N`).

mod snapshot;
mod tui;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use super::Exit;
use super::daemon::Daemon;
pub use snapshot::Snapshot;

#[derive(Debug, Clone, clap::Args)]
pub struct TopArgs {
    /// How often the view refreshes (e.g. `2s`, `500ms`).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Stop after this many frames (plain-text mode only; default: until interrupted).
    #[arg(long, short = 'n')]
    pub iterations: Option<u64>,
}

pub async fn run(workflow: &Path, args: &TopArgs) -> Exit {
    let daemon = match Daemon::find(workflow) {
        Ok(d) => d,
        Err(e) => {
            eprintln!(
                "karajan: {}\n(`karajan status` shows the store without a daemon)",
                e.message
            );
            return e.exit;
        }
    };
    if std::io::stdout().is_terminal() {
        return tui::run(workflow, &daemon, args.interval).await;
    }
    let mut frames = 0u64;
    loop {
        let snap = match daemon.get("/api/v1/state").await {
            Ok(state) => Snapshot::of_state(&state, chrono::Utc::now()),
            Err(e) => {
                eprintln!("karajan: {}", e.message);
                return e.exit;
            }
        };
        let mut out = std::io::stdout().lock();
        let sep = if frames == 0 { "" } else { "\n" };
        if write!(out, "{sep}{}", snap.plain())
            .and_then(|()| out.flush())
            .is_err()
        {
            // The reader went away (`karajan top | head`): nothing more to show.
            return Exit::Ok;
        }
        drop(out);
        frames += 1;
        if args.iterations.is_some_and(|n| frames >= n) {
            return Exit::Ok;
        }
        tokio::time::sleep(args.interval).await;
    }
}
