//! Codex's `codex exec --json` stream.
//!
//! - `thread.started {thread_id}`: the session id (`codex exec resume <thread_id>`).
//! - `turn.started`; `item.started` / `item.updated` / `item.completed` carrying an
//!   `agent_message`, `reasoning`, `command_execution`, `file_change`, `mcp_tool_call`,
//!   `web_search`, `todo_list` or `error` item (an `error` ITEM is a warning, e.g.
//!   "Model metadata not found"; the turn goes on).
//! - `turn.completed {usage}`: success. Usage is `input_tokens` (cached ones included),
//!   `cached_input_tokens`, `cache_write_input_tokens`, `output_tokens`; karajan records
//!   `input = input_tokens − cached_input_tokens` so "input" means uncached input for
//!   every CLI. `output_tokens` includes `reasoning_output_tokens` (billed as output).
//!   The usage is the THREAD's total: on `codex exec resume` it includes every earlier
//!   turn of the thread, so the driver records the run's own share (the total minus
//!   what the thread had reported before) and keeps the total too.
//! - Usage comes only with `turn.completed`: a turn stopped before it (karajan's turn
//!   limit, a stall, a timeout) or ending in `turn.failed` reports none, and its usage
//!   is unknown.
//! - `turn.failed {error}` and a top-level `error` are failures, except `error` events
//!   whose message starts with `Reconnecting...`, which announce a retry. A failure
//!   whose message is a quota error (`exceeded retry limit, last status: 429 Too Many
//!   Requests`, `You've hit your usage limit`) is a usage limit: Codex gives no reset
//!   time, so the orchestrator pauses the runner for `agent.usage_limit_pause`.
//!
//! Codex reports no cost (the driver prices the tokens) and no turn count: karajan
//! counts model turns as 1 + tool calls (commands, file changes, MCP calls, web
//! searches), the same measure Claude Code's `num_turns` gives.
//!
//! Resuming an unknown thread prints nothing on stdout and `no rollout found for thread
//! id …` on stderr (exit 1); the parser flags that.

use serde_json::Value;

use super::stream::{
    Note, StreamParser, Tally, UsageLimit, Verdict, is_quota_error, short, str_of, u64_of,
};
use crate::domain::TokenUsage;

#[derive(Debug, Default)]
pub struct CodexStream {
    tally: Tally,
    saw_thread: bool,
}

impl CodexStream {
    pub fn new() -> Self {
        let mut s = Self::default();
        s.tally.thread_cumulative = true;
        s
    }

    /// A failure message that says the quota is exhausted marks the run usage-limited.
    fn note_quota(&mut self, msg: &str) {
        if is_quota_error(msg) {
            self.tally.usage_limit = Some(UsageLimit {
                until: None,
                reason: short(&format!("Codex: {msg}")),
            });
        }
    }

    fn item(&mut self, phase: &str, item: &Value, notes: &mut Vec<Note>) {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
        let completed = phase == "item.completed";
        let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("");
        let summary = match kind {
            "agent_message" => {
                if completed {
                    self.tally.final_message.said(text("text"));
                }
                short(text("text"))
            }
            "reasoning" => "thinking".to_string(),
            "command_execution" => {
                if completed {
                    self.tally.tool_calls += 1;
                    match item.get("exit_code").and_then(Value::as_i64) {
                        Some(code) => short(&format!("$ {} (exit {code})", text("command"))),
                        None => short(&format!("$ {}", text("command"))),
                    }
                } else {
                    short(&format!("$ {}", text("command")))
                }
            }
            "file_change" => {
                if completed {
                    self.tally.tool_calls += 1;
                }
                let changes: Vec<String> = item
                    .get("changes")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|c| format!("{} {}", text_of(c, "kind"), text_of(c, "path")))
                    .collect();
                short(&format!("edit: {}", changes.join(", ")))
            }
            "mcp_tool_call" | "web_search" => {
                if completed {
                    self.tally.tool_calls += 1;
                }
                let what = [text("tool"), text("query")].join(" ");
                short(&format!("{kind}: {}", what.trim()))
            }
            "todo_list" => "updated its plan".to_string(),
            "error" => short(&format!("warning: {}", text("message"))),
            _ => short(&format!("{phase}: {kind}")),
        };
        if !summary.is_empty() {
            notes.push(Note::Activity(summary));
        }
    }
}

fn text_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

