//! Gemini CLI's `--output-format stream-json` stream.
//!
//! - `init {session_id, model}`: the session id (`--resume <uuid>`).
//! - `message {role, content, delta}`: `user` echoes the prompt (it may be megabytes);
//!   `assistant` text arrives in delta chunks.
//! - `tool_use {tool_name, tool_id, parameters}`, `tool_result {tool_id, status, output}`.
//! - `error {severity, message}`: reported, but not itself the outcome.
//! - `result {status, error?, stats}`: the outcome. `stats` holds `total_tokens`,
//!   `input_tokens` (cached ones included), `cached`, `input` (uncached),
//!   `output_tokens`, `duration_ms`, `tool_calls`, and the same per model under
//!   `models` (priced per model). Thinking tokens are not in `output_tokens`: they are
//!   the rest of `total_tokens`, and are recorded as output, as Google bills them.
//!   Usage comes only with `result`: a run stopped before it has unknown usage.
//!   A failed result whose error (or the last error) is a quota error (`Resource has
//!   been exhausted (e.g. check quota)`, `RESOURCE_EXHAUSTED`) is a usage limit: Gemini
//!   gives no reset time, so the orchestrator pauses the runner for
//!   `agent.usage_limit_pause`.
//!
//! **Exit codes do not tell the outcome**: an in-stream error and a SIGTERM both exit 0,
//! API errors exit with assorted codes. `result.status` decides. Without a result, the
//! documented exit codes of the CLI's fatal errors name the cause (41 authentication,
//! 42 input — which includes an unknown session to resume —, 44 sandbox, 52 config,
//! 53 turn limit, 54 tool execution, 55 untrusted workspace, 130 cancelled).
//!
//! Gemini reports no cost and no turn count: the driver prices the tokens, and turns
//! are counted as 1 + tool calls.

use serde_json::Value;

use super::stream::{
    Note, StreamParser, Tally, UsageLimit, Verdict, is_quota_error, short, str_of, tool_input,
    u64_of,
};
use crate::domain::TokenUsage;

#[derive(Debug, Default)]
pub struct GeminiStream {
    tally: Tally,
    saw_init: bool,
}

fn usage_of(s: &Value) -> TokenUsage {
    let cached = u64_of(s, "cached");
    let input = match s.get("input").and_then(Value::as_u64) {
        Some(uncached) => uncached,
        None => u64_of(s, "input_tokens").saturating_sub(cached),
    };
    let output = u64_of(s, "output_tokens");
    // Thinking tokens appear only in `total_tokens` (prompt + candidates + thoughts);
    // Google bills them as output.
    let thoughts = u64_of(s, "total_tokens").saturating_sub(u64_of(s, "input_tokens") + output);
    TokenUsage {
        input,
        output: output + thoughts,
        cache_read: cached,
        cache_write: 0,
    }
}

impl GeminiStream {
    pub fn new() -> Self {
        Self::default()
    }

    fn result(&mut self, obj: &serde_json::Map<String, Value>, notes: &mut Vec<Note>) {
        let t = &mut self.tally;
        if let Some(stats) = obj.get("stats") {
            t.tokens = usage_of(stats);
            t.usage_final = true;
            t.duration_ms = stats.get("duration_ms").and_then(Value::as_u64);
            if let Some(n) = stats.get("tool_calls").and_then(Value::as_u64) {
                t.tool_calls = u32::try_from(n).unwrap_or(u32::MAX);
            }
            t.models = stats
                .get("models")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(name, s)| (name.clone(), usage_of(s)))
                .collect();
        }
        t.turns = Some(1 + t.tool_calls);
        let status = str_of(obj, "status").unwrap_or("");
        let verdict = if status == "success" {
            Verdict::Success
        } else {
            let msg = obj
                .get("error")
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .map(short)
                .or_else(|| t.last_error.clone())
                .unwrap_or_else(|| format!("result status `{status}`"));
            if is_quota_error(&msg) {
                t.usage_limit = Some(UsageLimit {
                    until: None,
                    reason: short(&format!("Gemini: {msg}")),
                });
            }
            Verdict::Failed(format!("result {status}: {msg}"))
        };
        notes.push(Note::Activity(match &verdict {
            Verdict::Success => "finished".to_string(),
            Verdict::Failed(r) => short(r),
            _ => String::new(),
        }));
        t.verdict = Some(verdict);
    }
}

