//! Process supervision shared by every runner (and by workspace hooks).
//!
//! An agent CLI is an untrusted, long-lived child that may fork helpers (language
//! servers, test runners, `sleep 1000 &`). Killing only the pid we spawned leaves those
//! grandchildren running and holding our pipes, so every child is started as the leader
//! of its OWN process group and the whole group is stopped with SIGTERM → grace →
//! SIGKILL on every exit path: normal exit (stray grandchildren), failure, stall, turn
//! timeout, cancellation, and — through a drop guard that SIGKILLs the group — when the
//! supervising future itself is dropped.
//!
//! stdout and stderr are drained concurrently and line by line (lines may be many MB, so
//! no bounded line reader), appended raw to `stdout.log` / `stderr.log`, and handed to an
//! [`Observer`]. Every line on either stream counts as activity for the stall timer. The
//! prompt is written to stdin from its own task, so a child that writes before reading
//! all its input cannot deadlock against us.
//!
//! Liveness of a group is asked of the kernel first: `kill(-pgid, 0)` failing with
//! `ESRCH` means no member is left, which is the normal case once the child is reaped,
//! and costs one system call. Only when the kernel still knows a member is `/proc`
//! scanned (members of the group that are not zombies), because a member may be a
//! zombie nobody reaps (the daemon may run under a PID 1 that never reaps orphans, or an
//! escaped parent may not wait), and a zombie-only group is dead for our purposes.
//!
//! A descendant that left the group (`setsid`) is still stopped: when the spec's
//! environment carries `KARAJAN_RUN_ID` (every agent's does), every exit path ends with
//! [`super::reap::stop_descendants`], which stops whatever still carries that run id,
//! and the drop guard SIGKILLs those too. Both look only at karajan's own descendants
//! when it is a subreaper (see `reap`), so a normal run end scans no `/proc`.
//!
//! Fault point (tests only): in debug builds, `KARAJAN_FAULT_AFTER_SPAWN_SLEEP_MS=<ms>`
//! in the *daemon's* environment makes [`supervise`] sleep that long after the spawn
//! and before the pid is reported (and so recorded), making the crash window between
//! spawn and `run_spawned` reachable deterministically. Release builds ignore it.
//!
//! [`kill_orphan_group`] is the crash-recovery counterpart: a restarted daemon stops a
//! group it recorded before dying, but only after proving (via `/proc/<pid>/environ`)
//! that the group still belongs to that run, so a recycled pid is never killed.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use super::AgentError;

/// How often the group is polled while waiting for it to die.
const POLL: Duration = Duration::from_millis(20);
/// How long to keep reading pipes after the group is gone (a process that escaped the
/// group with `setsid` may still hold them open).
const DRAIN_LIMIT: Duration = Duration::from_secs(2);
/// Bound on waiting for the group after SIGKILL (uninterruptible sleep).
const AFTER_KILL_LIMIT: Duration = Duration::from_secs(5);

/// What to run and how to supervise it.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub program: String,
    pub args: Vec<String>,
    /// The complete environment of the child; nothing else is inherited.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// Written to the child's stdin, which is then closed.
    pub stdin: Vec<u8>,
    /// Where `stdout.log` and `stderr.log` are appended; `None` keeps no logs.
    pub log_dir: Option<PathBuf>,
    /// Stop when neither stream produced a line for this long.
    pub stall_timeout: Option<Duration>,
    /// Stop when the process has run for this long.
    pub turn_timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Why supervision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The process exited by itself (any status).
    Exited,
    /// No output for the stall timeout.
    Stalled,
    /// Ran past the turn timeout.
    TimedOut,
    /// The cancellation token fired.
    Cancelled,
}

/// The result of a supervised process. The group is gone and the child reaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessExit {
    pub pid: u32,
    pub ending: Ending,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration: Duration,
}

/// Receives what the child does, synchronously and in arrival order. Implementations
/// must not block: they run on the supervising task.
pub trait Observer: Send {
    /// The child is up; `pid` is also its process group id.
    fn spawned(&mut self, _pid: u32) {}
    /// One line (without its trailing `\n` / `\r\n`) from one stream.
    fn line(&mut self, stream: Stream, line: &[u8]);
}

/// SIGKILLs the group (and every process carrying the run's id) if the supervising
/// future is dropped before it finished.
struct GroupGuard {
    pgid: Option<u32>,
    run_id: Option<String>,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            signal_group(pgid, Signal::SIGKILL);
            if let Some(run_id) = &self.run_id {
                super::reap::kill_run_now(run_id, Some(pgid));
            }
        }
    }
}