impl StreamParser for CodexStream {
    fn event(&mut self, obj: &serde_json::Map<String, Value>, notes: &mut Vec<Note>) {
        let kind = str_of(obj, "type").unwrap_or("");
        match kind {
            "thread.started" => {
                self.saw_thread = true;
                if let Some(n) = str_of(obj, "thread_id").and_then(|id| self.tally.session(id)) {
                    notes.push(n);
                }
                notes.push(Note::Activity("thread started".into()));
            }
            "turn.started" => notes.push(Note::Activity("turn started".into())),
            "item.started" | "item.updated" | "item.completed" => {
                if let Some(item) = obj.get("item") {
                    self.item(kind, item, notes);
                }
            }
            "turn.completed" => {
                if let Some(u) = obj.get("usage") {
                    let input = u64_of(u, "input_tokens");
                    let cached = u64_of(u, "cached_input_tokens");
                    // The thread's total so far (cumulative): the latest report wins.
                    self.tally.tokens = TokenUsage {
                        input: input.saturating_sub(cached),
                        output: u64_of(u, "output_tokens"),
                        cache_read: cached,
                        cache_write: u64_of(u, "cache_write_input_tokens"),
                    };
                    self.tally.usage_final = true;
                }
                if !matches!(self.tally.verdict, Some(Verdict::Failed(_))) {
                    self.tally.verdict = Some(Verdict::Success);
                }
                notes.push(Note::Activity("turn completed".into()));
            }
            "turn.failed" => {
                let msg = obj
                    .get("error")
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("turn failed");
                self.tally.last_error = Some(short(msg));
                self.note_quota(msg);
                self.tally.verdict = Some(Verdict::Failed(format!("turn failed: {}", short(msg))));
                notes.push(Note::Activity(short(&format!("turn failed: {msg}"))));
            }
            "error" => {
                let msg = str_of(obj, "message").unwrap_or("error");
                if msg.starts_with("Reconnecting") {
                    notes.push(Note::Activity(short(msg)));
                } else {
                    self.tally.last_error = Some(short(msg));
                    self.note_quota(msg);
                    self.tally.verdict = Some(Verdict::Failed(format!("error: {}", short(msg))));
                    notes.push(Note::Activity(short(&format!("error: {msg}"))));
                }
            }
            _ => self.tally.unknown_events += 1,
        }
        if self.tally.tool_calls > 0 || self.tally.verdict.is_some() {
            self.tally.turns = Some(1 + self.tally.tool_calls);
        }
    }

    fn stderr(&mut self, line: &str) {
        if !self.saw_thread
            && (line.contains("no rollout found") || line.contains("thread/resume failed"))
        {
            self.tally.unknown_session = true;
        }
        self.tally.last_stderr = Some(short(line));
    }

    fn tally(&self) -> &Tally {
        &self.tally
    }

