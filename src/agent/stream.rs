//! What the three agent CLI stream parsers share: the running [`Tally`] of a run, the
//! [`StreamParser`] seam, and how a tally plus the process's end become a `RunStatus`.
//!
//! Parsers are pure: they take one line at a time and return [`Note`]s; the CLI driver
//! (`cli.rs`) turns notes into `RunEvent`s and enforces limits. That keeps each CLI's
//! format in one small file that unit tests feed with the real recorded streams.
//!
//! The outcome rule is the same for every CLI: the stream's own final verdict
//! (Claude's `result`, Codex's `turn.completed`/`turn.failed`, Gemini's `result.status`)
//! decides, and success additionally needs exit code 0 — a CLI that printed a success
//! and then crashed did not finish cleanly. A stream without a verdict is a failure that
//! names the exit code and the last thing the CLI said on stderr. One exception: a
//! run that did not succeed after the CLI reported its plan/quota limit
//! ([`Tally::usage_limit`]) is `usage_limited`, which the orchestrator does not count as
//! a failed attempt (it pauses the runner until the limit resets).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::process::{Ending, ProcessExit};
use crate::domain::run::UsageBasis;
use crate::domain::{RunStatus, TokenUsage};

/// Longest summary of one event, in characters.
pub const SUMMARY_CHARS: usize = 160;

/// The stream's own final word on the run.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Success,
    Failed(String),
    MaxTurns,
    Budget(String),
}

/// What a parser learned from one line.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// The agent's session id (announced once per distinct id).
    Session(String),
    /// A short human-readable summary of what the agent is doing.
    Activity(String),
}

/// What a run accumulated from its stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub session_id: Option<String>,
    /// The model the stream says it uses (for pricing), when it says.
    pub model: Option<String>,
    pub tokens: TokenUsage,
    /// Tokens per model, when the CLI breaks them down (Gemini), for pricing.
    pub models: Vec<(String, TokenUsage)>,
    /// Reported by the CLI itself (Claude); the driver computes it otherwise.
    pub cost_usd: Option<f64>,
    /// Model turns: reported (Claude) or counted (1 + tool calls).
    pub turns: Option<u32>,
    pub tool_calls: u32,
    pub duration_ms: Option<u64>,
    pub verdict: Option<Verdict>,
    /// JSON events of a type this parser does not know (tolerated, counted).
    pub unknown_events: u32,
    /// Non-JSON or malformed stdout lines.
    pub garbage_lines: u32,
    pub last_error: Option<String>,
    pub last_stderr: Option<String>,
    /// The CLI said the session to resume does not exist.
    pub unknown_session: bool,
    /// The CLI's final usage report was seen (Claude's `result`, Codex's
    /// `turn.completed`, Gemini's `result.stats`): `tokens` are complete.
    pub usage_final: bool,
    /// Some usage was reported before the final report (Claude's per-message usage):
    /// without the final report, `tokens` are a lower bound.
    pub usage_seen: bool,
    /// `tokens` are the cumulative usage of the whole session, earlier turns included
    /// (Codex on `exec resume`), not the usage of this invocation alone.
    pub thread_cumulative: bool,
    /// The CLI said its plan or quota limit is hit (Claude's `rate_limit_event` with
    /// `status: rejected`, a Codex or Gemini quota error). A run that then fails ends
    /// `usage_limited` instead of `failed`.
    pub usage_limit: Option<UsageLimit>,
    /// The agent's last message in words (a verdict may be its last fenced `json` block).
    pub final_message: super::final_message::FinalMessage,
}

/// The CLI's plan or quota limit is hit: no run of this runner can succeed before `until`.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageLimit {
    /// When the limit resets, when the CLI says (Claude's `resetsAt`); otherwise the
    /// orchestrator pauses for `agent.usage_limit_pause`.
    pub until: Option<DateTime<Utc>>,
    /// What the CLI said, short.
    pub reason: String,
}

