//! Stopping every process of a run, wherever it went: by its `KARAJAN_RUN_ID`.
//!
//! Stopping an agent's process group is not enough: a descendant that called `setsid`
//! (a daemonizing helper, Node's `detached: true`) left the group, and a daemon killed
//! between an agent's spawn and the moment its pid was recorded leaves a group nobody
//! knows. But every agent (and hook) process of a run carries `KARAJAN_RUN_ID=<run>` in
//! its environment, inherited by its descendants, and `/proc/<pid>/environ` shows it.
//! So [`stop_run`] finds every live process carrying the run's id and stops it
//! (SIGTERM → grace → SIGKILL), on every exit path of a run (see `process::supervise`)
//! and at restart for every unfinished run (see `orchestrator::recovery`), whether or
//! not its pid was recorded. Run ids are unique, so nothing else is ever matched; a
//! process that scrubbed its own environment is out of reach (the group stop still
//! applies to it while it stays in the group).
//!
//! On Linux the daemon is also a child subreaper ([`become_subreaper`]): an orphaned
//! descendant is re-parented to karajan instead of init, so it stays in karajan's tree
//! and karajan reaps it once stopped ([`reap`]), even under a PID 1 that never reaps.
//! Only processes known to be adopted agent descendants are reaped (never a pid some
//! other part of the program waits for): those seen carrying a run id, and, in a
//! subreaper, any zombie child that is not one of the children karajan spawned itself
//! (every child is spawned through [`spawn_registered`], which records it until its
//! supervisor has reaped it). [`reap_orphans`] runs on every `SIGCHLD` the daemon
//! receives ([`spawn_orphan_reaper`]), and after every supervised process where nothing
//! watches `SIGCHLD` ([`reap_orphans_after_run`]), so adopted descendants that exit by
//! themselves, or that die a moment after a stop stopped looking at them, do not pile
//! up as zombies. (A process that is exiting has already released its memory, so
//! `/proc/<pid>/environ` reads empty before the process is a zombie: a stop that looks
//! once more cannot always see it dead yet. `SIGCHLD` comes only once it is a zombie,
//! so reaping on the signal closes that window.) It asks the kernel first for the first
//! zombie child (`waitid` with `WNOWAIT`, which reaps nothing): when there is none, or
//! it is an adopted one (reaped, then the kernel is asked again), nothing is listed; only
//! a zombie of karajan's own, not yet reaped by its supervisor, hides what may be behind
//! it, and then the children are listed as below.
//!
//! # Where a full `/proc` scan is needed, and where it is not
//!
//! A full scan (every `/proc/<pid>`) costs a few hundred reads, so it is kept to where
//! nothing else works: [`run_processes`] and [`stop_run`], the crash-recovery sweep
//! for a run whose processes belong to a previous daemon (not our descendants). After a
//! supervised run ends, its processes are our descendants: in a subreaper every
//! descendant that outlived its parent is re-parented to karajan, so the run's
//! survivors are the descendants of the run's leader (while it lives) and of the
//! children karajan adopted, which the per-thread `children` files of `/proc` list
//! ([`run_descendants`], [`stop_descendants`]). Normally karajan has adopted nobody
//! and nothing is read beyond its own `/proc/self/task/*/children`. Without the
//! subreaper role or those files, the full scan is the fallback.
//! [`full_proc_scans`] counts full scans, so tests can prove the normal path makes none.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::time::{Instant, sleep};

/// How often the processes are re-scanned while waiting for them to die.
const POLL: Duration = Duration::from_millis(20);
/// Bound on waiting after SIGKILL (uninterruptible sleep).
const AFTER_KILL_LIMIT: Duration = Duration::from_secs(5);
/// How long a stop waits for the processes it ended to become reapable zombies.
const SETTLE: Duration = Duration::from_secs(2);
/// How long the stop after a supervised run looks again while an adopted process's
/// environment reads empty (see [`stop_descendants`]).
const UNDECIDED_WAIT: Duration = Duration::from_secs(1);

/// Whether this process became a subreaper (only then are unknown zombie children
/// reaped: a test binary spawns children of its own that it waits for).
static SUBREAPER: AtomicBool = AtomicBool::new(false);

/// Whether [`spawn_orphan_reaper`] watches `SIGCHLD`: every adopted zombie is then
/// reaped on its signal, so a supervisor need not look for them after its run.
static REAPING_ON_SIGNAL: AtomicBool = AtomicBool::new(false);

/// Full `/proc` scans made so far (see the module doc).
static FULL_SCANS: AtomicU64 = AtomicU64::new(0);

