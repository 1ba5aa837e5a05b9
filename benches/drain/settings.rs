//! The drain's settings, from environment variables (a bare number argument sets the
//! ticket count), and which modes to run: polling only, webhooks, or both in turn.

use std::path::PathBuf;
use std::time::Duration;

/// How karajan learns of an approval in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `polling.interval` only: the approval shows at the next poll.
    Polling,
    /// `server.webhooks` on: the bench also posts a signed Linear `Issue` delivery
    /// for each approval, and polling is only the consistency check.
    Webhooks,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Polling => "polling",
            Mode::Webhooks => "webhooks",
        }
    }
}

/// What the drain is run with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub tickets: usize,
    pub concurrency: usize,
    /// `polling.interval`.
    pub poll: Duration,
    /// `server.webhooks.poll_interval` (the consistency poll) in webhook mode.
    pub consistency_poll: Duration,
    pub latency: (Duration, Duration),
    pub agent_secs: f64,
    /// Output lines the fake agent prints at once besides its two (`BENCH_AGENT_LINES`):
    /// a real CLI streams hundreds per run, in bursts.
    pub agent_lines: u32,
    pub timeout: Duration,
    /// After the drain, how long the idle daemon's tracker requests are counted.
    pub idle: Duration,
    /// Absolute: the daemon runs in the scratch folder.
    pub bin: PathBuf,
    pub modes: Vec<Mode>,
    pub keep: bool,
    /// `BENCH_SYMBOL_ORDER`: run the daemon under callgrind and write the functions it
    /// ran to this file, for the linker (see `order.rs`). Its CPU figures are then
    /// valgrind's, not the daemon's.
    pub symbol_order: Option<PathBuf>,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

impl Settings {
    pub fn from_env() -> Settings {
        let arg_tickets = std::env::args()
            .skip(1)
            .find_map(|a| a.parse::<usize>().ok());
        let tickets = arg_tickets.unwrap_or_else(|| env_or("BENCH_TICKETS", 50));
        let latency = std::env::var("BENCH_LATENCY_MS").unwrap_or_else(|_| "20-50".into());
        let (low, high) = latency.split_once('-').unwrap_or((&latency, &latency));
        let ms = |v: &str| Duration::from_millis(v.trim().parse().unwrap_or(0));
        let modes = if env_or("BENCH_BOTH", 0u8) == 1 {
            vec![Mode::Polling, Mode::Webhooks]
        } else if env_or("BENCH_WEBHOOKS", 0u8) == 1 {
            vec![Mode::Webhooks]
        } else {
            vec![Mode::Polling]
        };
        let bin = match std::env::var_os("BENCH_KARAJAN_BIN") {
            Some(bin) => PathBuf::from(bin),
            None => crate::product::build().unwrap_or_else(|e| {
                eprintln!("drain benchmark: {e}");
                std::process::exit(1)
            }),
        };
        Settings {
            tickets,
            concurrency: env_or("BENCH_CONCURRENCY", 10),
            poll: Duration::from_millis(env_or("BENCH_POLL_MS", 2000)),
            consistency_poll: Duration::from_millis(env_or("BENCH_CONSISTENCY_POLL_MS", 60_000)),
            latency: (ms(low), ms(high)),
            agent_secs: env_or("BENCH_AGENT_SECS", 0.0),
            agent_lines: env_or("BENCH_AGENT_LINES", 0),
            // A debug build drains 500 in about 90 s on the 2-core machine; the default
            // leaves room for a loaded machine at any size.
            timeout: Duration::from_secs(env_or("BENCH_TIMEOUT_SECS", 900.max(tickets as u64 * 2))),
            idle: Duration::from_secs_f64(env_or("BENCH_IDLE_SECS", 5.0)),
            // A relative path would be resolved from the scratch folder the daemon runs in.
            bin: std::path::absolute(&bin).unwrap_or(bin),
            modes,
            keep: env_or("BENCH_KEEP", 0u8) == 1,
            symbol_order: std::env::var_os("BENCH_SYMBOL_ORDER")
                .map(PathBuf::from)
                .map(|p| std::path::absolute(&p).unwrap_or(p)),
        }
    }
}
