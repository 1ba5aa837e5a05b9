//! Agents die with their node: a guard in each agent's process group kills the group
//! when the daemon dies, however it dies, or stops vouching for it (a paused node).
//!
//! A daemon that stops normally stops its agents (`process::supervise`), and one that
//! was killed stops them at its next start on the same host (`orchestrator::recovery`).
//! In a cluster the next start may be another node on another host, which cannot reach
//! them, and would run the ticket again beside an agent still running: so an agent must
//! not outlive its node's lease.
//!
//! The guard is a second process put into the agent's process group right after the
//! agent is spawned: the karajan binary itself, started as `karajan __agent-guard MS`
//! ([`guard_main`], dispatched by `main` before anything else). Its stdin is a pipe whose
//! only write end the daemon holds (close-on-exec, so no other child inherits it). Each
//! time the node renews its lease ([`beat`]) it writes to every guard how many
//! milliseconds its term remains valid by its own conservative clock (`cluster::term`:
//! the ttl from *before* the renewal was sent, so never later than the database's
//! expiry). The guard SIGKILLs its whole group (the agent, every helper still in it,
//! itself) when
//! - the pipe reaches EOF: the kernel closed it because the daemon exited, whatever the
//!   cause (SIGKILL, a crash); or
//! - the last validity it was told runs out: the daemon is alive but no longer renews
//!   (a SIGSTOP, a partition from the database). The group is then dead by the time the
//!   lease expires in the database, before any other node can take it and retry.
//!
//! Descendants that left the group (`setsid`) are out of its reach; the restart sweep by
//! `KARAJAN_RUN_ID` remains for them. On every normal end of a run the supervisor
//! dismisses the guard first (SIGKILL to the guard alone, then reaps it), before it
//! stops the group its own way (SIGTERM → grace → SIGKILL): the guard never shortens an
//! agent's grace. Why a process and not `prctl(PR_SET_PDEATHSIG)`: that needs code
//! between fork and exec (`unsafe`, which the crate forbids), reaches only the one
//! process it is set on, and does not see a paused parent.
//!
//! Guards are a process-wide choice, made by a cluster node at start
//! ([`die_with_daemon`]), like the subreaper role. A single daemon does not arm them:
//! its next start is on the same host, and its recovery stops what a killed daemon
//! left. When the karajan binary cannot be started again (replaced on disk), the guard
//! falls back to `sh -c 'read x; kill -9 0'`: death of the daemon only, no watchdog.

use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::{Pid, getpgrp};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The argument that makes the karajan binary a guard.
pub const GUARD_ARG: &str = "__agent-guard";

/// What armed guards are told: until when the node's term is valid.
struct Armed {
    /// Assumed before the first beat.
    within: Duration,
    beats: watch::Sender<Option<Instant>>,
}

static ARMED: OnceLock<Armed> = OnceLock::new();

/// From now on, every supervised process group of this process dies with it, and when
/// the validity of the last [`beat`] runs out (`within` from its spawn before any).
pub fn die_with_daemon(within: Duration) {
    let _ = ARMED.set(Armed {
        within,
        beats: watch::Sender::new(None),
    });
}

/// The node's term is valid until `until`: every guard is told.
pub fn beat(until: Instant) {
    if let Some(a) = ARMED.get() {
        a.beats.send_replace(Some(until));
    }
}

/// Milliseconds from now to `until` (given a term, else `within`).
fn remaining_ms(until: Option<Instant>, within: Duration) -> String {
    until
        .map_or(within, |u| u.saturating_duration_since(Instant::now()))
        .as_millis()
        .to_string()
}

/// A live guard in an agent's process group. Dismiss it before stopping the group.
pub struct DeathGuard {
    child: Child,
    pid: u32,
    feeder: Option<JoinHandle<()>>,
}

impl DeathGuard {
    /// Put a guard into the process group `pgid` (the agent's, just spawned); `None`
    /// unless [`die_with_daemon`] was called.
    pub fn spawn(pgid: u32) -> Option<DeathGuard> {
        let armed = ARMED.get()?;
        let group = i32::try_from(pgid).ok()?;
        let ms = remaining_ms(*armed.beats.borrow(), armed.within);
        let own = std::env::current_exe().map(|exe| {
            let mut cmd = Command::new(exe);
            cmd.args([GUARD_ARG, &ms]);
            cmd
        });
        let mut spawned = own.and_then(|mut cmd| spawn_in(&mut cmd, group));
        if let Err(e) = &spawned {
            tracing::warn!(pgid, error = %e, "cannot start karajan as this agent's guard; a shell guard stops it if karajan dies, not if it is paused");
            let mut cmd = Command::new("/bin/sh");
            cmd.args(["-c", "read x; kill -9 0"]);
            spawned = spawn_in(&mut cmd, group);
        }
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(pgid, error = %e, "cannot start the guard that stops this agent if karajan dies; going on without it");
                return None;
            }
        };
        let pid = child.id()?;
        let feeder = child.stdin.take().map(|mut stdin| {
            let mut beats = armed.beats.subscribe();
            let within = armed.within;
            tokio::spawn(async move {
                while beats.changed().await.is_ok() {
                    let line = format!("{}\n", remaining_ms(*beats.borrow_and_update(), within));
                    if stdin.write_all(line.as_bytes()).await.is_err() {
                        return;
                    }
                }
            })
        });
        Some(DeathGuard { child, pid, feeder })
    }

    /// The guard's pid (a member of the agent's group while it lives).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Stop the guard alone (the group is left as it is) and reap it.
    pub async fn dismiss(mut self) {
        if let Ok(raw) = i32::try_from(self.pid) {
            let _ = kill(Pid::from_raw(raw), Signal::SIGKILL);
        }
        let _ = self.child.wait().await;
        super::reap::forget_child(self.pid);
        if let Some(f) = self.feeder.take() {
            f.abort();
        }
    }
}

impl Drop for DeathGuard {
    fn drop(&mut self) {
        // Dropped undismissed: the supervising future was dropped, and its own guard
        // SIGKILLs the group (this one included). tokio reaps a dropped child.
        super::reap::forget_child(self.pid);
        if let Some(f) = self.feeder.take() {
            f.abort();
        }
    }
}

fn spawn_in(cmd: &mut Command, group: i32) -> std::io::Result<Child> {
    cmd.env_clear()
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(group);
    super::reap::spawn_registered(cmd)
}

/// `karajan __agent-guard MS`: the guard process (see the module doc). Returns only
/// when the arguments are not a guard's; otherwise kills its group and exits.
pub fn guard_main(args: &[String]) {
    let [_, arg, ms] = args else { return };
    if arg != GUARD_ARG {
        return;
    }
    let start = std::time::Instant::now();
    let mut deadline = start + Duration::from_millis(ms.parse().unwrap_or(0));
    // Each line: milliseconds the node's term remains valid; EOF: the node is gone.
    let (tx, rx) = std::sync::mpsc::channel::<Option<u64>>();
    std::thread::spawn(move || {
        let mut lines = std::io::BufRead::lines(std::io::stdin().lock());
        loop {
            let valid = match lines.next() {
                Some(Ok(line)) => line.trim().parse().ok(),
                _ => None,
            };
            if tx.send(valid).is_err() || valid.is_none() {
                return;
            }
        }
    });
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(Some(ms)) => deadline = std::time::Instant::now() + Duration::from_millis(ms),
            _ => break,
        }
    }
    let _ = killpg(getpgrp(), Signal::SIGKILL);
    std::process::exit(137);
}