/// Whether an error message of a CLI says its quota or plan limit is exhausted (after the
/// CLI's own retries): Codex's `exceeded retry limit, last status: 429 Too Many
/// Requests` and its `usage limit` message, Gemini's `Resource has been exhausted (e.g.
/// check quota)` / `RESOURCE_EXHAUSTED`. A single transient 429 that the CLI retried and
/// got past never reaches here: only the final error is checked.
pub fn is_quota_error(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    (m.contains("429") && (m.contains("too many requests") || m.contains("exceeded retry limit")))
        || m.contains("resource has been exhausted")
        || m.contains("resource_exhausted")
        || m.contains("check quota")
        || m.contains("quotaerror")
        || m.contains("usage limit")
}

impl Tally {
    /// How complete `tokens` are. Without the final report: partial when some usage was
    /// reported, unknown when the CLI opened a session (so it may have called the model)
    /// but reported nothing; a CLI that never opened a session served nothing, and
    /// neither did one whose first request was refused for its usage limit (no tool
    /// call happened, so no earlier request of the run was served).
    pub fn usage_basis(&self) -> UsageBasis {
        if self.usage_final {
            UsageBasis::Reported
        } else if self.usage_seen {
            UsageBasis::Partial
        } else if self.usage_limit.is_some() && self.tool_calls == 0 {
            // The API refused the run's first request (quota): nothing was served.
            UsageBasis::Reported
        } else if self.session_id.is_some() {
            UsageBasis::Unknown
        } else {
            UsageBasis::Reported
        }
    }

    /// Record a session id; returns the note when it is new.
    pub fn session(&mut self, id: &str) -> Option<Note> {
        if id.is_empty() || self.session_id.as_deref() == Some(id) {
            return None;
        }
        self.session_id = Some(id.to_string());
        Some(Note::Session(id.to_string()))
    }
}

/// One CLI's stream format.
pub trait StreamParser: Send {
    /// One JSON object from stdout.
    fn event(&mut self, obj: &serde_json::Map<String, Value>, notes: &mut Vec<Note>);
    /// One stderr line (already known not to be blank).
    fn stderr(&mut self, line: &str) {
        self.tally_mut().last_stderr = Some(short(line));
    }
    fn tally(&self) -> &Tally;
    fn tally_mut(&mut self) -> &mut Tally;
    /// The failure reason for a clean exit without a verdict, and for exit codes with a
    /// documented meaning.
    fn exit_meaning(&self, code: Option<i32>) -> Option<Verdict> {
        let _ = code;
        None
    }
}

/// Feed one stdout line to `parser`: a JSON object goes to [`StreamParser::event`] and
/// is returned (so the caller can forward it without parsing twice); any other non-blank
/// line becomes activity and is counted.
pub fn stdout_line(
    parser: &mut dyn StreamParser,
    line: &[u8],
    notes: &mut Vec<Note>,
) -> Option<serde_json::Map<String, Value>> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    if line.trim_ascii_start().first() == Some(&b'{') {
        if let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(line) {
            parser.event(&obj, notes);
            return Some(obj);
        }
    }
    parser.tally_mut().garbage_lines += 1;
    notes.push(Note::Activity(super::command::summarize(line)));
    None
}

/// The status of a run from its tally and how the process ended.
pub fn status(exit: &ProcessExit, parser: &dyn StreamParser) -> RunStatus {
    let tally = parser.tally();
    match exit.ending {
        Ending::Stalled => return RunStatus::Stalled,
        Ending::TimedOut => return RunStatus::TimedOut,
        Ending::Cancelled => {
            return RunStatus::Cancelled {
                reason: "cancelled by karajan".into(),
            };
        }
        Ending::Exited => {}
    }
    let how = match (exit.exit_code, exit.signal) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => "exited without a status".to_string(),
    };
    let with_stderr = |mut reason: String| {
        if let Some(line) = &tally.last_stderr {
            reason.push_str("; last stderr: ");
            reason.push_str(line);
        }
        reason
    };
    let verdict = tally
        .verdict
        .clone()
        .or_else(|| parser.exit_meaning(exit.exit_code));
    if let Some(limit) = &tally.usage_limit {
        // Limited and not a success: the run could not have done its work.
        if !matches!(verdict, Some(Verdict::Success)) || exit.exit_code != Some(0) {
            return RunStatus::UsageLimited {
                until: limit.until,
                reason: limit.reason.clone(),
            };
        }
    }
    match verdict {
        Some(Verdict::Success) if exit.exit_code == Some(0) => RunStatus::Succeeded,
        Some(Verdict::Success) => RunStatus::Failed {
            reason: with_stderr(format!("{how} after a successful result")),
        },
        Some(Verdict::Failed(reason)) => RunStatus::Failed {
            reason: format!("{reason} ({how})"),
        },
        Some(Verdict::MaxTurns) => RunStatus::MaxTurns,
        Some(Verdict::Budget(reason)) => RunStatus::BudgetExceeded { reason },
        None => {
            let mut reason = format!("{how}: the stream ended without a result");
            if let Some(e) = &tally.last_error {
                reason.push_str("; last error: ");
                reason.push_str(e);
            }
            RunStatus::Failed {
                reason: with_stderr(reason),
            }
        }
    }
}