/// How many full `/proc` scans this process has made (diagnostics and tests: the
/// normal end of a supervised run makes none in a subreaper).
pub fn full_proc_scans() -> u64 {
    FULL_SCANS.load(Ordering::Relaxed)
}

/// The children karajan spawned and a supervisor will reap (see the module doc).
static CHILDREN: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

/// Make this process a child subreaper (Linux): orphaned descendants are re-parented
/// to it rather than to init. Failure is logged, not fatal (the `KARAJAN_RUN_ID` sweep
/// still finds them).
pub fn become_subreaper() {
    #[cfg(target_os = "linux")]
    match nix::sys::prctl::set_child_subreaper(true) {
        Ok(()) => SUBREAPER.store(true, Ordering::SeqCst),
        Err(e) => {
            tracing::warn!(error = %e, "could not become a child subreaper; escaped agent descendants are re-parented to init")
        }
    }
}

/// In a subreaper, reap adopted zombies whenever a child changes state (`SIGCHLD`),
/// for as long as the runtime lives. Call once, after [`become_subreaper`], inside a
/// tokio runtime. Signals coalesce, but every delivery wakes the task at least once
/// and [`reap_orphans`] reaps every adopted zombie there is, so none is missed.
pub fn spawn_orphan_reaper() {
    if !SUBREAPER.load(Ordering::SeqCst) {
        return;
    }
    use tokio::signal::unix::{SignalKind, signal};
    let mut chld = match signal(SignalKind::child()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGCHLD; adopted descendants are reaped only after runs");
            return;
        }
    };
    REAPING_ON_SIGNAL.store(true, Ordering::SeqCst);
    tokio::spawn(async move {
        while chld.recv().await.is_some() {
            reap_orphans();
        }
        REAPING_ON_SIGNAL.store(false, Ordering::SeqCst);
    });
}

/// After a supervised process: reap the adopted zombies, unless every `SIGCHLD` already
/// does ([`spawn_orphan_reaper`]; an adopted descendant that ended was a zombie child
/// of ours, which sent one).
pub fn reap_orphans_after_run() {
    if !REAPING_ON_SIGNAL.load(Ordering::SeqCst) {
        reap_orphans();
    }
}

fn children() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
    CHILDREN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Spawn `cmd` and record the child as karajan's own until [`forget_child`]: the
/// registry lock is held across the spawn, so [`reap_orphans`] can never reap a child
/// whose supervisor is about to wait for it.
pub fn spawn_registered(
    cmd: &mut tokio::process::Command,
) -> std::io::Result<tokio::process::Child> {
    let mut own = children();
    let child = cmd.spawn()?;
    if let Some(pid) = child.id() {
        own.insert(pid);
    }
    Ok(child)
}

/// The supervisor has reaped `pid`.
pub fn forget_child(pid: u32) {
    children().remove(&pid);
}

/// In a subreaper: reap every zombie child that karajan did not spawn itself (adopted
/// descendants of agents that exited by themselves).
pub fn reap_orphans() {
    if !SUBREAPER.load(Ordering::SeqCst) {
        return;
    }
    // Most signals come from a child of our own that its supervisor reaps, or from
    // one already reaped: the kernel names the first zombie child without a listing
    // of our threads' `children` files (a few dozen reads on every `SIGCHLD`).
    for _ in 0..64 {
        match first_zombie_child() {
            Some(None) => return,
            Some(Some(pid)) if !children().contains(&pid) => reap_zombie(pid),
            // One of ours hides the others behind it; or the kernel cannot say.
            _ => break,
        }
    }
    // Our children, from our own `children` files; every pid only where unavailable.
    let pids: Vec<u32> = match own_children() {
        Some(pids) => pids,
        None => match proc_pids() {
            Some(pids) => pids.collect(),
            None => return,
        },
    };
    let me = std::process::id();
    let own = children();
    for pid in pids {
        if own.contains(&pid) {
            continue;
        }
        if stat(pid).is_some_and(|(ppid, state)| ppid == me && is_dead(state)) {
            reap_zombie(pid);
        }
    }
}

/// The first zombie child the kernel reports, left unreaped (`waitid` with `WNOWAIT`):
/// `Some(None)` when no child of ours has ended, `None` when it cannot tell.
fn first_zombie_child() -> Option<Option<u32>> {
    use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    match waitid(Id::All, flags) {
        Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => Some(None),
        Ok(status) => status
            .pid()
            .and_then(|p| u32::try_from(p.as_raw()).ok())
            .map(Some),
        Err(_) => None,
    }
}

