//! The machine's own CPU counters (`/proc/stat`). On a virtual machine the hypervisor
//! may run other guests on the cores, and the time they take ("steal") slows the daemon
//! without being its own: the report prints the share stolen during the drain beside
//! the CPU figures, so a run with much of it can be set aside. It is not the only
//! source of spread: on 2026-12-06 one binary's drain of 50 took 0.6 to 2.0 s of CPU
//! with under 1 % stolen.

/// The machine's CPU time so far, in clock ticks: `(stolen, all)`, from the `cpu` line
/// of `/proc/stat` (`None` where it cannot be read).
pub fn ticks() -> Option<(u64, u64)> {
    ticks_of(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// [`ticks`] from the text of `/proc/stat`: the `cpu` line's eighth value is
/// steal; guest time (the ninth and tenth) is already counted in user time.
pub fn ticks_of(proc_stat: &str) -> Option<(u64, u64)> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let stolen = *values.get(7)?;
    let all = values.iter().take(8).sum();
    Some((stolen, all))
}

/// The share of the machine's CPU time stolen between two [`ticks`] readings.
pub fn stolen_share(before: (u64, u64), after: (u64, u64)) -> Option<f64> {
    let all = after.1.checked_sub(before.1)?;
    let stolen = after.0.checked_sub(before.0)?;
    (all > 0).then(|| stolen as f64 / all as f64)
}
