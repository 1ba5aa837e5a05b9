//! A watch on the daemon's one runtime thread (see `main.rs`: a current-thread runtime).
//! Every task — the owner loop, the web server, run supervision — shares that thread,
//! so one blocking call on it (a synchronous `fsync`, a lock held across I/O) stops
//! them all, and nothing on the thread can say so. A plain OS thread can: the runtime
//! bumps a heartbeat twenty times per stall limit; when it has not moved for [`STALL`], this
//! thread logs a warning with what the kernel says the runtime thread is doing (its
//! `wchan` and current system call, from `/proc`), once per stall, and says when the
//! thread runs again. It only reads; it never touches the runtime's state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long the runtime may go without running its heartbeat before it is reported.
const STALL: Duration = Duration::from_secs(5);

/// Start the watch; call it on the runtime's thread (it names that thread).
pub fn start() {
    watch(STALL, |report| match report {
        Report::Stalled {
            silent_ms,
            wchan,
            syscall,
        } => tracing::warn!(
            silent_ms,
            %wchan,
            %syscall,
            "the runtime thread has not run for a while: every task waits behind it (a blocking call on it?)"
        ),
        Report::Runs => tracing::warn!("the runtime thread runs again"),
    });
}

/// What the watch says.
#[derive(Debug, Clone, PartialEq)]
enum Report {
    Stalled {
        silent_ms: u64,
        wchan: String,
        syscall: String,
    },
    Runs,
}

fn watch(stall: Duration, report: impl Fn(Report) + Send + 'static) {
    let tid = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let origin = Instant::now();
    let beat = Arc::new(AtomicU64::new(0));
    let ms = move || u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX);
    let limit = u64::try_from(stall.as_millis()).unwrap_or(u64::MAX);
    let every = stall / 20;
    {
        let beat = beat.clone();
        tokio::spawn(async move {
            loop {
                beat.store(ms(), Ordering::Relaxed);
                tokio::time::sleep(every).await;
            }
        });
    }
    let spawned = std::thread::Builder::new()
        .name("karajan-stall-watch".into())
        .spawn(move || {
            let mut reported: Option<u64> = None;
            loop {
                std::thread::sleep(every);
                let last = beat.load(Ordering::Relaxed);
                let silent_ms = ms().saturating_sub(last);
                match reported {
                    Some(at) if at == last => {}
                    Some(_) => {
                        report(Report::Runs);
                        reported = None;
                    }
                    None if silent_ms >= limit => {
                        let (wchan, syscall) = tid.as_deref().map_or_else(
                            || ("?".to_string(), "?".to_string()),
                            |t| (read(t, "wchan"), read(t, "syscall")),
                        );
                        report(Report::Stalled {
                            silent_ms,
                            wchan,
                            syscall,
                        });
                        reported = Some(last);
                    }
                    None => {}
                }
            }
        });
    if let Err(e) = spawned {
        tracing::debug!(error = %e, "the runtime stall watch did not start");
    }
}

fn read(tid: &str, what: &str) -> String {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/{what}"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blocking sleep on the runtime's thread is reported as a stall, with the
    /// system call the thread sits in, then its recovery; a runtime that runs is not.
    #[tokio::test]
    async fn a_blocked_runtime_thread_is_reported_and_its_recovery_too() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        watch(Duration::from_millis(200), move |r| {
            sink.lock().expect("lock").push(r);
        });
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(seen.lock().expect("lock").is_empty(), "a running runtime");
        std::thread::sleep(Duration::from_millis(700)); // blocks the runtime's thread
        tokio::time::sleep(Duration::from_millis(300)).await;
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen.len(), 2, "{seen:?}");
        let Report::Stalled {
            silent_ms, syscall, ..
        } = &seen[0]
        else {
            panic!("{seen:?}");
        };
        assert!(*silent_ms >= 200, "{seen:?}");
        // nanosleep (35) or clock_nanosleep (230) on x86_64: the call it is blocked in.
        assert!(syscall != "?", "{seen:?}");
        assert_eq!(seen[1], Report::Runs);
    }
}