/// Reap `pid`, a zombie child that no supervisor waits for.
fn reap_zombie(pid: u32) {
    if let Ok(raw) = i32::try_from(pid) {
        let _ = nix::sys::wait::waitpid(
            Pid::from_raw(raw),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
    }
}

/// Every pid listed in `/proc` (a snapshot: some may have exited since); `None` when
/// `/proc` cannot be read.
pub(crate) fn proc_pids() -> Option<impl Iterator<Item = u32>> {
    FULL_SCANS.fetch_add(1, Ordering::Relaxed);
    let dir = std::fs::read_dir("/proc").ok()?;
    Some(
        dir.flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse().ok()),
    )
}

/// `(ppid, state)` from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(u32, char)> {
    stat_full(pid).map(|(ppid, state, _)| (ppid, state))
}

/// `(ppid, state, pgrp)` from `/proc/<pid>/stat`.
fn stat_full(pid: u32) -> Option<(u32, char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((ppid, state, pgrp))
}

fn is_dead(state: char) -> bool {
    state == 'Z' || state == 'X'
}

/// The children of `pid` (of every one of its threads), from
/// `/proc/<pid>/task/<tid>/children`; `None` when those files cannot be read (the
/// process is gone, or the kernel lacks `CONFIG_PROC_CHILDREN`).
fn children_of(pid: &str) -> Option<Vec<u32>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let tids: Vec<String> = tasks
        .flatten()
        .map(|t| t.file_name().to_string_lossy().into_owned())
        .collect();
    children_of_tasks(pid, &tids)
}

/// The children of the threads `tids` of `pid` (see [`children_of`]).
fn children_of_tasks(pid: &str, tids: &[String]) -> Option<Vec<u32>> {
    let mut found = vec![];
    let mut read_any = false;
    for tid in tids {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/children")) else {
            continue; // a thread that ended meanwhile, or no such file at all
        };
        read_any = true;
        found.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    read_any.then_some(found)
}

/// This process's children; `None` when the `children` files are unavailable.
///
/// Each child is listed under one thread, and a thread that ends hands its children
/// (adopted orphans included) to another thread of the process, which may be one whose
/// file was already read: a blocking-pool thread ending during the read would hide an
/// adopted descendant from a stop. So the threads are listed before and after the read,
/// and the read is made again while they differ (a few times at most). The list taken
/// after one read is the list the next read starts from: two listings for a read that
/// no thread's end disturbed.
fn own_children() -> Option<Vec<u32>> {
    let mut before = task_ids();
    for _ in 0..4 {
        let found = children_of_tasks("self", &before);
        let after = task_ids();
        if after == before {
            return found;
        }
        before = after;
    }
    children_of("self")
}

/// This process's thread ids, sorted.
fn task_ids() -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The processes that can still belong to a run that karajan supervised, without a
/// full scan (see the module doc): the descendants of `leader` (when it is still our
/// child) and of every child karajan adopted, roots included. `None` when this cannot
/// be known (not a subreaper, or no `children` files).
fn adopted_tree(leader: Option<u32>) -> Option<Vec<u32>> {
    if !SUBREAPER.load(Ordering::SeqCst) {
        return None;
    }
    let mine = own_children()?;
    let mut stack: Vec<u32> = {
        let own = children();
        mine.iter()
            .copied()
            .filter(|pid| !own.contains(pid) || Some(*pid) == leader)
            .collect()
    };
    let mut seen = BTreeSet::new();
    while let Some(pid) = stack.pop() {
        if seen.insert(pid) {
            stack.extend(children_of(&pid.to_string()).unwrap_or_default());
        }
    }
    Some(seen.into_iter().collect())
}

/// Whether `pid` is live (not a zombie) and its environment holds `marker`.
fn carries(pid: u32, marker: &[u8]) -> bool {
    live_environ(pid).is_some_and(|env| holds(&env, marker))
}

/// The environment of `pid` while it is live (not a zombie); `None` when it is gone, a
/// zombie, or not ours to read. Empty inside `execve` (see [`stop_descendants`]).
fn live_environ(pid: u32) -> Option<Vec<u8>> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    stat(pid)
        .is_some_and(|(_, state)| !is_dead(state))
        .then_some(env)
}

fn holds(env: &[u8], marker: &[u8]) -> bool {
    env.split(|b| *b == 0).any(|kv| kv == marker)
}