impl StreamParser for GeminiStream {
    fn event(&mut self, obj: &serde_json::Map<String, Value>, notes: &mut Vec<Note>) {
        match str_of(obj, "type").unwrap_or("") {
            "init" => {
                self.saw_init = true;
                if let Some(n) = str_of(obj, "session_id").and_then(|id| self.tally.session(id)) {
                    notes.push(n);
                }
                if let Some(m) = str_of(obj, "model").filter(|m| *m != "auto") {
                    self.tally.model = Some(m.to_string());
                }
                notes.push(Note::Activity("session started".into()));
            }
            "message" => {
                if str_of(obj, "role") == Some("assistant") {
                    let text = str_of(obj, "content").unwrap_or("");
                    self.tally.final_message.continued(text);
                    if !text.trim().is_empty() {
                        notes.push(Note::Activity(short(text)));
                    }
                }
            }
            "tool_use" => {
                self.tally.final_message.interrupted();
                self.tally.tool_calls += 1;
                self.tally.turns = Some(1 + self.tally.tool_calls);
                let name = str_of(obj, "tool_name").unwrap_or("tool");
                let input = tool_input(obj.get("parameters"));
                notes.push(Note::Activity(short(&format!("{name}: {input}"))));
            }
            "tool_result" => {
                let status = str_of(obj, "status").unwrap_or("?");
                notes.push(Note::Activity(format!("tool result: {status}")));
            }
            "error" => {
                let msg = str_of(obj, "message").unwrap_or("error");
                let severity = str_of(obj, "severity").unwrap_or("error");
                if severity == "error" {
                    self.tally.last_error = Some(short(msg));
                }
                notes.push(Note::Activity(short(&format!("{severity}: {msg}"))));
            }
            "result" => self.result(obj, notes),
            _ => self.tally.unknown_events += 1,
        }
    }

