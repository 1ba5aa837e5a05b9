//! Printing the drain's figures beside the goals of issue 11's table.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::procstat::ProcStat;
use crate::settings::{Mode, Settings};

/// The tracker requests of the idle daemon after the drain.
pub struct Idle {
    pub span: Duration,
    /// Requests in the settling second between the last Done and the idle count.
    pub settle_requests: usize,
    pub by_op: BTreeMap<String, usize>,
}

/// The webhook deliveries the bench sent (one per approval).
#[derive(Default)]
pub struct Deliveries {
    pub sent: usize,
    /// Answered 200 naming the ticket.
    pub accepted: usize,
    pub first_error: Option<String>,
}

/// Everything one drain measured.
pub struct Figures {
    pub mode: Mode,
    pub wall: Duration,
    pub stat: ProcStat,
    /// The share of the machine's CPU time the hypervisor took during the drain.
    pub stolen: Option<f64>,
    pub by_op: BTreeMap<String, usize>,
    pub max_in_flight: usize,
    /// Seconds from the bench's approval to the next agent's start, per ticket.
    pub after_approval: Vec<f64>,
    /// Seconds from the first tracker answer or delivery showing the approval to that
    /// start.
    pub after_seen: Vec<f64>,
    pub idle: Option<Idle>,
    /// Webhook mode only.
    pub deliveries: Option<Deliveries>,
    pub timed_out: bool,
    /// The daemon's log tail, for a failure message.
    pub log_tail: String,
    /// Under callgrind (`BENCH_SYMBOL_ORDER`): the instructions of each function of the
    /// binary that ran.
    pub functions: crate::order::Profile,
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
    println!("{name:<40} {value:>32}   {goal}");
}

pub fn print(s: &Settings, f: &Figures) {
    let n = s.tickets as f64;
    let cpu = f.stat.user_secs + f.stat.system_secs;
    let total: usize = f.by_op.values().sum();
    let learns = match f.mode {
        Mode::Polling => format!("poll {} ms", s.poll.as_millis()),
        Mode::Webhooks => format!(
            "a signed Linear delivery per approval, consistency poll {} ms",
            s.consistency_poll.as_millis()
        ),
    };
    println!();
    println!(
        "drain, mode {}: {} tickets, implement → review (gate) → finalize → done; fake Linear latency {}–{} ms; \
         {learns}; max_concurrent {}; agent sleeps {} s, prints {} lines more",
        f.mode.name(),
        s.tickets,
        s.latency.0.as_millis(),
        s.latency.1.as_millis(),
        s.concurrency,
        s.agent_secs,
        s.agent_lines
    );
    println!("binary: {}", s.bin.display());
    if let Some((found, listed)) = crate::layout::of_binary(&s.bin) {
        println!(
            "code layout: {found} of the {listed} names in link/ are the binary's ({:.0} %){}",
            found as f64 * 100.0 / listed.max(1) as f64,
            if crate::layout::is_stale(found, listed) {
                "; stale, so its code is not laid out lean: regenerate link/symbol-order.txt (link/README.md)"
            } else {
                ""
            }
        );
    }
    if f.timed_out {
        println!("TIMED OUT: the figures below are partial");
    }
    println!("{}", "-".repeat(108));
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
        "machine CPU stolen during the drain",
        f.stolen
            .map_or("n/a".into(), |x| format!("{:.1} %", x * 100.0)),
        "(steal in /proc/stat; much of it: not comparable)",
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
    let approval_note = match f.mode {
        Mode::Polling => "(includes waiting for the poll)",
        Mode::Webhooks => "(delivery, refresh, dispatch)",
    };
    row(
        "approval → next agent, p50 / p95 / max",
        p50_p95(&f.after_approval),
        approval_note,
    );
    row(
        "answer or delivery showing it → agent, p50/p95/max",
        p50_p95(&f.after_seen),
        "≤ 0.1 s after the tracker tells us",
    );
    if let Some(d) = &f.deliveries {
        row(
            "webhook deliveries accepted",
            format!("{} of {}", d.accepted, d.sent),
            "all",
        );
        if let Some(e) = &d.first_error {
            println!("first refused delivery: {e}");
        }
    }
    if let Some(idle) = &f.idle {
        let total: usize = idle.by_op.values().sum();
        let ops: Vec<String> = idle
            .by_op
            .iter()
            .map(|(op, n)| format!("{op} {n}"))
            .collect();
        row(
            &format!("tracker requests idle, {:.0} s", idle.span.as_secs_f64()),
            total.to_string(),
            "none between consistency polls",
        );
        if !ops.is_empty() {
            println!("  idle requests: {}", ops.join(", "));
        }
        if idle.settle_requests > 0 {
            println!(
                "  ({} more in the settling second after the last Done, not counted)",
                idle.settle_requests
            );
        }
    }
}

/// The max shows an approval that waited for a later poll (with webhooks: the
/// consistency poll).
fn p50_p95(values: &[f64]) -> String {
    format!(
        "{} / {} / {} (n={})",
        secs(percentile(values, 50.0)),
        secs(percentile(values, 95.0)),
        secs(percentile(values, 100.0)),
        values.len()
    )
}
