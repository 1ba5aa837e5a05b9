//! The drain benchmark (issue 11 point 7): `cargo bench --bench drain`.
//!
//! It runs the real `karajan` binary (`karajan run`, a daemon) against the project's own
//! fake Linear (`tests/linear/fake.rs`) on 127.0.0.1 with a per-request latency, and a
//! fake agent (a `command` runner script), and carries N tickets through
//! `implement` (agent) → `review` (gate) → `finalize` (agent) → `done`. The bench plays
//! the human: it approves every ticket that reaches Human Review by moving it to Gate
//! Approved in the fake, as a reviewer would in Linear. When every ticket is Done it
//! reads the daemon's counters from `/proc`, counts the idle daemon's tracker requests
//! for a few seconds, stops it, and prints the figures of the table.
//!
//! Two modes, as karajan can learn of an approval:
//! - polling (the default): the approval shows at the next `polling.interval` read;
//! - webhooks (`BENCH_WEBHOOKS=1`): the workflow turns `server.webhooks` on (a port
//!   picked free beforehand, a random signing secret, polling only every
//!   `BENCH_CONSISTENCY_POLL_MS`), and each approval is also POSTed to the daemon as the
//!   signed Linear `Issue` update delivery Linear would send (`webhook.rs`). A delivery
//!   karajan refuses fails the bench. A binary that rejects `server.webhooks` (an older
//!   build) is reported "not available".
//!
//! `BENCH_BOTH=1` runs both, one after the other, each with its own fake and daemon.
//!
//! Settings (environment variables; a bare number argument sets the ticket count):
//! `BENCH_TICKETS` (50; 500 is the large run), `BENCH_CONCURRENCY` (10), `BENCH_POLL_MS`
//! (2000), `BENCH_CONSISTENCY_POLL_MS` (60000), `BENCH_LATENCY_MS` (`20-50`),
//! `BENCH_AGENT_SECS` (0), `BENCH_AGENT_LINES` (0: output lines the agent prints at once
//! besides its two), `BENCH_TIMEOUT_SECS` (900, or 2 s per ticket if more),
//! `BENCH_IDLE_SECS` (5; 0 skips the idle count), `BENCH_KARAJAN_BIN` (another binary to
//! measure, e.g. an older or a debug build; default: this package's, built as users
//! build it, see `product.rs`), `BENCH_KEEP=1`
//! keeps the scratch folders, `BENCH_SYMBOL_ORDER=FILE` runs the daemon under valgrind's
//! callgrind and writes the functions it ran, hottest first, to FILE (how
//! `link/symbol-order.txt` is made; see `order.rs`).

#[path = "../../tests/linear"]
#[allow(dead_code)]
mod linear {
    pub mod fake;
}
mod daemon;
mod latency;
mod layout;
mod machine;
mod order;
mod procstat;
mod product;
mod report;
mod run;
mod settings;
mod setup;
mod webhook;

use settings::{Mode, Settings};

fn main() {
    let settings = Settings::from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut failed = false;
    let mut ran = order::Profile::default();
    for mode in settings.modes.clone() {
        match rt.block_on(one(&settings, mode)) {
            Ok(functions) => ran.add(functions),
            Err(e) => {
                eprintln!("drain benchmark ({}) failed: {e}", mode.name());
                failed = true;
            }
        }
    }
    if let Some(file) = &settings.symbol_order {
        failed |= !write_order(file, &ran, &settings.bin);
    }
    if failed {
        std::process::exit(1);
    }
}

/// One mode: run, print, and fail on a timeout or a refused delivery. Under callgrind,
/// the functions the daemon ran.
async fn one(s: &Settings, mode: Mode) -> Result<order::Profile, String> {
    let Some(f) = run::drain(s, mode).await? else {
        println!();
        println!("webhooks: not available (this binary rejects server.webhooks)");
        return Ok(order::Profile::default());
    };
    report::print(s, &f);
    if f.timed_out {
        return Err(format!(
            "not drained within {:?}; log tail:\n{}",
            s.timeout, f.log_tail
        ));
    }
    if let Some(d) = f.deliveries.as_ref().filter(|d| d.accepted < d.sent) {
        return Err(format!(
            "{} of {} webhook deliveries refused; log tail:\n{}",
            d.sent - d.accepted,
            d.sent,
            f.log_tail
        ));
    }
    Ok(f.functions)
}

/// Write the running daemon's functions to `file` and start-up's beside it
/// (`startup-order.txt`, see `order.rs`); whether it went well.
fn write_order(file: &std::path::Path, ran: &order::Profile, bin: &std::path::Path) -> bool {
    if ran.is_empty() {
        eprintln!("no callgrind output named a function of {}", bin.display());
        return false;
    }
    if ran.startup.is_empty() {
        eprintln!(
            "callgrind dumped no start-up part (no `{}` in {}?)",
            order::STARTED,
            bin.display()
        );
    }
    let startup_file = file.with_file_name("startup-order.txt");
    let (running, startup) = order::order_texts(ran);
    for (path, text) in [(file.to_path_buf(), running), (startup_file, startup)] {
        if let Err(e) = std::fs::write(&path, &text) {
            eprintln!("{}: {e}", path.display());
            return false;
        }
        println!(
            "{} functions written to {}",
            text.lines().count(),
            path.display()
        );
    }
    true
}
