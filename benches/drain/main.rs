//! The drain benchmark (issue 11 point 7): `cargo bench --bench drain`.
//!
//! It runs the real `karajan` binary (`karajan run`, a daemon) against the project's own
//! fake Linear (`tests/linear/fake.rs`) on 127.0.0.1 with a per-request latency, and a
//! fake agent (a `command` runner script), and carries N tickets through
//! `implement` (agent) → `review` (gate) → `finalize` (agent) → `done`. The bench plays
//! the human: it approves every ticket that reaches Human Review by moving it to Gate
//! Approved in the fake, as a reviewer would in Linear. When every ticket is Done it
//! reads the daemon's counters from `/proc`, stops it, and prints the figures of the
//! issue's table.
//!
//! Settings (environment variables; a bare number argument sets the ticket count):
//! - `BENCH_TICKETS` (50; 500 is the large run), `BENCH_CONCURRENCY` (10),
//!   `BENCH_POLL_MS` (2000), `BENCH_LATENCY_MS` (`20-50`), `BENCH_AGENT_SECS` (0),
//!   `BENCH_TIMEOUT_SECS` (900), `BENCH_KARAJAN_BIN` (another binary to measure, e.g.
//!   an older build; default: this package's), `BENCH_KEEP=1` keeps the scratch folder.
//! - `BENCH_WEBHOOKS=1`: deliver the approval as a webhook too. Only possible when the
//!   binary accepts `server.webhooks`; otherwise the bench says "not available".

#[path = "../../tests/linear"]
#[allow(dead_code)]
mod linear {
    pub mod fake;
}
mod procstat;
mod report;
mod setup;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use linear::fake::{FakeLinear, KEY};

/// What the drain is run with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub tickets: usize,
    pub concurrency: usize,
    pub poll: Duration,
    pub latency: (Duration, Duration),
    pub agent_secs: f64,
    pub timeout: Duration,
    pub bin: PathBuf,
    pub webhooks: bool,
    pub keep: bool,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

impl Settings {
    fn from_env() -> Settings {
        let arg_tickets = std::env::args()
            .skip(1)
            .find_map(|a| a.parse::<usize>().ok());
        let latency = std::env::var("BENCH_LATENCY_MS").unwrap_or_else(|_| "20-50".into());
        let (low, high) = latency.split_once('-').unwrap_or((&latency, &latency));
        let ms = |v: &str| Duration::from_millis(v.trim().parse().unwrap_or(0));
        Settings {
            tickets: arg_tickets.unwrap_or_else(|| env_or("BENCH_TICKETS", 50)),
            concurrency: env_or("BENCH_CONCURRENCY", 10),
            poll: Duration::from_millis(env_or("BENCH_POLL_MS", 2000)),
            latency: (ms(low), ms(high)),
            agent_secs: env_or("BENCH_AGENT_SECS", 0.0),
            timeout: Duration::from_secs(env_or("BENCH_TIMEOUT_SECS", 900)),
            bin: std::env::var_os("BENCH_KARAJAN_BIN").map_or_else(
                || PathBuf::from(env!("CARGO_BIN_EXE_karajan")),
                PathBuf::from,
            ),
            webhooks: env_or("BENCH_WEBHOOKS", 0u8) == 1,
            keep: env_or("BENCH_KEEP", 0u8) == 1,
        }
    }
}

