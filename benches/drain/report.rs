//! Printing the drain's figures beside the goals of issue 11's table.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::Settings;
use crate::procstat::ProcStat;

/// Everything the drain measured.
pub struct Figures<'a> {
    pub settings: &'a Settings,
    pub wall: Duration,
    pub stat: ProcStat,
    pub by_op: BTreeMap<String, usize>,
    pub max_in_flight: usize,
    /// Seconds from the bench's approval to the next agent's start, per ticket.
    pub after_approval: Vec<f64>,
    /// Seconds from the first candidate read after the approval to that start.
    pub after_seen: Vec<f64>,
    pub webhooks: &'a str,
    pub timed_out: bool,
}

/// The `p`-th percentile (nearest rank) of `values`.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn secs(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3} s"))
}

fn row(name: &str, value: String, goal: &str) {
    println!("{name:<40} {value:>24}   {goal}");
}

pub fn print(f: &Figures) {
    let s = f.settings;
    let n = s.tickets as f64;
    let cpu = f.stat.user_secs + f.stat.system_secs;
    let total: usize = f.by_op.values().sum();
    println!();
    println!(
        "drain: {} tickets, implement → review (gate) → finalize → done; fake Linear latency {}–{} ms; \
         poll {} ms; max_concurrent {}; agent sleeps {} s",
        s.tickets,
        s.latency.0.as_millis(),
        s.latency.1.as_millis(),
        s.poll.as_millis(),
        s.concurrency,
        s.agent_secs
    );
    println!("binary: {}", s.bin.display());
    if f.timed_out {
        println!("TIMED OUT: the figures below are partial");
    }
    println!("{}", "-".repeat(100));
    row("figure", "measured".into(), "goal (issue 11)");
    row("wall time", format!("{:.2} s", f.wall.as_secs_f64()), "");
    row(
        "orchestrator CPU, user + system",
        format!(
            "{cpu:.2} s ({:.2} + {:.2})",
            f.stat.user_secs, f.stat.system_secs
        ),
        &format!("≤ {:.2} s for {} (0.35 s per 50)", 0.007 * n, s.tickets),
    );
    row(
        "orchestrator CPU per ticket",
        format!("{:.1} ms", cpu * 1000.0 / n),
        "≤ 7.0 ms",
    );
    row(
        "peak RSS (VmHWM)",
        format!("{:.1} MB", f.stat.peak_rss_kb as f64 / 1024.0),
        "≤ 10.5 MB",
    );
    row(
        "RSS / threads at the end",
        format!(
            "{:.1} MB / {}",
            f.stat.rss_kb as f64 / 1024.0,
            f.stat.threads
        ),
        "",
    );
    row(
        "tracker requests per ticket",
        format!("{:.2} ({total} in all)", total as f64 / n),
        "≤ 4.5",
    );
    for (op, count) in &f.by_op {
        row(
            &format!("  {op}"),
            format!("{:.2} ({count})", *count as f64 / n),
            "",
        );
    }
    row(
        "tracker requests in flight (max)",
        f.max_in_flight.to_string(),
        "as many as the rate limit allows",
    );
    row(
        "approval → next agent, p50 / p95",
        format!(
            "{} / {}",
            secs(percentile(&f.after_approval, 50.0)),
            secs(percentile(&f.after_approval, 95.0))
        ),
        "(includes waiting for the poll)",
    );
    row(
        "candidate read after it → agent, p50/p95",
        format!(
            "{} / {}",
            secs(percentile(&f.after_seen, 50.0)),
            secs(percentile(&f.after_seen, 95.0))
        ),
        "≤ 0.1 s after the tracker tells us",
    );
    println!("webhooks: {}", f.webhooks);
}