/// The run id a spec's environment carries, if any.
fn run_id_of(spec: &ProcessSpec) -> Option<String> {
    spec.env
        .iter()
        .find(|(k, _)| k == "KARAJAN_RUN_ID")
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

/// The fault point of the module doc: the delay between spawn and reporting the pid.
fn fault_after_spawn() -> Option<Duration> {
    if !cfg!(debug_assertions) {
        return None;
    }
    let ms = std::env::var("KARAJAN_FAULT_AFTER_SPAWN_SLEEP_MS").ok()?;
    ms.trim().parse().ok().map(Duration::from_millis)
}

/// Spawn `spec` in its own process group and supervise it to the end.
///
/// Returns `Err` only when the process could not be started or its log files could not
/// be opened; every way the process itself ends is an `Ok(ProcessExit)`.
pub async fn supervise(
    spec: ProcessSpec,
    observer: &mut dyn Observer,
    cancel: CancellationToken,
) -> Result<ProcessExit, AgentError> {
    let (stdout_log, stderr_log) = open_logs(&spec).await?;

    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child =
        super::reap::spawn_registered(&mut cmd).map_err(|source| AgentError::Spawn {
            program: spec.program.clone(),
            source,
        })?;
    let started = Instant::now();
    let Some(pid) = child.id() else {
        // Already reaped: cannot happen right after spawn, but never signal pid 0.
        return Err(AgentError::Io(std::io::Error::other(
            "child exited before its pid was known",
        )));
    };
    let run_id = run_id_of(&spec);
    let mut guard = GroupGuard {
        pgid: Some(pid),
        run_id: run_id.clone(),
    };
    // The group dies with the daemon, however it dies (see `guard`).
    let death_guard = super::guard::DeathGuard::spawn(pid);
    if let Some(delay) = fault_after_spawn() {
        tracing::warn!(
            pid,
            ?delay,
            "fault point: sleeping between spawn and recording the pid"
        );
        sleep(delay).await;
    }
    observer.spawned(pid);

    let stdin_task = child.stdin.take().map(|mut stdin| {
        let prompt = spec.stdin.clone();
        tokio::spawn(async move {
            // EPIPE when the child does not read its input is not our failure.
            let _ = stdin.write_all(&prompt).await;
            let _ = stdin.shutdown().await;
        })
    });
    let (line_tx, mut lines) = mpsc::channel::<(Stream, Vec<u8>)>(256);
    let mut readers: Vec<JoinHandle<()>> = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(spawn_reader(
            out,
            Stream::Stdout,
            stdout_log,
            line_tx.clone(),
        ));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(spawn_reader(
            err,
            Stream::Stderr,
            stderr_log,
            line_tx.clone(),
        ));
    }
    drop(line_tx);

    // Phase 1: running, until exit / stall / timeout / cancel.
    let turn_deadline = spec.turn_timeout.map(|t| started + t);
    let mut last_activity = Instant::now();
    let mut status: Option<std::process::ExitStatus> = None;
    let mut lines_open = true;
    let ending = loop {
        let stall_deadline = spec.stall_timeout.map(|s| last_activity + s);
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break Ending::Cancelled,
            _ = sleep_until_opt(turn_deadline) => break Ending::TimedOut,
            _ = sleep_until_opt(stall_deadline) => break Ending::Stalled,
            res = child.wait() => {
                status = Some(res?);
                break Ending::Exited;
            }
            line = lines.recv(), if lines_open => match line {
                Some((stream, bytes)) => {
                    last_activity = Instant::now();
                    observer.line(stream, &bytes);
                }
                None => lines_open = false,
            },
        }
    };

    // Phase 2: stop the group (also after a normal exit: stray grandchildren), then
    // whatever still carries the run id (descendants that left the group).
    let survivors = run_id
        .as_deref()
        .map(|run_id| super::reap::run_survivors(run_id, Some(pid)));
    // The leader exited and was reaped, and nothing of ours outlived it: the stop
    // below has nothing to find.
    let none_left = status.is_some() && survivors.as_ref().is_some_and(|s| s.none_left);
    let carriers = survivors.map(|s| s.carriers).unwrap_or_default();
    // Escaped descendants share the group's grace; `stop_run` below SIGKILLs the rest.
    super::reap::terminate_outside(&carriers, pid);
    if let Some(g) = death_guard {
        g.dismiss().await;
    }
    stop_group(
        pid,
        spec.grace,
        &mut child,
        &mut status,
        &mut lines,
        &mut lines_open,
        observer,
    )
    .await?;
    if let Some(run_id) = run_id.as_ref().filter(|_| !none_left) {
        super::reap::stop_descendants(run_id, spec.grace).await;
        // Group members adopted by us (a subreaper) once their parent died, and the
        // escaped ones `terminate_outside` signalled: reaped once they have ended (one
        // that was still exiting a moment ago is not a zombie yet).
        super::reap::settle(&carriers).await;
    }
    // The child is reaped (`status` is set): from now on a zombie with its pid is not
    // ours to leave alone; adopted descendants that exited by themselves are reaped.
    super::reap::forget_child(pid);
    super::reap::reap_orphans_after_run();
    guard.pgid = None;

    // Phase 3: drain what is left in the pipes, bounded.
    let drain_deadline = Instant::now() + DRAIN_LIMIT;
    while lines_open {
        tokio::select! {
            line = lines.recv() => match line {
                Some((stream, bytes)) => observer.line(stream, &bytes),
                None => lines_open = false,
            },
            _ = sleep_until(drain_deadline) => {
                tracing::warn!(pid, "pipes still open after the process group ended; abandoning them");
                break;
            }
        }
    }
    for r in readers {
        r.abort();
    }
    if let Some(t) = stdin_task {
        t.abort();
    }

    let status = status.ok_or_else(|| std::io::Error::other("child was never reaped"))?;
    Ok(ProcessExit {
        pid,
        ending,
        exit_code: status.code(),
        signal: std::os::unix::process::ExitStatusExt::signal(&status),
        duration: started.elapsed(),
    })
}