    fn stderr(&mut self, line: &str) {
        if !self.saw_init && line.contains("Error resuming session") {
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

    fn exit_meaning(&self, code: Option<i32>) -> Option<Verdict> {
        let why = match code? {
            41 => "authentication failed",
            42 => "invalid input",
            44 => "sandbox error",
            52 => "configuration error",
            53 => return Some(Verdict::MaxTurns),
            54 => "tool execution failed",
            55 => "the workspace is not trusted (consider `--skip-trust` in extra_args)",
            130 => "cancelled",
            _ => return None,
        };
        let mut reason = format!("Gemini CLI: {why}");
        if let Some(e) = &self.tally.last_stderr {
            reason.push_str(": ");
            reason.push_str(e);
        }
        Some(Verdict::Failed(reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::stream::testing;

    fn feed(lines: &[&str]) -> (GeminiStream, Vec<Note>) {
        testing::feed(GeminiStream::new(), lines.iter().copied())
    }

    const INIT: &str = r#"{"type":"init","session_id":"g-1","model":"auto"}"#;

    #[test]
    fn success_with_stats_and_per_model_usage() {
        let (p, notes) = feed(&[
            INIT,
            r#"{"type":"message","role":"user","content":"the prompt"}"#,
            r#"{"type":"message","role":"assistant","content":"Working on it","delta":true}"#,
            r#"{"type":"tool_use","tool_name":"run_shell_command","tool_id":"t1","parameters":{"command":"make test"}}"#,
            r#"{"type":"tool_result","tool_id":"t1","status":"success","output":"ok"}"#,
            r#"{"type":"result","status":"success","stats":{"total_tokens":1532,"input_tokens":1422,"output_tokens":110,"cached":22,"input":1400,"duration_ms":368,"tool_calls":1,"models":{"gemini-2.5-flash":{"input_tokens":1422,"output_tokens":110,"cached":22,"input":1400}}}}"#,
        ]);
        let t = p.tally();
        assert_eq!(t.session_id.as_deref(), Some("g-1"));
        assert_eq!(t.model, None, "`auto` is not a model name");
        assert_eq!(t.verdict, Some(Verdict::Success));
        assert_eq!(
            t.tokens,
            TokenUsage {
                input: 1400,
                output: 110,
                cache_read: 22,
                cache_write: 0
            }
        );
        assert_eq!(t.models.len(), 1);
        assert_eq!(t.turns, Some(2));
        assert_eq!(t.duration_ms, Some(368));
        assert!(notes.contains(&Note::Activity("run_shell_command: make test".into())));
        assert!(!notes.contains(&Note::Activity("the prompt".into())));
    }

    /// Gemini bills thinking tokens as output, and its stats count them only in
    /// `total_tokens` (= input_tokens + output_tokens + thoughts): 108 visible output
    /// tokens plus 400 thinking tokens were 508 served. Shape of the real 0.61.0 result.
    #[test]
    fn thinking_tokens_count_as_output() {
        let (p, _) = feed(&[
            INIT,
            r#"{"type":"message","timestamp":"2026-11-21T05:28:05.900Z","role":"assistant","content":"Done.","delta":true}"#,
            r#"{"type":"result","timestamp":"2026-11-21T05:28:05.963Z","status":"success","stats":{"total_tokens":1530,"input_tokens":1022,"output_tokens":108,"cached":22,"input":1000,"duration_ms":368,"tool_calls":0,"models":{"gemini-2.5-flash-lite":{"total_tokens":240,"input_tokens":222,"output_tokens":18,"cached":0,"input":222},"gemini-2.5-pro":{"total_tokens":1290,"input_tokens":800,"output_tokens":90,"cached":22,"input":778}}}}"#,
        ]);
        let t = p.tally();
        assert_eq!(t.tokens.output, 508, "{:?}", t.tokens);
        assert_eq!(t.tokens.input, 1000);
        assert_eq!(t.tokens.cache_read, 22);
        let pro = t
            .models
            .iter()
            .find(|(m, _)| m == "gemini-2.5-pro")
            .expect("pro");
        assert_eq!(pro.1.output, 490);
        let lite = t
            .models
            .iter()
            .find(|(m, _)| m == "gemini-2.5-flash-lite")
            .expect("lite");
        assert_eq!(lite.1.output, 18);
    }

    #[test]
    fn status_error_is_failure_with_the_best_message() {
        let (p, _) = feed(&[
            INIT,
            r#"{"type":"error","severity":"error","message":"Model stream ended without a finish reason."}"#,
            r#"{"type":"result","status":"error","stats":{"input_tokens":5,"output_tokens":1,"cached":0}}"#,
        ]);
        assert!(
            matches!(&p.tally().verdict, Some(Verdict::Failed(r)) if r.contains("finish reason"))
        );
        let (p, _) = feed(&[
            INIT,
            r#"{"type":"result","status":"error","error":{"type":"unknown","message":"[API Error: 500]"}}"#,
            r#"{"type":"novel"}"#,
        ]);
        assert!(
            matches!(&p.tally().verdict, Some(Verdict::Failed(r)) if r.contains("API Error: 500"))
        );
        assert_eq!(p.tally().unknown_events, 1);
    }

    #[test]
    fn documented_exit_codes_explain_a_missing_result() {
        let mut p = GeminiStream::new();
        p.stderr("Error resuming session: No previous sessions found for this project.");
        assert!(p.tally().unknown_session);
        assert!(
            matches!(p.exit_meaning(Some(42)), Some(Verdict::Failed(r)) if r.contains("invalid input"))
        );
        assert_eq!(p.exit_meaning(Some(53)), Some(Verdict::MaxTurns));
        assert_eq!(p.exit_meaning(Some(0)), None);
        assert_eq!(p.exit_meaning(None), None);
    }

    /// The streams recorded from the real `@google/gemini-cli` 0.61.0.
    #[test]
    fn real_samples() {
        let Some(dir) = testing::samples("gemini") else {
            return;
        };
        let read = |name: &str| {
            let text = testing::sample_text(&dir, name);
            let (p, _) = testing::feed(GeminiStream::new(), text.lines());
            p
        };
        let ok = read("write-and-commit");
        let t = ok.tally();
        assert_eq!(t.verdict, Some(Verdict::Success));
        assert_eq!(
            t.session_id.as_deref(),
            Some("a5742aa6-a9c1-4e6f-bd86-091e5f0ad4f3")
        );
        assert_eq!(t.tokens.input, 1422);
        assert_eq!(t.tokens.output, 110);
        assert_eq!(t.tool_calls, 2);
        assert_eq!(t.models.len(), 2);
        assert_eq!(t.unknown_events, 0);
        // The final message is the agent's last words, not its earlier ones.
        assert_eq!(
            read("multi-write").tally().final_message.text(),
            Some("Wrote 3 files.")
        );
        for name in [
            "error-500",
            "overloaded-503",
            "rate-limit-429",
            "auth-error-401",
            "stream-cut",
            "stream-error",
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
        ] {
            assert_eq!(read(name).tally().verdict, Some(Verdict::Success), "{name}");
        }
        assert_eq!(read("hang-killed").tally().verdict, None);
        // Usage comes only with `result`: killed before it, the usage is unknown.
        assert_eq!(
            read("hang-killed").tally().usage_basis(),
            crate::domain::run::UsageBasis::Unknown
        );
        // An API error still reports what was served (the router's call).
        let failed = read("error-500");
        assert!(failed.tally().usage_final);
        assert_eq!(failed.tally().tokens.input, 218);
    }

    #[test]
    fn an_exhausted_quota_is_a_usage_limit_without_a_reset_time() {
        // From the recorded `rate-limit-429` sample.
        let (p, _) = feed(&[
            r#"{"type":"init","session_id":"g-1","model":"auto"}"#,
            r#"{"type":"result","status":"error","error":{"type":"unknown","message":"[API Error: Resource has been exhausted (e.g. check quota). (fake)]\nPlease wait and try again later."},"stats":{"total_tokens":240,"input_tokens":222,"output_tokens":18,"cached":0,"input":222,"duration_ms":0,"tool_calls":0}}"#,
        ]);
        match crate::agent::stream::status(&testing::exited(1), &p) {
            crate::domain::RunStatus::UsageLimited {
                until: None,
                reason,
            } => {
                assert!(reason.contains("Resource has been exhausted"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        let Some(dir) = testing::samples("gemini") else {
            return;
        };
        for (name, limited) in [
            ("rate-limit-429", true),
            ("error-500", false),
            ("overloaded-503", false),
            ("auth-error-401", false),
            ("stream-error", false),
        ] {
            let (p, _) = testing::feed(
                GeminiStream::new(),
                testing::sample_text(&dir, name).lines(),
            );
            assert_eq!(p.tally().usage_limit.is_some(), limited, "{name}");
        }
    }
}
