//! Workspace hooks: short shell snippets (`sh -c`) run in the workspace.
//!
//! A hook is user code with the same risks as an agent (it may hang, fork, print
//! megabytes), so it runs under the same supervision as agents
//! ([`crate::agent::process::supervise`]): its own process group, exactly the given
//! environment, the group killed on timeout and after exit. Only the last
//! [`TAIL_BYTES`] of combined stdout+stderr are kept, for the event record and the
//! dashboard; a hook never fails the daemon, it yields a [`HookResult`] the orchestrator
//! interprets (see the module doc of [`crate::workspace`]).

use std::collections::VecDeque;
use std::path::Path;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::agent::process::{self, Ending, Observer, ProcessSpec, Stream};

/// How much combined output a `HookResult` keeps (the end of it).
pub const TAIL_BYTES: usize = 2048;
/// Between SIGTERM and SIGKILL when a hook times out.
const HOOK_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookResult {
    pub name: String,
    /// Exited 0 within the timeout.
    pub ok: bool,
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    pub duration: Duration,
    /// The last ~2 KB of stdout and stderr, interleaved by line; or why it could not start.
    pub output_tail: String,
}

struct Tail(VecDeque<u8>);

impl Observer for Tail {
    fn line(&mut self, _stream: Stream, line: &[u8]) {
        let line = &line[line.len().saturating_sub(TAIL_BYTES)..];
        self.0.extend(line);
        self.0.push_back(b'\n');
        let excess = self.0.len().saturating_sub(TAIL_BYTES);
        self.0.drain(..excess);
    }
}

/// Run hook `name` (`sh -c script`) in `cwd` with exactly `env`, stopping its process
/// group after `timeout`.
pub async fn run_hook(
    name: &str,
    script: &str,
    cwd: &Path,
    env: &[(String, String)],
    timeout: Duration,
) -> HookResult {
    let spec = ProcessSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        env: env.to_vec(),
        cwd: cwd.to_path_buf(),
        stdin: Vec::new(),
        log_dir: None,
        stall_timeout: None,
        turn_timeout: Some(timeout),
        grace: HOOK_GRACE,
    };
    let started = Instant::now();
    let mut tail = Tail(VecDeque::new());
    let result = process::supervise(spec, &mut tail, CancellationToken::new()).await;
    let output_tail = tail_text(tail.0);
    let result = match result {
        Ok(exit) => HookResult {
            name: name.to_string(),
            ok: exit.ending == Ending::Exited && exit.exit_code == Some(0),
            exit_code: exit.exit_code,
            timed_out: exit.ending == Ending::TimedOut,
            duration: exit.duration,
            output_tail,
        },
        Err(e) => HookResult {
            name: name.to_string(),
            ok: false,
            exit_code: None,
            timed_out: false,
            duration: started.elapsed(),
            output_tail: format!("hook could not start: {e}"),
        },
    };
    tracing::debug!(
        hook = name,
        ok = result.ok,
        exit_code = ?result.exit_code,
        timed_out = result.timed_out,
        duration_ms = result.duration.as_millis() as u64,
        "hook finished"
    );
    result
}

fn tail_text(bytes: VecDeque<u8>) -> String {
    let bytes: Vec<u8> = bytes.into();
    let text = String::from_utf8_lossy(&bytes);
    text.trim_end_matches('\n').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_only_the_end() {
        let mut t = Tail(VecDeque::new());
        for i in 0..1000 {
            t.line(Stream::Stdout, format!("line {i}").as_bytes());
        }
        let text = tail_text(t.0);
        assert!(text.len() <= TAIL_BYTES);
        assert!(text.ends_with("line 999"));
        assert!(!text.contains("line 10\n"));
    }

    #[test]
    fn tail_of_one_huge_line_is_bounded() {
        let mut t = Tail(VecDeque::new());
        t.line(Stream::Stderr, &vec![b'x'; 100_000]);
        assert_eq!(t.0.len(), TAIL_BYTES);
    }
}
