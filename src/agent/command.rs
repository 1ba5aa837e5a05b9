//! The generic `command` runner: any program that reads a prompt on stdin.
//!
//! It is the lowest common denominator every agent CLI can be wrapped into, and the
//! reference implementation of the `AgentRunner` contract. The program runs under
//! [`process::supervise`] with exactly `RunRequest::env`, in the workspace, with the
//! prompt on stdin. Its stdout is interpreted loosely:
//!
//! - a line that is a JSON object becomes `RunEvent::Json` and is appended to
//!   `events.jsonl`; from it karajan picks up, when present, a session id
//!   (`{"type":"session","id":..}` or a top-level string `session_id`), token usage
//!   (a top-level `usage` object with `input_tokens`, `output_tokens`,
//!   `cache_read_input_tokens`, `cache_creation_input_tokens`, summed over lines), a cost
//!   (top-level `cost_usd`, summed) and a turn count (top-level `num_turns`, last wins);
//! - any other non-blank line (stdout or stderr) becomes a short `RunEvent::Activity`;
//! - the tail of stdout, JSON lines included, is the run's final message (a reviewer's
//!   verdict may be its last fenced `json` block).
//!
//! The run's cost cap (`RunRequest::max_cost_usd`, from `budget.per_run_usd` and what is
//! left of `budget.per_ticket_usd`) holds here as for the agent CLIs: once the reported
//! cost passes it, the process group is stopped and the run ends `budget_exceeded`; a
//! cost above the cap reported on the last line (after which the program exits) ends
//! the same way, never `succeeded`.
//!
//! Events go through an unbounded hand-off to a forwarding task so a slow consumer can
//! never stall the draining of the child's pipes (which would make a busy agent look
//! stalled, or block it on a full pipe).

use std::path::PathBuf;

use async_trait::async_trait;
use chrono::Utc;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::final_message::FinalMessage;
use super::process::{self, Ending, Observer, ProcessExit, ProcessSpec, Stream};
use super::{AgentError, AgentRunner, RunEvent, RunOutcome, RunRequest};
use crate::config::RunnerConfig;
use crate::domain::{RunStatus, TokenUsage};

/// Longest `Activity` summary, in characters.
const SUMMARY_CHARS: usize = 200;

/// Runs `RunnerConfig::command` (argv; the first element is the program).
#[derive(Debug, Clone)]
pub struct CommandRunner {
    config: RunnerConfig,
}

impl CommandRunner {
    pub fn new(config: RunnerConfig) -> Self {
        CommandRunner { config }
    }
}