fn main() {
    let settings = Settings::from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(drain(settings)) {
        eprintln!("drain benchmark failed: {e}");
        std::process::exit(1);
    }
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// One approval the bench made as the human.
struct Approval {
    at: Instant,
    at_ns: u128,
}

/// Whether this binary knows `server.webhooks` (its own `check --offline` says).
fn webhooks_known(bin: &Path, dir: &Path) -> bool {
    let Ok(path) = setup::with_webhooks(dir) else {
        return false;
    };
    Command::new(bin)
        .args(["check", "--offline"])
        .arg(&path)
        .current_dir(dir)
        .env("LINEAR_API_KEY", KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

async fn drain(s: Settings) -> Result<(), String> {
    let fake = FakeLinear::start().await;
    {
        let mut w = fake.world();
        w.latency = s.latency;
        // A budget the drain cannot exhaust: the bench measures karajan, not a pause.
        w.requests_remaining = u64::MAX / 2;
        for i in 1..=s.tickets {
            w.add_issue("Todo", &format!("Bench ticket {i}"));
        }
    }
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = scratch.path().to_path_buf();
    setup::write(&dir, &fake.url, &s).map_err(|e| format!("scratch setup: {e}"))?;
    let webhooks = if webhooks_known(&s.bin, &dir) {
        "accepted by this binary's config, but this bench does not send deliveries yet"
    } else {
        "not available (this binary rejects server.webhooks)"
    };
    let log = dir.join("karajan.log");
    let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = Command::new(&s.bin)
        .arg("run")
        .arg(setup::workflow_path(&dir))
        .current_dir(&dir)
        .env("LINEAR_API_KEY", KEY)
        .env("KARAJAN_LOG", "warn")
        .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", s.bin.display()))?;
    let pid = child.id();

    let mut approvals: HashMap<String, Approval> = HashMap::new();
    let mut stat = None;
    let mut timed_out = false;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("karajan exited early ({status}):\n{}", tail(&log)));
        }
        let (review, done) = {
            let w = fake.world();
            let mut review = vec![];
            let mut done = 0;
            for i in &w.issues {
                match w.column_of(&i.identifier).as_str() {
                    "Human Review" if !approvals.contains_key(&i.identifier) => {
                        review.push(i.identifier.clone());
                    }
                    "Done" => done += 1,
                    _ => {}
                }
            }
            (review, done)
        };
        if !review.is_empty() {
            let mut w = fake.world();
            for id in review {
                w.move_issue(&id, "Gate Approved");
                let approval = Approval {
                    at: Instant::now(),
                    at_ns: unix_ns(),
                };
                approvals.insert(id, approval);
            }
        }
        stat = procstat::read(pid).or(stat);
        if done == s.tickets {
            break;
        }
        if started.elapsed() > s.timeout {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let wall = started.elapsed();
    // The counters at the moment the last ticket reached Done (shutdown excluded).
    let stat = procstat::read(pid).or(stat).unwrap_or_default();
    let (by_op, arrivals, max_in_flight) = {
        let w = fake.world();
        let mut by_op: BTreeMap<String, usize> = BTreeMap::new();
        for r in &w.requests {
            *by_op.entry(r.operation.clone()).or_default() += 1;
        }
        let lists: Vec<Instant> = w
            .requests
            .iter()
            .filter(|r| {
                // A read of the watched columns (not a refresh by number, not the
                // terminal sweep): the one that can tell karajan about an approval.
                r.operation == "ListIssues"
                    && r.variables["filter"]["state"]
                        .to_string()
                        .contains("\"Gate Approved\"")
            })
            .map(|r| r.received)
            .collect();
        (by_op, lists, w.max_in_flight)
    };
    stop(&mut child, pid);

    let mut after_approval = vec![];
    let mut after_seen = vec![];
    for (id, a) in &approvals {
        let file = setup::starts_dir(&dir).join(format!("{id}.finalize"));
        let Some(start_ns) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| t.trim().parse::<u128>().ok())
        else {
            continue;
        };
        let secs = |ns: u128| ns as f64 / 1e9;
        after_approval.push(secs(start_ns.saturating_sub(a.at_ns)));
        // "The tracker tells us": the first candidate read to arrive after the move
        // (its answer carries the approval; the answer's own latency is included).
        if let Some(seen) = arrivals.iter().find(|t| **t >= a.at) {
            let seen_ns = a.at_ns + seen.duration_since(a.at).as_nanos();
            after_seen.push(secs(start_ns.saturating_sub(seen_ns)));
        }
    }
    report::print(&report::Figures {
        settings: &s,
        wall,
        stat,
        by_op,
        max_in_flight,
        after_approval,
        after_seen,
        webhooks,
        timed_out,
    });
    if s.keep {
        let kept = scratch.keep();
        println!("scratch folder kept: {}", kept.display());
    }
    if timed_out {
        return Err(format!(
            "not drained within {:?}; log tail:\n{}",
            s.timeout,
            tail(&log)
        ));
    }
    Ok(())
}

/// SIGTERM, then SIGKILL if the daemon has not stopped within 30 s.
fn stop(child: &mut std::process::Child, pid: u32) {
    let Ok(raw) = i32::try_from(pid) else { return };
    let pid = nix::unistd::Pid::from_raw(raw);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