/// SIGTERM the group (if anything is left in it), keep draining and reaping while
/// waiting up to `grace`, then SIGKILL, and return once the child is reaped and the
/// group has no live member.
async fn stop_group(
    pgid: u32,
    grace: Duration,
    child: &mut Child,
    status: &mut Option<std::process::ExitStatus>,
    lines: &mut mpsc::Receiver<(Stream, Vec<u8>)>,
    lines_open: &mut bool,
    observer: &mut dyn Observer,
) -> Result<(), AgentError> {
    if status.is_none() || group_alive(pgid) {
        signal_group(pgid, Signal::SIGTERM);
    }
    let kill_at = Instant::now() + grace;
    let mut killed_at: Option<Instant> = None;
    loop {
        if status.is_some() && !group_alive(pgid) {
            return Ok(());
        }
        if let Some(k) = killed_at {
            if k.elapsed() > AFTER_KILL_LIMIT && status.is_some() {
                tracing::warn!(pgid, "process group survived SIGKILL; giving up on it");
                return Ok(());
            }
        }
        tokio::select! {
            res = child.wait(), if status.is_none() => *status = Some(res?),
            line = lines.recv(), if *lines_open => match line {
                Some((stream, bytes)) => observer.line(stream, &bytes),
                None => *lines_open = false,
            },
            _ = sleep_until(kill_at), if killed_at.is_none() => {
                signal_group(pgid, Signal::SIGKILL);
                killed_at = Some(Instant::now());
            }
            _ = sleep(POLL) => {}
        }
    }
}

/// The read buffer of each of a run's pipes. A line longer than it is still read
/// whole (`read_until` grows the line); the buffer only sets how much one read takes.
/// Two per running agent, allocated zeroed: at 64 KiB, ten concurrent runs held 1.3 MB
/// of the daemon's peak heap for pipes that mostly carry short JSON lines (issue 11).
const PIPE_BUFFER: usize = 8 * 1024;

/// How much of a run's output is gathered before it goes to the log file in one write.
const LOG_BUFFER: usize = 8 * 1024;