#[async_trait]
impl AgentRunner for CommandRunner {
    fn kind(&self) -> &'static str {
        "command"
    }

    fn command_line(&self, _req: &RunRequest) -> Vec<String> {
        self.config.command.clone()
    }

    async fn run(
        &self,
        req: RunRequest,
        events: mpsc::Sender<RunEvent>,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, AgentError> {
        let Some((program, args)) = self.config.command.split_first() else {
            return Err(AgentError::Spawn {
                program: String::new(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("runner `{}` has an empty command", self.config.name),
                ),
            });
        };
        let spec = ProcessSpec {
            program: program.clone(),
            args: args.to_vec(),
            env: req.env.clone(),
            cwd: req.workspace.clone(),
            stdin: req.prompt.clone().into_bytes(),
            log_dir: Some(req.log_dir.clone()),
            stall_timeout: Some(req.stall_timeout),
            turn_timeout: Some(req.turn_timeout),
            grace: req.grace,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let forwarder = tokio::spawn(forward(rx, events, req.log_dir.join("events.jsonl")));
        // A child token: the budget stop is karajan's own, told apart from a cancel.
        let stop = cancel.child_token();
        let mut watcher = StdoutInterpreter::new(tx, req.max_cost_usd, stop.clone());
        let result = process::supervise(spec, &mut watcher, stop).await;
        let StdoutInterpreter {
            tx,
            tokens,
            cost_usd,
            turns,
            session_id,
            last_stderr,
            cost_limit,
            hit_budget,
            stdout,
            ..
        } = watcher;
        drop(tx);
        // The group is gone; flush what is still queued for the consumer.
        if let Err(e) = forwarder.await {
            tracing::warn!(error = %e, "event forwarder failed");
        }
        let exit = result?;
        let status = status_of(&exit, last_stderr.as_deref());
        let over = cost_limit.is_some_and(|cap| cost_usd.is_some_and(|c| c > cap));
        let status = match status {
            _ if hit_budget && !cancel.is_cancelled() => {
                RunStatus::over_budget(cost_limit, cost_usd)
            }
            s @ RunStatus::Cancelled { .. } => s,
            _ if over => RunStatus::over_budget(cost_limit, cost_usd),
            s => s,
        };
        Ok(RunOutcome {
            status,
            exit_code: exit.exit_code,
            signal: exit.signal,
            duration: exit.duration,
            tokens,
            cost_usd,
            turns,
            session_id,
            resume_fallback: None,
            accounting: crate::domain::run::Accounting {
                cost: cost_usd.map(|_| crate::domain::run::CostBasis::Reported),
                ..Default::default()
            },
            final_message: stdout.text().map(str::to_string),
            model: self.config.model.clone(),
        })
    }
}

/// What a supervised process's end means for the run.
pub fn status_of(exit: &ProcessExit, last_stderr: Option<&str>) -> RunStatus {
    match exit.ending {
        Ending::Stalled => RunStatus::Stalled,
        Ending::TimedOut => RunStatus::TimedOut,
        Ending::Cancelled => RunStatus::Cancelled {
            reason: "cancelled by karajan".into(),
        },
        Ending::Exited => {
            let mut reason = match (exit.exit_code, exit.signal) {
                (Some(0), _) => return RunStatus::Succeeded,
                (Some(code), _) => format!("exit code {code}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                (None, None) => "exited without a status".to_string(),
            };
            if let Some(line) = last_stderr {
                reason.push_str(": ");
                reason.push_str(line);
            }
            RunStatus::Failed { reason }
        }
    }
}

/// How much of a run's JSON lines is gathered before it goes to `events.jsonl` in one
/// write.
const EVENTS_BUFFER: usize = 8 * 1024;

/// A queued event, with the raw JSON line to log when it is one.
pub(crate) type Queued = (RunEvent, Option<Vec<u8>>);

pub(crate) async fn forward(
    mut rx: mpsc::UnboundedReceiver<Queued>,
    events: mpsc::Sender<RunEvent>,
    jsonl: PathBuf,
) {
    // Each write to a `tokio::fs::File` is a task on the blocking pool: the lines queued
    // together are written together, once none is left waiting, so the log followed
    // live is never behind what was forwarded (as the output logs, see `process`).
    let mut log: Option<tokio::io::BufWriter<tokio::fs::File>> = None;
    let mut log_failed = false;
    let mut consumer_gone = false;
    while let Some((event, raw)) = rx.recv().await {
        if let Some(mut raw) = raw {
            if log.is_none() && !log_failed {
                match tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&jsonl)
                    .await
                {
                    Ok(f) => log = Some(tokio::io::BufWriter::with_capacity(EVENTS_BUFFER, f)),
                    Err(e) => {
                        log_failed = true;
                        tracing::warn!(path = %jsonl.display(), error = %e, "cannot open events log");
                    }
                }
            }
            if let Some(f) = log.as_mut() {
                raw.push(b'\n');
                let mut written = f.write_all(&raw).await;
                if written.is_ok() && rx.is_empty() {
                    written = f.flush().await;
                }
                if let Err(e) = written {
                    tracing::warn!(path = %jsonl.display(), error = %e, "cannot append to events log");
                    log = None;
                    log_failed = true;
                }
            }
        }
        if !consumer_gone && events.send(event).await.is_err() {
            consumer_gone = true; // keep logging; nobody listens any more
        }
    }
    if let Some(mut f) = log {
        let _ = f.flush().await;
    }
}

/// Turns the child's lines into events and accumulates what the outcome reports.
struct StdoutInterpreter {
    tx: mpsc::UnboundedSender<Queued>,
    tokens: TokenUsage,
    cost_usd: Option<f64>,
    turns: Option<u32>,
    session_id: Option<String>,
    last_stderr: Option<String>,
    /// The run's cost cap; passing it cancels `stop` (the process group is stopped).
    cost_limit: Option<f64>,
    stop: CancellationToken,
    hit_budget: bool,
    /// Everything the program printed on stdout (its tail): a reviewer's verdict may be
    /// its last fenced `json` block.
    stdout: FinalMessage,
}

impl StdoutInterpreter {
    fn new(
        tx: mpsc::UnboundedSender<Queued>,
        cost_limit: Option<f64>,
        stop: CancellationToken,
    ) -> Self {
        StdoutInterpreter {
            tx,
            tokens: TokenUsage::default(),
            cost_usd: None,
            turns: None,
            session_id: None,
            last_stderr: None,
            cost_limit,
            stop,
            hit_budget: false,
            stdout: FinalMessage::default(),
        }
    }

    /// Stop the process group once the reported cost passes the cap.
    fn enforce_budget(&mut self) {
        let (Some(cap), Some(cost)) = (self.cost_limit, self.cost_usd) else {
            return;
        };
        if cost > cap && !self.hit_budget {
            self.hit_budget = true;
            self.emit(
                RunEvent::Activity {
                    at: Utc::now(),
                    summary: format!("budget ${cap:.4} exceeded; stopping the agent"),
                },
                None,
            );
            self.stop.cancel();
        }
    }

    fn emit(&self, event: RunEvent, raw: Option<Vec<u8>>) {
        // The receiver lives until `run` drops the sender; a send error cannot happen.
        let _ = self.tx.send((event, raw));
    }

    fn json(&mut self, obj: &serde_json::Map<String, Value>) {
        let session = match (obj.get("type"), obj.get("id"), obj.get("session_id")) {
            (_, _, Some(Value::String(id))) => Some(id),
            (Some(Value::String(t)), Some(Value::String(id)), _) if t == "session" => Some(id),
            _ => None,
        };
        if let Some(id) = session {
            if self.session_id.as_deref() != Some(id.as_str()) {
                self.session_id = Some(id.clone());
                self.emit(RunEvent::Session { id: id.clone() }, None);
            }
        }
        if let Some(Value::Object(usage)) = obj.get("usage") {
            let n = |k: &str| usage.get(k).and_then(Value::as_u64).unwrap_or(0);
            self.tokens.add(&TokenUsage {
                input: n("input_tokens"),
                output: n("output_tokens"),
                cache_read: n("cache_read_input_tokens"),
                cache_write: n("cache_creation_input_tokens"),
            });
        }
        if let Some(cost) = obj.get("cost_usd").and_then(Value::as_f64) {
            *self.cost_usd.get_or_insert(0.0) += cost;
        }
        if let Some(turns) = obj.get("num_turns").and_then(Value::as_u64) {
            self.turns = u32::try_from(turns).ok();
        }
    }
}

impl Observer for StdoutInterpreter {
    fn spawned(&mut self, pid: u32) {
        self.emit(RunEvent::Spawned { pid }, None);
    }

    fn line(&mut self, stream: Stream, line: &[u8]) {
        if stream == Stream::Stdout {
            self.stdout.continued(&String::from_utf8_lossy(line));
            self.stdout.continued("\n");
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        if stream == Stream::Stdout && line.trim_ascii_start().first() == Some(&b'{') {
            if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(line) {
                self.json(&obj);
                let at = Utc::now();
                self.emit(
                    RunEvent::Json {
                        at,
                        value: Value::Object(obj),
                    },
                    Some(line.to_vec()),
                );
                self.enforce_budget();
                return;
            }
        }
        let text = summarize(line);
        let summary = match stream {
            Stream::Stdout => text,
            Stream::Stderr => {
                self.last_stderr = Some(text.clone());
                format!("stderr: {text}")
            }
        };
        self.emit(
            RunEvent::Activity {
                at: Utc::now(),
                summary,
            },
            None,
        );
    }
}

/// The line as text, trimmed and cut to [`SUMMARY_CHARS`] characters (with `…`).
pub fn summarize(line: &[u8]) -> String {
    // Decode at most a bounded prefix: a 10 MB line must not be copied whole.
    let prefix = &line[..line.len().min(SUMMARY_CHARS * 4 + 4)];
    let text = String::from_utf8_lossy(prefix);
    let text = text.trim();
    let mut out: String = text.chars().take(SUMMARY_CHARS).collect();
    if text.chars().count() > SUMMARY_CHARS || prefix.len() < line.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn exit(ending: Ending, code: Option<i32>, signal: Option<i32>) -> ProcessExit {
        ProcessExit {
            pid: 42,
            ending,
            exit_code: code,
            signal,
            duration: Duration::from_millis(5),
        }
    }

    #[test]
    fn status_mapping() {
        assert_eq!(
            status_of(&exit(Ending::Exited, Some(0), None), Some("noise")),
            RunStatus::Succeeded
        );
        assert_eq!(
            status_of(&exit(Ending::Exited, Some(3), None), Some("boom")),
            RunStatus::Failed {
                reason: "exit code 3: boom".into()
            }
        );
        assert_eq!(
            status_of(&exit(Ending::Exited, None, Some(9)), None),
            RunStatus::Failed {
                reason: "killed by signal 9".into()
            }
        );
        assert_eq!(
            status_of(&exit(Ending::Stalled, None, Some(15)), None),
            RunStatus::Stalled
        );
        assert_eq!(
            status_of(&exit(Ending::TimedOut, None, Some(15)), None),
            RunStatus::TimedOut
        );
        assert!(matches!(
            status_of(&exit(Ending::Cancelled, None, Some(15)), None),
            RunStatus::Cancelled { .. }
        ));
    }

    #[test]
    fn summarize_truncates_long_lines() {
        assert_eq!(summarize(b"  hello  "), "hello");
        let long = vec![b'x'; 10_000];
        let s = summarize(&long);
        assert_eq!(s.chars().count(), SUMMARY_CHARS + 1);
        assert!(s.ends_with('…'));
        let multibyte = "é".repeat(300);
        assert_eq!(
            summarize(multibyte.as_bytes()).chars().count(),
            SUMMARY_CHARS + 1
        );
    }

    #[test]
    fn interpreter_extracts_session_usage_and_cost() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut w = StdoutInterpreter::new(tx, None, CancellationToken::new());
        w.line(Stream::Stdout, br#"{"type":"session","id":"s-1"}"#);
        w.line(
            Stream::Stdout,
            br#"{"usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":2,"cache_creation_input_tokens":1},"cost_usd":0.25}"#,
        );
        w.line(
            Stream::Stdout,
            br#"{"session_id":"s-1","usage":{"input_tokens":1,"output_tokens":1},"cost_usd":0.5,"num_turns":3}"#,
        );
        w.line(Stream::Stdout, b"[1, 2]");
        w.line(Stream::Stdout, b"{not json");
        w.line(Stream::Stderr, b"warning: x");
        w.line(Stream::Stdout, b"   ");
        assert_eq!(w.session_id.as_deref(), Some("s-1"));
        assert_eq!(
            w.tokens,
            TokenUsage {
                input: 11,
                output: 6,
                cache_read: 2,
                cache_write: 1
            }
        );
        assert_eq!(w.cost_usd, Some(0.75));
        assert_eq!(w.turns, Some(3));
        assert_eq!(w.last_stderr.as_deref(), Some("warning: x"));
        drop(w);
        let mut kinds = Vec::new();
        while let Ok((ev, raw)) = rx.try_recv() {
            kinds.push(match ev {
                RunEvent::Session { .. } => "session",
                RunEvent::Json { .. } => {
                    assert!(raw.is_some());
                    "json"
                }
                RunEvent::Activity { .. } => "activity",
                RunEvent::Spawned { .. } => "spawned",
                RunEvent::Usage { .. } => "usage",
            });
        }
        // The session is announced once even though two lines carry it.
        assert_eq!(
            kinds,
            [
                "session", "json", "json", "json", "activity", "activity", "activity"
            ]
        );
    }

    /// `events.jsonl` is written a burst at a time, yet a line is in the file as soon as
    /// no other waits behind it, while the run still goes on (a log followed live), and a
    /// burst arrives whole and in order.
    #[tokio::test]
    async fn the_events_log_holds_each_line_once_none_waits_behind_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let jsonl = dir.path().join("events.jsonl");
        let (tx, rx) = mpsc::unbounded_channel();
        let (events_tx, mut events_rx) = mpsc::channel(64);
        let forwarder = tokio::spawn(forward(rx, events_tx, jsonl.clone()));
        let line = |n: u32| {
            let value = serde_json::json!({ "n": n });
            let raw = value.to_string().into_bytes();
            (
                RunEvent::Json {
                    at: Utc::now(),
                    value,
                },
                Some(raw),
            )
        };
        let read = || std::fs::read_to_string(&jsonl).unwrap_or_default();
        tx.send(line(1)).expect("send");
        events_rx.recv().await.expect("forwarded");
        // The channel stays open (the run goes on); the line must already be written.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while read() != "{\"n\":1}\n" {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not written: {:?}",
                read()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for n in 2..=4 {
            tx.send(line(n)).expect("send");
        }
        for _ in 2..=4 {
            events_rx.recv().await.expect("forwarded");
        }
        let want = "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n{\"n\":4}\n";
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while read() != want {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not written: {:?}",
                read()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(tx);
        forwarder.await.expect("forwarder");
        assert_eq!(read(), want);
    }
}