/// Live (non-zombie) processes whose environment carries `KARAJAN_RUN_ID=<run_id>`,
/// this process excluded, from a full `/proc` scan. Empty when `/proc` cannot be read.
pub fn run_processes(run_id: &str) -> Vec<u32> {
    let Some(pids) = proc_pids() else {
        return vec![];
    };
    let marker = format!("KARAJAN_RUN_ID={run_id}");
    let me = std::process::id();
    pids.filter(|&pid| pid != me && carries(pid, marker.as_bytes()))
        .collect()
}

/// The same as [`run_processes`] for a run this process supervised (whose leader, if
/// still our child, is `leader`): only our descendants are looked at when that is
/// possible, a full scan otherwise (see the module doc).
pub fn run_descendants(run_id: &str, leader: Option<u32>) -> Vec<u32> {
    run_survivors(run_id, leader).carriers
}

/// What [`run_descendants`] found, and whether it proved that nothing of the run is
/// left anywhere.
pub struct Survivors {
    /// Live processes carrying the run's id.
    pub carriers: Vec<u32>,
    /// karajan had no descendant but the children it spawned itself (none adopted,
    /// `leader` not among them): once the run's leader is reaped, every process of
    /// the run that outlived it was adopted by karajan (a subreaper), so none is left,
    /// and none can appear later. The stop after the run need not look again.
    pub none_left: bool,
}

/// [`run_descendants`], telling also whether nothing of the run can be left.
pub fn run_survivors(run_id: &str, leader: Option<u32>) -> Survivors {
    match look(run_id, leader) {
        Some(seen) => Survivors {
            none_left: seen.tree_empty,
            carriers: seen.carriers,
        },
        None => Survivors {
            carriers: run_processes(run_id),
            none_left: false,
        },
    }
}

/// One look at our descendants for a run (see [`run_descendants`]).
struct Look {
    /// Live processes carrying the run's id.
    carriers: Vec<u32>,
    /// Whether a live one read without any environment (see [`stop_descendants`]).
    undecided: bool,
    /// Whether there was no descendant to look at (see [`Survivors::none_left`]).
    tree_empty: bool,
}

/// `None` when the descendants cannot be known (see [`adopted_tree`]).
fn look(run_id: &str, leader: Option<u32>) -> Option<Look> {
    let tree = adopted_tree(leader)?;
    let marker = format!("KARAJAN_RUN_ID={run_id}");
    let mut seen = Look {
        carriers: vec![],
        undecided: false,
        tree_empty: tree.is_empty(),
    };
    for pid in tree {
        match live_environ(pid) {
            Some(env) if env.is_empty() => seen.undecided = true,
            Some(env) if holds(&env, marker.as_bytes()) => seen.carriers.push(pid),
            _ => {}
        }
    }
    Some(seen)
}

fn signal(pid: u32, sig: Signal) {
    let Ok(raw) = i32::try_from(pid) else { return };
    if raw <= 1 {
        return;
    }
    if let Err(e) = kill(Pid::from_raw(raw), sig) {
        if e != nix::errno::Errno::ESRCH {
            tracing::warn!(pid, signal = %sig, error = %e, "could not signal a run's process");
        }
    }
}

/// SIGTERM those of `pids` (the run's processes found a moment ago) that are not in
/// process group `pgid` (which its supervisor signals as a whole), so that descendants
/// that left the group get the same grace as the group.
pub fn terminate_outside(pids: &[u32], pgid: u32) {
    for &pid in pids {
        if stat_full(pid).is_some_and(|(_, _, pgrp)| pgrp != pgid) {
            signal(pid, Signal::SIGTERM);
        }
    }
}

/// SIGKILL every live process of `run_id` (a run this process supervised, led by
/// `leader`) now, without waiting (for drop guards).
pub fn kill_run_now(run_id: &str, leader: Option<u32>) {
    for pid in run_descendants(run_id, leader) {
        signal(pid, Signal::SIGKILL);
    }
}

/// Stop every process carrying `KARAJAN_RUN_ID=<run_id>`: SIGTERM, up to `grace` for
/// them to exit (newcomers forked meanwhile are signalled too), then SIGKILL. Returns
/// the pids it signalled (empty when there was nothing to stop); those adopted by this
/// process are reaped.
pub async fn stop_run(run_id: &str, grace: Duration) -> Vec<u32> {
    stop_found(run_id, grace, || run_processes(run_id)).await
}