fn spawn_reader(
    pipe: impl AsyncRead + Unpin + Send + 'static,
    stream: Stream,
    log: Option<tokio::fs::File>,
    tx: mpsc::Sender<(Stream, Vec<u8>)>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = BufReader::with_capacity(PIPE_BUFFER, pipe);
        // Each write to a `tokio::fs::File` is a task on the blocking pool (a thread
        // woken, then the runtime): one per line made a CLI's burst of hundreds of lines
        // hundreds of hand-offs. The lines of a burst are gathered and written together;
        // when no whole line is waiting in the pipe's buffer any more, what was gathered
        // is written at once, so a log followed live (`karajan logs --follow`) never
        // lags the agent, even one that stops in the middle of a line.
        let mut log = log.map(|f| tokio::io::BufWriter::with_capacity(LOG_BUFFER, f));
        loop {
            let mut buf = Vec::new();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if let Some(f) = log.as_mut() {
                let mut written = f.write_all(&buf).await;
                if written.is_ok() && !reader.buffer().contains(&b'\n') {
                    written = f.flush().await;
                }
                if let Err(e) = written {
                    tracing::warn!(error = %e, "could not append to the run log; logging stops");
                    log = None;
                }
            }
            if buf.last() == Some(&b'\n') {
                buf.pop();
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
            }
            if tx.send((stream, buf)).await.is_err() {
                break;
            }
        }
        if let Some(mut f) = log {
            let _ = f.flush().await;
        }
    })
}

/// The run's log folder and its two output logs, made in one task on the blocking
/// pool: each `tokio::fs` call is a task of its own (a pool thread woken, then the
/// runtime), three per run before (issue 11).
async fn open_logs(
    spec: &ProcessSpec,
) -> Result<(Option<tokio::fs::File>, Option<tokio::fs::File>), AgentError> {
    let Some(dir) = spec.log_dir.clone() else {
        return Ok((None, None));
    };
    let (out, err) = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        let open = |name: &str| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
        };
        Ok::<_, std::io::Error>((open("stdout.log")?, open("stderr.log")?))
    })
    .await
    .map_err(std::io::Error::other)??;
    Ok((
        Some(tokio::fs::File::from_std(out)),
        Some(tokio::fs::File::from_std(err)),
    ))
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Send `sig` to process group `pgid`; a group that is already gone is not an error.
fn signal_group(pgid: u32, sig: Signal) {
    let Ok(raw) = i32::try_from(pgid) else { return };
    if raw <= 1 {
        return; // never signal "every process" or init's group
    }
    if let Err(e) = killpg(Pid::from_raw(raw), sig) {
        if e != nix::errno::Errno::ESRCH {
            tracing::warn!(pgid, signal = %sig, error = %e, "could not signal process group");
        }
    }
}

/// Live (non-zombie) members of process group `pgid`, from `/proc`; `None` when `/proc`
/// cannot be read.
fn group_members(pgid: u32) -> Option<Vec<u32>> {
    let mut members = Vec::new();
    for pid in super::reap::proc_pids()? {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue; // exited meanwhile
        };
        // "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let pgrp = fields.nth(1).and_then(|p| p.parse::<u32>().ok());
        if pgrp == Some(pgid) && state != "Z" && state != "X" {
            members.push(pid);
        }
    }
    Some(members)
}

/// Whether process group `pgid` has a live (non-zombie) member: the kernel answers
/// "no member at all" directly; only a group it still knows is looked up in `/proc`,
/// to tell live members from zombies (see the module doc).
pub fn group_alive(pgid: u32) -> bool {
    let Ok(raw) = i32::try_from(pgid) else {
        return false;
    };
    // Never probe "every process" (-1) or "our own group" (0) with kill.
    if raw > 1 && killpg(Pid::from_raw(raw), None::<Signal>) == Err(nix::errno::Errno::ESRCH) {
        return false;
    }
    match group_members(pgid) {
        Some(members) => !members.is_empty(),
        // No `/proc`: the kernel's answer (a member, perhaps a zombie) is all there is.
        None => raw > 1,
    }
}

