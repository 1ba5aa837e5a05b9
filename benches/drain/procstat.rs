//! What the kernel knows about the orchestrator process: CPU time (user and system,
//! from `/proc/<pid>/stat`), peak resident memory (`VmHWM`) and thread count (from
//! `/proc/<pid>/status`). Read while the process is alive, just before it is stopped.

use std::process::Command;

/// One reading of a process's counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStat {
    pub user_secs: f64,
    pub system_secs: f64,
    pub peak_rss_kb: u64,
    pub rss_kb: u64,
    pub threads: u64,
}

/// Clock ticks per second for `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// `None` when the process is gone.
pub fn read(pid: u32) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: fields after it start past ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 14 (utime) and 15 (stime) of the man page are 12 and 13 after ')'.
    let ticks = clock_ticks();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(ProcStat {
        user_secs: utime / ticks,
        system_secs: stime / ticks,
        peak_rss_kb: field("VmHWM:"),
        rss_kb: field("VmRSS:"),
        threads: field("Threads:"),
    })
}