/// `s` trimmed, on one line, cut to [`SUMMARY_CHARS`] characters (with `…`).
pub fn short(s: &str) -> String {
    let flat: String = s
        .trim()
        .chars()
        .take(SUMMARY_CHARS + 1)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > SUMMARY_CHARS {
        let mut cut: String = flat.chars().take(SUMMARY_CHARS).collect();
        cut.push('…');
        cut
    } else {
        flat
    }
}

/// A string field of a JSON object.
pub fn str_of<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

/// An unsigned integer field of a JSON value (0 when absent).
pub fn u64_of(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// A compact one-line rendering of a tool's input for summaries: the most telling
/// field when there is one (`command`, `file_path`, `path`, `pattern`, `url`), else the
/// JSON itself.
pub fn tool_input(input: Option<&Value>) -> String {
    let Some(v) = input else {
        return String::new();
    };
    for key in ["command", "file_path", "path", "pattern", "url", "query"] {
        if let Some(s) = v.get(key).and_then(Value::as_str) {
            return short(s);
        }
    }
    short(&v.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[derive(Default)]
    struct P(Tally);
    impl StreamParser for P {
        fn event(&mut self, _: &serde_json::Map<String, Value>, _: &mut Vec<Note>) {}
        fn tally(&self) -> &Tally {
            &self.0
        }
        fn tally_mut(&mut self) -> &mut Tally {
            &mut self.0
        }
    }

    fn exit(ending: Ending, code: Option<i32>, signal: Option<i32>) -> ProcessExit {
        ProcessExit {
            pid: 7,
            ending,
            exit_code: code,
            signal,
            duration: Duration::from_millis(1),
        }
    }

    #[test]
    fn verdict_and_exit_code_must_agree_for_success() {
        let mut p = P::default();
        p.0.verdict = Some(Verdict::Success);
        assert_eq!(
            status(&exit(Ending::Exited, Some(0), None), &p),
            RunStatus::Succeeded
        );
        p.0.last_stderr = Some("segfault".into());
        match status(&exit(Ending::Exited, Some(2), None), &p) {
            RunStatus::Failed { reason } => {
                assert!(
                    reason.contains("exit code 2") && reason.contains("segfault"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        p.0.verdict = Some(Verdict::MaxTurns);
        assert_eq!(
            status(&exit(Ending::Exited, Some(1), None), &p),
            RunStatus::MaxTurns
        );
        // The supervisor's own endings win over anything the stream said.
        assert_eq!(
            status(&exit(Ending::Stalled, None, Some(15)), &p),
            RunStatus::Stalled
        );
    }

    #[test]
    fn no_verdict_is_a_failure_naming_exit_and_last_error() {
        let mut p = P::default();
        p.0.last_error = Some("boom".into());
        match status(&exit(Ending::Exited, None, Some(9)), &p) {
            RunStatus::Failed { reason } => {
                assert!(reason.starts_with("killed by signal 9"), "{reason}");
                assert!(reason.contains("without a result") && reason.contains("boom"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_usage_limit_wins_over_failure_but_not_over_success() {
        let mut p = P::default();
        let until = chrono::DateTime::from_timestamp(1_771_390_800, 0);
        p.0.usage_limit = Some(UsageLimit {
            until,
            reason: "limit".into(),
        });
        p.0.verdict = Some(Verdict::Failed("API error 429".into()));
        assert_eq!(
            status(&exit(Ending::Exited, Some(1), None), &p),
            RunStatus::UsageLimited {
                until,
                reason: "limit".into()
            }
        );
        // Served from overage after a warning: the work was done.
        p.0.verdict = Some(Verdict::Success);
        assert_eq!(
            status(&exit(Ending::Exited, Some(0), None), &p),
            RunStatus::Succeeded
        );
        // karajan's own stops still say what karajan did.
        assert_eq!(
            status(&exit(Ending::Stalled, None, Some(15)), &p),
            RunStatus::Stalled
        );
    }

    #[test]
    fn a_run_refused_for_its_usage_limit_served_nothing() {
        let mut p = P::default();
        p.0.session_id = Some("t-1".into());
        assert_eq!(p.0.usage_basis(), UsageBasis::Unknown);
        p.0.usage_limit = Some(UsageLimit {
            until: None,
            reason: "429".into(),
        });
        assert_eq!(p.0.usage_basis(), UsageBasis::Reported);
        // After tool calls, earlier requests were served but not reported.
        p.0.tool_calls = 2;
        assert_eq!(p.0.usage_basis(), UsageBasis::Unknown);
    }

    #[test]
    fn quota_errors_are_told_from_other_errors() {
        for quota in [
            "exceeded retry limit, last status: 429 Too Many Requests, request id: r",
            "[API Error: Resource has been exhausted (e.g. check quota). (fake)]",
            "You've hit your usage limit. Upgrade to Pro or try again later.",
            r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}"#,
        ] {
            assert!(is_quota_error(quota), "{quota}");
        }
        for other in [
            "exceeded retry limit, last status: 503 Service Unavailable",
            "unexpected status 401 Unauthorized",
            "[API Error: 500 Internal Server Error]",
            "request 4290 failed",
        ] {
            assert!(!is_quota_error(other), "{other}");
        }
    }

    #[test]
    fn non_json_lines_are_counted_as_activity() {
        let mut p = P::default();
        let mut notes = Vec::new();
        stdout_line(&mut p, b"hello", &mut notes);
        stdout_line(&mut p, b"{broken", &mut notes);
        stdout_line(&mut p, b"  ", &mut notes);
        stdout_line(&mut p, br#"{"type":"x"}"#, &mut notes);
        assert_eq!(p.0.garbage_lines, 2);
        assert_eq!(notes.len(), 2);
    }

    #[test]
    fn short_flattens_and_cuts() {
        assert_eq!(short("  a\nb  "), "a b");
        let s = short(&"x".repeat(500));
        assert_eq!(s.chars().count(), SUMMARY_CHARS + 1);
        assert!(s.ends_with('…'));
        let v: Value = serde_json::json!({"command": "ls -la", "x": 1});
        assert_eq!(tool_input(Some(&v)), "ls -la");
        assert_eq!(tool_input(Some(&serde_json::json!({"a": 1}))), r#"{"a":1}"#);
    }
}

/// Helpers for the parsers' tests: feeding lines, and the real CLI samples.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::PathBuf;

    use super::{Note, StreamParser, stdout_line};

    /// Feed stdout lines to a parser; returns it and the notes it produced.
    pub fn feed<'a, P: StreamParser>(
        mut parser: P,
        lines: impl IntoIterator<Item = &'a str>,
    ) -> (P, Vec<Note>) {
        let mut notes = Vec::new();
        for l in lines {
            stdout_line(&mut parser, l.as_bytes(), &mut notes);
        }
        (parser, notes)
    }

    /// The folder of real streams recorded from `cli` (`../shared/samples/<cli>`), or
    /// `None` with a visible SKIPPED message when it is absent.
    pub fn samples(cli: &str) -> Option<PathBuf> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/samples")
            .join(cli);
        if dir.is_dir() {
            Some(dir)
        } else {
            eprintln!(
                "SKIPPED: {} is absent; real {cli} samples not checked",
                dir.display()
            );
            None
        }
    }

    /// A process that exited by itself with `code`.
    pub fn exited(code: i32) -> crate::agent::process::ProcessExit {
        crate::agent::process::ProcessExit {
            pid: 7,
            ending: crate::agent::process::Ending::Exited,
            exit_code: Some(code),
            signal: None,
            duration: std::time::Duration::from_millis(1),
        }
    }

    /// One recorded stdout stream of a sample.
    pub fn sample_text(dir: &std::path::Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(format!("{name}.jsonl"))).expect("sample")
    }
}