/// Crash recovery: stop the process group `pgid` of run `run_id` left behind by a
/// previous daemon. Only when a live member of the group carries
/// `KARAJAN_RUN_ID=<run_id>` in its environment is the group SIGTERMed, given `grace`,
/// then SIGKILLed; a recycled pid belonging to something else is left alone.
/// Returns whether it signalled the group.
pub async fn kill_orphan_group(pgid: u32, run_id: &str, grace: Duration) -> bool {
    let Some(members) = group_members(pgid) else {
        return false;
    };
    let marker = format!("KARAJAN_RUN_ID={run_id}");
    let owned = members.iter().any(|pid| {
        std::fs::read(format!("/proc/{pid}/environ"))
            .map(|env| env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()))
            .unwrap_or(false)
    });
    if !owned {
        return false;
    }
    signal_group(pgid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !group_alive(pgid) {
            return true;
        }
        sleep(POLL).await;
    }
    signal_group(pgid, Signal::SIGKILL);
    let deadline = Instant::now() + AFTER_KILL_LIMIT;
    while group_alive(pgid) && Instant::now() < deadline {
        sleep(POLL).await;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line longer than the pipe's read buffer arrives whole, in order with the
    /// lines around it, and the log gets every byte.
    #[tokio::test]
    async fn a_line_longer_than_the_read_buffer_arrives_whole() {
        let long = "x".repeat(PIPE_BUFFER * 12 + 5);
        let input = format!("first\n{long}\r\nlast");
        let dir = tempfile::tempdir().expect("tempdir");
        let log_path = dir.path().join("stdout.log");
        let log = tokio::fs::File::create(&log_path).await.expect("log");
        let (tx, mut rx) = mpsc::channel(8);
        let reader = spawn_reader(
            std::io::Cursor::new(input.clone().into_bytes()),
            Stream::Stdout,
            Some(log),
            tx,
        );
        let mut lines = vec![];
        while let Some((stream, line)) = rx.recv().await {
            assert!(matches!(stream, Stream::Stdout));
            lines.push(String::from_utf8(line).expect("utf-8"));
        }
        reader.await.expect("reader");
        assert_eq!(lines, ["first", long.as_str(), "last"]);
        assert_eq!(std::fs::read_to_string(&log_path).expect("read"), input);
    }

    /// Lines are written together, but never held back: once no whole line waits in
    /// the pipe (here the agent stopped in the middle of one), the lines read so far
    /// are in the log, as `karajan logs --follow` shows them.
    #[tokio::test]
    async fn the_log_holds_every_line_read_while_the_agent_pauses() {
        use tokio::io::AsyncWriteExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let log_path = dir.path().join("stdout.log");
        let log = tokio::fs::File::create(&log_path).await.expect("log");
        let (mut agent, pipe) = tokio::io::duplex(1024);
        let (tx, mut rx) = mpsc::channel(8);
        let reader = spawn_reader(pipe, Stream::Stdout, Some(log), tx);
        agent.write_all(b"one\ntwo\npar").await.expect("write");
        for want in ["one", "two"] {
            let (_, line) = rx.recv().await.expect("a line");
            assert_eq!(line, want.as_bytes());
        }
        assert_eq!(
            std::fs::read_to_string(&log_path).expect("read"),
            "one\ntwo\n",
            "the lines before the pause are in the log"
        );
        agent.write_all(b"tial\n").await.expect("write");
        drop(agent);
        let (_, line) = rx.recv().await.expect("the last line");
        assert_eq!(line, b"partial");
        reader.await.expect("reader");
        assert_eq!(
            std::fs::read_to_string(&log_path).expect("read"),
            "one\ntwo\npartial\n"
        );
    }

    #[test]
    fn own_process_group_is_alive_and_bogus_group_is_not() {
        let me = std::process::id();
        let pgrp = nix::unistd::getpgrp().as_raw() as u32;
        assert!(group_alive(pgrp));
        // A pid far beyond pid_max can never be a group.
        assert!(!group_alive(u32::MAX - 7));
        assert!(group_members(pgrp).is_some_and(|m| m.contains(&me)));
    }

    /// A group whose only member is an unreaped zombie is dead, though the kernel
    /// still knows it; once reaped, the kernel's answer alone settles it.
    #[test]
    fn a_zombie_only_group_is_dead_and_a_reaped_one_needs_no_scan() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "exit 0"])
            .process_group(0)
            .spawn()
            .expect("spawn");
        let pgid = child.id();
        let raw = Pid::from_raw(pgid as i32);
        // Wait until it is a zombie (its group still exists for the kernel).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while group_members(pgid).is_some_and(|m| !m.is_empty()) {
            assert!(std::time::Instant::now() < deadline, "child never exited");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            killpg(raw, None::<Signal>).is_ok(),
            "the zombie keeps the group known"
        );
        assert!(!group_alive(pgid), "a zombie-only group is not alive");
        child.wait().expect("reap");
        assert_eq!(killpg(raw, None::<Signal>), Err(nix::errno::Errno::ESRCH));
        assert!(!group_alive(pgid));
    }

    #[test]
    fn signal_group_refuses_init_and_everyone() {
        // Would kill everything if it did not refuse; the test surviving is the check.
        signal_group(0, Signal::SIGCONT);
        signal_group(1, Signal::SIGCONT);
        assert!(group_alive(nix::unistd::getpgrp().as_raw() as u32));
    }
}