    fn tally_mut(&mut self) -> &mut Tally {
        &mut self.tally
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::stream::testing;

    fn feed(lines: &[&str]) -> (CodexStream, Vec<Note>) {
        testing::feed(CodexStream::new(), lines.iter().copied())
    }

    #[test]
    fn success_sums_usage_and_counts_tool_turns() {
        let (p, notes) = feed(&[
            r#"{"type":"thread.started","thread_id":"th-1"}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"item.completed","item":{"id":"i0","type":"error","message":"Model metadata for `x` not found."}}"#,
            r#"{"type":"item.started","item":{"id":"i1","type":"command_execution","command":"ls","status":"in_progress"}}"#,
            r#"{"type":"item.completed","item":{"id":"i1","type":"command_execution","command":"ls","exit_code":0,"status":"completed"}}"#,
            r#"{"type":"item.completed","item":{"id":"i2","type":"file_change","changes":[{"path":"a.txt","kind":"add"}],"status":"completed"}}"#,
            r#"{"type":"item.completed","item":{"id":"i3","type":"agent_message","text":"All done."}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":1000,"cached_input_tokens":400,"cache_write_input_tokens":3,"output_tokens":50,"reasoning_output_tokens":7}}"#,
        ]);
        let t = p.tally();
        assert_eq!(t.session_id.as_deref(), Some("th-1"));
        assert_eq!(t.verdict, Some(Verdict::Success));
        assert_eq!(
            t.tokens,
            TokenUsage {
                input: 600,
                output: 50,
                cache_read: 400,
                cache_write: 3
            }
        );
        assert_eq!(t.tool_calls, 2);
        assert_eq!(t.turns, Some(3));
        assert!(notes.contains(&Note::Activity("$ ls (exit 0)".into())));
        assert!(notes.contains(&Note::Activity("edit: add a.txt".into())));
        assert!(notes.contains(&Note::Activity("All done.".into())));
        assert!(
            notes.iter().any(
                |n| matches!(n, Note::Activity(a) if a.starts_with("warning: Model metadata"))
            )
        );
    }

    #[test]
    fn reconnecting_is_not_failure_but_error_and_turn_failed_are() {
        let (p, _) = feed(&[
            r#"{"type":"thread.started","thread_id":"th-1"}"#,
            r#"{"type":"error","message":"Reconnecting... 1/5 (stream disconnected)"}"#,
        ]);
        assert_eq!(p.tally().verdict, None);
        let (p, _) = feed(&[
            r#"{"type":"thread.started","thread_id":"th-1"}"#,
            r#"{"type":"error","message":"quota exceeded"}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":1}}"#,
        ]);
        assert!(matches!(&p.tally().verdict, Some(Verdict::Failed(r)) if r.contains("quota")));
        let (p, _) = feed(&[
            r#"{"type":"turn.failed","error":{"message":"401 Unauthorized"}}"#,
            r#"{"type":"future.event"}"#,
        ]);
        assert!(matches!(&p.tally().verdict, Some(Verdict::Failed(r)) if r.contains("401")));
        assert_eq!(p.tally().unknown_events, 1);
    }

    #[test]
    fn unknown_thread_on_resume_is_flagged() {
        let mut p = CodexStream::new();
        p.stderr("Error: thread/resume: thread/resume failed: no rollout found for thread id x (code -32600)");
        assert!(p.tally().unknown_session);
    }

    /// The streams recorded from the real `@openai/codex` 0.169.0.
    #[test]
    fn real_samples() {
        let Some(dir) = testing::samples("codex") else {
            return;
        };
        let read = |name: &str| {
            let text = testing::sample_text(&dir, name);
            let (mut p, _) = testing::feed(CodexStream::new(), text.lines());
            for l in std::fs::read_to_string(dir.join(format!("{name}.stderr.txt")))
                .unwrap_or_default()
                .lines()
            {
                p.stderr(l);
            }
            p
        };
        let ok = read("write-and-commit");
        assert_eq!(ok.tally().verdict, Some(Verdict::Success));
        assert_eq!(
            ok.tally().session_id.as_deref(),
            Some("01a1fc93-31ca-7953-bc89-b52fca151c8c")
        );
        assert_eq!(ok.tally().tokens.input, 21489);
        assert_eq!(ok.tally().tokens.output, 303);
        assert_eq!(ok.tally().turns, Some(3));
        assert!(!ok.tally().unknown_session);
        // The final message is the agent's last words, not its earlier ones.
        assert_eq!(
            read("multi-write").tally().final_message.text(),
            Some("Wrote 3 files.")
        );
        for name in [
            "error-500",
            "rate-limit-429",
            "auth-error-401",
            "stream-cut",
            "stream-error",
            "overloaded-503",
        ] {
            assert!(
                matches!(read(name).tally().verdict, Some(Verdict::Failed(_))),
                "{name}"
            );
        }
        for name in [
            "flaky-500",
            "text-only",
            "bash",
            "multi-write",
            "resume",
            "resume-turn2",
            "write-and-commit-workspace-write",
        ] {
            let p = read(name);
            assert_eq!(p.tally().verdict, Some(Verdict::Success), "{name}");
            assert_eq!(p.tally().unknown_events, 0, "{name}");
        }
        assert_eq!(read("hang-killed").tally().verdict, None);
        // Killed before `turn.completed`: a thread was opened, no usage reported.
        assert_eq!(
            read("hang-killed").tally().usage_basis(),
            crate::domain::run::UsageBasis::Unknown
        );
        // The resumed turn reports the thread's total (14081 of it from turn 1).
        let resumed = read("resume-turn2");
        assert!(resumed.tally().thread_cumulative && resumed.tally().usage_final);
        assert_eq!(resumed.tally().tokens.input, 21299);
    }

    #[test]
    fn a_429_after_codex_retries_is_a_usage_limit_without_a_reset_time() {
        // From the recorded `rate-limit-429` sample.
        let (p, _) = feed(&[
            r#"{"type":"thread.started","thread_id":"t-1"}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"error","message":"Reconnecting... 1/1 (exceeded retry limit, last status: 429 Too Many Requests, request id: r1)"}"#,
            r#"{"type":"error","message":"exceeded retry limit, last status: 429 Too Many Requests, request id: r2"}"#,
            r#"{"type":"turn.failed","error":{"message":"exceeded retry limit, last status: 429 Too Many Requests, request id: r2"}}"#,
        ]);
        match crate::agent::stream::status(&testing::exited(1), &p) {
            crate::domain::RunStatus::UsageLimited {
                until: None,
                reason,
            } => {
                assert!(reason.contains("429 Too Many Requests"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        let Some(dir) = testing::samples("codex") else {
            return;
        };
        for (name, limited) in [
            ("rate-limit-429", true),
            ("error-500", false),
            ("overloaded-503", false),
            ("auth-error-401", false),
            ("stream-error", false),
        ] {
            let (p, _) =
                testing::feed(CodexStream::new(), testing::sample_text(&dir, name).lines());
            assert_eq!(p.tally().usage_limit.is_some(), limited, "{name}");
        }
    }
}