/// [`stop_run`] for a run this process supervised, once its leader is reaped: only
/// our descendants are looked at when that is possible (see the module doc).
///
/// `/proc/<pid>/environ` reads empty while a process is inside `execve` (its new memory
/// is in place before its environment is), so a descendant caught there, between a
/// `setsid` and the `exec` of what it runs, carries no run id at that moment, and is
/// outside the group the group stop reached. While an adopted live process reads so,
/// and nothing carries the run's id, the stop looks again (up to [`UNDECIDED_WAIT`])
/// before deciding that nothing of the run is left.
pub async fn stop_descendants(run_id: &str, grace: Duration) -> Vec<u32> {
    let find = || run_descendants(run_id, None);
    // Only adopted processes are judged undecided: a full scan (the fallback) would
    // see every kernel thread without an environment.
    let until = Instant::now() + UNDECIDED_WAIT;
    let first = loop {
        match look(run_id, None) {
            Some(seen) if seen.carriers.is_empty() && seen.undecided && Instant::now() < until => {
                sleep(POLL).await;
            }
            Some(seen) => break seen.carriers,
            None => break run_processes(run_id),
        }
    };
    stop_from(run_id, grace, first, find).await
}

/// [`stop_run`] with `find` listing the run's live processes.
async fn stop_found(run_id: &str, grace: Duration, find: impl Fn() -> Vec<u32>) -> Vec<u32> {
    stop_from(run_id, grace, find(), find).await
}

/// [`stop_found`] from a first look already taken (`alive`).
async fn stop_from(
    run_id: &str,
    grace: Duration,
    mut alive: Vec<u32>,
    find: impl Fn() -> Vec<u32>,
) -> Vec<u32> {
    let mut signalled: Vec<u32> = vec![];
    if alive.is_empty() {
        return signalled;
    }
    tracing::info!(run = %run_id, pids = ?alive, "stopping the run's remaining processes");
    let kill_at = Instant::now() + grace;
    while !alive.is_empty() && Instant::now() < kill_at {
        for pid in &alive {
            if !signalled.contains(pid) {
                signal(*pid, Signal::SIGTERM);
                signalled.push(*pid);
            }
        }
        reap(&signalled);
        sleep(POLL).await;
        alive = find();
    }
    let give_up = Instant::now() + AFTER_KILL_LIMIT;
    while !alive.is_empty() && Instant::now() < give_up {
        for pid in &alive {
            signal(*pid, Signal::SIGKILL);
            if !signalled.contains(pid) {
                signalled.push(*pid);
            }
        }
        reap(&signalled);
        sleep(POLL).await;
        alive = find();
    }
    if !alive.is_empty() {
        tracing::warn!(run = %run_id, pids = ?alive, "processes of the run survived SIGKILL; giving up on them");
    }
    settle(&signalled).await;
    signalled
}

/// Reap `pids` (processes karajan signalled) as they end. A process that is exiting no
/// longer reads as the run's (its environment is gone) before it is a zombie: wait
/// briefly (at most [`SETTLE`]) until every adopted one is a zombie, and reap it, so
/// none is left behind for a reaper that may not exist.
pub async fn settle(pids: &[u32]) {
    let until = Instant::now() + SETTLE;
    reap(pids);
    while adopted_left(pids) && Instant::now() < until {
        sleep(POLL).await;
        reap(pids);
    }
}

/// Whether any of `pids` is still an adopted child of this process (exiting, or a
/// zombie not reaped yet). Without the subreaper role nothing is adopted.
fn adopted_left(pids: &[u32]) -> bool {
    if !SUBREAPER.load(Ordering::SeqCst) {
        return false;
    }
    let me = std::process::id();
    let own = children();
    pids.iter()
        .any(|&pid| !own.contains(&pid) && stat(pid).is_some_and(|(ppid, _)| ppid == me))
}

/// Reap those of `pids` that are zombies adopted by this process (a subreaper): only
/// pids seen carrying a run id, never a child of karajan's own that a supervisor still
/// waits for. Without the subreaper role nothing is adopted, so nothing is reaped here.
pub fn reap(pids: &[u32]) {
    if !SUBREAPER.load(Ordering::SeqCst) {
        return;
    }
    let me = std::process::id();
    let own = children();
    for &pid in pids {
        if !own.contains(&pid)
            && stat(pid).is_some_and(|(ppid, state)| ppid == me && is_dead(state))
            && let Ok(raw) = i32::try_from(pid)
        {
            let _ = nix::sys::wait::waitpid(
                Pid::from_raw(raw),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_stat_is_read_and_an_unknown_run_has_no_process() {
        let (ppid, state) = stat(std::process::id()).expect("own stat");
        assert!(ppid > 0 && !is_dead(state));
        assert!(run_processes("no-such-run-0a7c").is_empty());
    }
}
