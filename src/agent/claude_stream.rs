//! Claude Code's `--output-format stream-json --verbose` stream.
//!
//! - `system`/`init` opens the stream with the `session_id` and the model;
//!   `system`/`api_retry` announces an API retry; other `system` subtypes are tolerated.
//! - `assistant` carries a message whose `content` holds `text`, `thinking` and
//!   `tool_use` blocks (one block per line; several lines share a message id and repeat
//!   its usage, so per-message usage is kept by id, never summed per line).
//! - `user` carries `tool_result` blocks.
//! - `result` ends the stream: `subtype`, `is_error`, `num_turns`, `duration_ms`,
//!   `total_cost_usd`, `usage` (with `cache_creation_input_tokens` and
//!   `cache_read_input_tokens`), `modelUsage` (the same per model, camelCase), `errors`.
//!   Tokens come from `modelUsage` summed over models when it is present: on
//!   `error_max_budget_usd`, `usage` covers only the run's first API call. `is_error: true` is a failure even when the
//!   subtype says `success` (API errors end that way). `error_max_turns`,
//!   `error_max_budget_usd` and `error_during_execution` map to distinct outcomes.
//! - `rate_limit_event` carries `rate_limit_info {status, resetsAt (Unix seconds),
//!   rateLimitType}`: `rejected` means the plan's limit is hit until `resetsAt` (the run
//!   then ends with an error result and becomes `usage_limited`); `allowed` and
//!   `allowed_warning` are informational and clear an earlier rejection. A final error
//!   result with `api_error_status: 429` (Claude Code already retried) is a usage limit
//!   too, without a reset time.
//! - `stream_event` (partial messages) is tolerated; any other type is counted as unknown.
//!
//! Resuming a session Claude Code does not know prints `No conversation found with
//! session ID: …` on stderr and in the result's `errors`, with no `init` line; the
//! parser flags that so the driver can fall back to a fresh session.

use indexmap::IndexMap;
use serde_json::Value;

use super::stream::{
    Note, StreamParser, Tally, UsageLimit, Verdict, short, str_of, tool_input, u64_of,
};
use crate::domain::TokenUsage;

const UNKNOWN_SESSION: &str = "No conversation found with session ID";

#[derive(Debug, Default)]
pub struct ClaudeStream {
    tally: Tally,
    saw_init: bool,
    /// Usage per assistant message id (last seen wins), for streams cut before `result`.
    message_usage: IndexMap<String, TokenUsage>,
    saw_result: bool,
}

fn usage_of(u: &Value) -> TokenUsage {
    TokenUsage {
        input: u64_of(u, "input_tokens"),
        output: u64_of(u, "output_tokens"),
        cache_read: u64_of(u, "cache_read_input_tokens"),
        cache_write: u64_of(u, "cache_creation_input_tokens"),
    }
}

/// `result.modelUsage`: `{model: {inputTokens, outputTokens, cacheReadInputTokens,
/// cacheCreationInputTokens, costUSD, …}}`, in the stream's order.
fn model_usage(v: Option<&Value>) -> Vec<(String, TokenUsage)> {
    v.and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(model, u)| {
            (
                model.clone(),
                TokenUsage {
                    input: u64_of(u, "inputTokens"),
                    output: u64_of(u, "outputTokens"),
                    cache_read: u64_of(u, "cacheReadInputTokens"),
                    cache_write: u64_of(u, "cacheCreationInputTokens"),
                },
            )
        })
        .collect()
}

impl ClaudeStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// `rate_limit_event`: remember a rejection (with its reset time), forget it when a
    /// later event allows again.
    fn rate_limit(&mut self, obj: &serde_json::Map<String, Value>, notes: &mut Vec<Note>) {
        let Some(info) = obj.get("rate_limit_info") else {
            return;
        };
        let kind = info
            .get("rateLimitType")
            .and_then(Value::as_str)
            .unwrap_or("plan");
        match info.get("status").and_then(Value::as_str) {
            Some("rejected") => {
                let until = info
                    .get("resetsAt")
                    .and_then(Value::as_i64)
                    .and_then(|s| chrono::DateTime::from_timestamp(s, 0));
                let reason = format!("Claude Code {kind} usage limit reached");
                notes.push(Note::Activity(short(&match until {
                    Some(t) => format!("{reason}; resets at {}", t.format("%H:%M:%S UTC")),
                    None => reason.clone(),
                })));
                self.tally.usage_limit = Some(UsageLimit { until, reason });
            }
            Some(_) => self.tally.usage_limit = None,
            None => {}
        }
    }

    fn assistant(&mut self, msg: &Value, notes: &mut Vec<Note>) {
        if let Some(model) = msg.get("model").and_then(Value::as_str) {
            if !model.starts_with('<') {
                self.tally.model = Some(model.to_string());
            }
        }
        if let (Some(id), Some(u)) = (msg.get("id").and_then(Value::as_str), msg.get("usage")) {
            self.message_usage.insert(id.to_string(), usage_of(u));
            if !self.saw_result {
                self.tally.usage_seen = true;
                let mut sum = TokenUsage::default();
                for u in self.message_usage.values() {
                    sum.add(u);
                }
                self.tally.tokens = sum;
            }
        }
        for block in msg
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match block.get("type").and_then(Value::as_str) {
                Some("text") => {
                    let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                    if !text.trim().is_empty() {
                        notes.push(Note::Activity(short(text)));
                        self.tally.final_message.said(text);
                    }
                }
                Some("tool_use") => {
                    self.tally.tool_calls += 1;
                    let name = block.get("name").and_then(Value::as_str).unwrap_or("tool");
                    let input = tool_input(block.get("input"));
                    notes.push(Note::Activity(short(&format!("{name}: {input}"))));
                }
                Some("thinking") => notes.push(Note::Activity("thinking".into())),
                _ => {}
            }
        }
    }

    fn user(&mut self, msg: &Value, notes: &mut Vec<Note>) {
        for block in msg
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if block.get("type").and_then(Value::as_str) == Some("tool_result") {
                let failed = block.get("is_error").and_then(Value::as_bool) == Some(true);
                notes.push(Note::Activity(
                    if failed {
                        "tool result: error"
                    } else {
                        "tool result: ok"
                    }
                    .into(),
                ));
            }
        }
    }

    fn result(&mut self, obj: &serde_json::Map<String, Value>, notes: &mut Vec<Note>) {
        self.saw_result = true;
        let t = &mut self.tally;
        if let Some(id) = str_of(obj, "session_id") {
            // A failed resume reports the id it was asked for; that is not our session.
            if self.saw_init {
                if let Some(n) = t.session(id) {
                    notes.push(n);
                }
            }
        }
        // `modelUsage` holds every API call of the run per model; `usage` may hold only
        // the first call's (a budget stop), so the per-model totals win when present.
        let per_model = model_usage(obj.get("modelUsage"));
        if !per_model.is_empty() {
            let mut sum = TokenUsage::default();
            for (_, u) in &per_model {
                sum.add(u);
            }
            t.tokens = sum;
            t.models = per_model;
            t.usage_final = true;
        } else if let Some(u) = obj.get("usage") {
            t.tokens = usage_of(u);
            t.usage_final = true;
        }
        t.cost_usd = obj.get("total_cost_usd").and_then(Value::as_f64);
        t.turns = obj
            .get("num_turns")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok());
        t.duration_ms = obj.get("duration_ms").and_then(Value::as_u64);
        let errors: Vec<String> = obj
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str().map(str::to_string))
            .collect();
        if errors.iter().any(|e| e.contains(UNKNOWN_SESSION)) {
            t.unknown_session = true;
        }
        let subtype = str_of(obj, "subtype").unwrap_or("");
        let is_error = obj.get("is_error").and_then(Value::as_bool) == Some(true);
        let detail = || {
            let mut d = errors.join("; ");
            if d.is_empty() {
                d = str_of(obj, "result").map(short).unwrap_or_default();
            }
            if let Some(status) = obj.get("api_error_status").and_then(Value::as_u64) {
                d = format!("API error {status}: {d}");
            }
            d
        };
        let verdict = match subtype {
            "error_max_turns" => Verdict::MaxTurns,
            "error_max_budget_usd" => Verdict::Budget(format!(
                "Claude Code stopped at its --max-budget-usd limit{}",
                t.cost_usd
                    .map(|c| format!(" (spent ${c:.4})"))
                    .unwrap_or_default()
            )),
            "error_during_execution" => {
                Verdict::Failed(format!("error during execution: {}", detail()))
            }
            "success" if !is_error => Verdict::Success,
            "success" => Verdict::Failed(format!("result is_error: {}", detail())),
            other => Verdict::Failed(format!("result subtype `{other}`: {}", detail())),
        };
        if let Verdict::Failed(reason) = &verdict {
            t.last_error = Some(short(reason));
            let status = obj.get("api_error_status").and_then(Value::as_u64);
            if t.usage_limit.is_none() && status == Some(429) {
                t.usage_limit = Some(UsageLimit {
                    until: None,
                    reason: short(&format!("Claude Code rate limited: {}", detail())),
                });
            }
        }
        // The final answer as the CLI reports it, whole.
        if let Some(text) = str_of(obj, "result").filter(|r| !r.trim().is_empty()) {
            if verdict == Verdict::Success {
                t.final_message.said(text);
            }
        }
        notes.push(Note::Activity(match &verdict {
            Verdict::Success => "finished".to_string(),
            Verdict::Failed(r) => short(&format!("failed: {r}")),
            Verdict::MaxTurns => "stopped at the turn limit".into(),
            Verdict::Budget(r) => short(r),
        }));
        t.verdict = Some(verdict);
    }
}

impl StreamParser for ClaudeStream {
    fn event(&mut self, obj: &serde_json::Map<String, Value>, notes: &mut Vec<Note>) {
        match str_of(obj, "type").unwrap_or("") {
            "system" => match str_of(obj, "subtype") {
                Some("init") => {
                    self.saw_init = true;
                    if let Some(n) = str_of(obj, "session_id").and_then(|id| self.tally.session(id))
                    {
                        notes.push(n);
                    }
                    if let Some(m) = str_of(obj, "model") {
                        self.tally.model = Some(m.to_string());
                    }
                    notes.push(Note::Activity("session started".into()));
                }
                Some("api_retry") => {
                    let status = obj.get("error_status").and_then(Value::as_u64).unwrap_or(0);
                    let attempt = obj.get("attempt").and_then(Value::as_u64).unwrap_or(0);
                    let max = obj.get("max_retries").and_then(Value::as_u64).unwrap_or(0);
                    notes.push(Note::Activity(format!(
                        "API error {status}; retry {attempt}/{max}"
                    )));
                }
                _ => {}
            },
            "assistant" => {
                if let Some(msg) = obj.get("message") {
                    self.assistant(msg, notes);
                }
            }
            "user" => {
                if let Some(msg) = obj.get("message") {
                    self.user(msg, notes);
                }
            }
            "result" => self.result(obj, notes),
            "rate_limit_event" => self.rate_limit(obj, notes),
            "stream_event" => {}
            _ => self.tally.unknown_events += 1,
        }
    }

    fn stderr(&mut self, line: &str) {
        if line.contains(UNKNOWN_SESSION) && !self.saw_init {
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
    use crate::agent::stream::{stdout_line, testing};

    fn feed(lines: &[&str]) -> (ClaudeStream, Vec<Note>) {
        testing::feed(ClaudeStream::new(), lines.iter().copied())
    }

    const INIT: &str = r#"{"type":"system","subtype":"init","session_id":"s-1","model":"claude-sonnet-4-5","tools":["Bash"]}"#;
    const TOOL: &str = r#"{"type":"assistant","message":{"id":"m1","model":"claude-sonnet-4-5","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"git status"}}],"usage":{"input_tokens":10,"output_tokens":1,"cache_read_input_tokens":5,"cache_creation_input_tokens":2}},"session_id":"s-1"}"#;
    const TEXT_SAME_MSG: &str = r#"{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"Done."}],"usage":{"input_tokens":10,"output_tokens":3,"cache_read_input_tokens":5,"cache_creation_input_tokens":2}}}"#;
    const TOOL_RESULT: &str = r#"{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok","is_error":true}]}}"#;

    #[test]
    fn success_with_usage_cost_turns_and_summaries() {
        let result = r#"{"type":"result","subtype":"success","is_error":false,"duration_ms":438,"num_turns":3,"session_id":"s-1","total_cost_usd":0.031105,"usage":{"input_tokens":5486,"cache_creation_input_tokens":7,"cache_read_input_tokens":9,"output_tokens":147}}"#;
        let (p, notes) = feed(&[INIT, TOOL, TOOL_RESULT, TEXT_SAME_MSG, result]);
        let t = p.tally();
        assert_eq!(t.session_id.as_deref(), Some("s-1"));
        assert_eq!(t.verdict, Some(Verdict::Success));
        assert_eq!(
            t.tokens,
            TokenUsage {
                input: 5486,
                output: 147,
                cache_read: 9,
                cache_write: 7
            }
        );
        assert_eq!(t.cost_usd, Some(0.031105));
        assert_eq!(t.turns, Some(3));
        assert_eq!(t.duration_ms, Some(438));
        assert_eq!(t.tool_calls, 1);
        assert_eq!(notes[0], Note::Session("s-1".into()));
        assert!(notes.contains(&Note::Activity("Bash: git status".into())));
        assert!(notes.contains(&Note::Activity("tool result: error".into())));
        assert!(notes.contains(&Note::Activity("Done.".into())));
    }

    #[test]
    fn cut_stream_keeps_per_message_usage_without_double_counting() {
        let (p, _) = feed(&[INIT, TOOL, TEXT_SAME_MSG]);
        let t = p.tally();
        assert_eq!(t.verdict, None);
        // Two lines of message m1: its last usage, once.
        assert_eq!(
            t.tokens,
            TokenUsage {
                input: 10,
                output: 3,
                cache_read: 5,
                cache_write: 2
            }
        );
    }

    #[test]
    fn is_error_with_success_subtype_is_a_failure() {
        let r = r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":500,"num_turns":1,"result":"API Error: 500 Internal server error","session_id":"s-1","total_cost_usd":0,"usage":{"input_tokens":0,"output_tokens":0}}"#;
        let (p, _) = feed(&[INIT, r]);
        match &p.tally().verdict {
            Some(Verdict::Failed(reason)) => {
                assert!(reason.contains("API error 500"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_subtypes_map_to_distinct_verdicts() {
        let r = |sub: &str| {
            format!(
                r#"{{"type":"result","subtype":"{sub}","is_error":true,"num_turns":4,"session_id":"s-1","total_cost_usd":1.5}}"#
            )
        };
        let (p, _) = feed(&[INIT, &r("error_max_turns")]);
        assert_eq!(p.tally().verdict, Some(Verdict::MaxTurns));
        let (p, _) = feed(&[INIT, &r("error_max_budget_usd")]);
        assert!(matches!(&p.tally().verdict, Some(Verdict::Budget(r)) if r.contains("$1.5")));
        let (p, _) = feed(&[INIT, &r("error_during_execution")]);
        assert!(
            matches!(&p.tally().verdict, Some(Verdict::Failed(r)) if r.contains("during execution"))
        );
        let (p, _) = feed(&[INIT, &r("error_something_new")]);
        assert!(
            matches!(&p.tally().verdict, Some(Verdict::Failed(r)) if r.contains("error_something_new"))
        );
    }

    #[test]
    fn unknown_session_is_flagged_and_its_id_not_adopted() {
        let r = r#"{"type":"result","subtype":"error_during_execution","is_error":true,"num_turns":0,"session_id":"gone","total_cost_usd":0,"errors":["No conversation found with session ID: gone"]}"#;
        let mut p = ClaudeStream::new();
        p.stderr("No conversation found with session ID: gone");
        assert!(p.tally().unknown_session);
        let mut notes = Vec::new();
        stdout_line(&mut p, r.as_bytes(), &mut notes);
        assert!(p.tally().unknown_session);
        assert_eq!(p.tally().session_id, None);
    }

    #[test]
    fn unknown_types_are_counted_and_known_noise_is_not() {
        let (p, _) = feed(&[
            INIT,
            r#"{"type":"stream_event","event":{}}"#,
            r#"{"type":"brand_new","x":1}"#,
            r#"{"type":"system","subtype":"hook_started"}"#,
            "plain text",
        ]);
        assert_eq!(p.tally().unknown_events, 1);
        assert_eq!(p.tally().garbage_lines, 1);
    }

    /// Claude Code's own budget stop: `result.usage` covers only the first API call of
    /// the run; the per-model `modelUsage` totals cover all of them (and every model,
    /// e.g. a Haiku side call). Shape of the real 2.1.197 `result` line.
    #[test]
    fn budget_stop_counts_every_call_from_model_usage() {
        let r = r#"{"type":"result","subtype":"error_max_budget_usd","is_error":true,"api_error_status":null,"duration_ms":2210,"duration_api_ms":1900,"num_turns":2,"stop_reason":"tool_use","session_id":"s-1","total_cost_usd":0.009515,"usage":{"input_tokens":667,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":40,"server_tool_use":{"web_search_requests":0,"web_fetch_requests":0},"service_tier":"standard","cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0},"inference_geo":"","iterations":[],"speed":"standard"},"modelUsage":{"claude-opus-4-8[1m]":{"inputTokens":1394,"outputTokens":95,"cacheReadInputTokens":0,"cacheCreationInputTokens":0,"webSearchRequests":0,"costUSD":0.009345,"contextWindow":1000000,"maxOutputTokens":64000},"claude-haiku-4-5-20251001":{"inputTokens":120,"outputTokens":10,"cacheReadInputTokens":30,"cacheCreationInputTokens":5,"webSearchRequests":0,"costUSD":0.00017,"contextWindow":200000,"maxOutputTokens":64000}},"permission_denials":[],"terminal_reason":"max_budget","uuid":"u-result"}"#;
        let (p, _) = feed(&[INIT, TOOL, r]);
        let t = p.tally();
        assert!(matches!(t.verdict, Some(Verdict::Budget(_))));
        assert_eq!(
            t.tokens,
            TokenUsage {
                input: 1394 + 120,
                output: 95 + 10,
                cache_read: 30,
                cache_write: 5
            }
        );
        // The CLI's own cost wins.
        assert_eq!(t.cost_usd, Some(0.009515));
    }

    /// The streams recorded from the real Claude Code 2.1.197 (`../shared/samples`).
    #[test]
    fn real_samples() {
        let Some(dir) = testing::samples("claude") else {
            return;
        };
        let read = |name: &str| {
            let text = testing::sample_text(&dir, name);
            let (p, _) = testing::feed(ClaudeStream::new(), text.lines());
            p
        };
        let ok = read("write-and-commit");
        let t = ok.tally();
        assert_eq!(t.verdict, Some(Verdict::Success));
        assert_eq!(
            t.session_id.as_deref(),
            Some("8dc92f2a-2bf5-4920-bc3d-3ff2deb33f09")
        );
        assert_eq!(t.turns, Some(3));
        assert_eq!(t.tokens.input, 5486);
        assert_eq!(t.tokens.output, 147);
        assert_eq!(t.cost_usd, Some(0.031105));
        assert_eq!(t.tool_calls, 2);
        assert_eq!(t.unknown_events, 0);
        // The final message is the agent's last words, not its earlier ones.
        assert_eq!(
            read("multi-write").tally().final_message.text(),
            Some("Wrote 3 files.")
        );
        for name in [
            "error-500",
            "overloaded-529",
            "rate-limit-429",
            "auth-error-401",
        ] {
            assert!(
                matches!(read(name).tally().verdict, Some(Verdict::Failed(_))),
                "{name}"
            );
        }
        for name in [
            "flaky-500",
            "stream-cut",
            "stream-error",
            "text-only",
            "bash",
            "multi-write",
            "resume",
            "resume-turn2",
            "partial-messages",
        ] {
            let p = read(name);
            assert_eq!(p.tally().verdict, Some(Verdict::Success), "{name}");
            assert!(p.tally().session_id.is_some(), "{name}");
        }
        let hang = read("hang-killed");
        assert_eq!(hang.tally().verdict, None);
        assert!(hang.tally().session_id.is_some());
        // Killed after `init` only: a session, no usage reported.
        assert_eq!(
            hang.tally().usage_basis(),
            crate::domain::run::UsageBasis::Unknown
        );
        assert_eq!(
            ok.tally().usage_basis(),
            crate::domain::run::UsageBasis::Reported
        );
    }

    // The shape of Claude Code's `rate_limit_event` (no recorded sample exists).
    const LIMIT_REJECTED: &str = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1771390800,"rateLimitType":"five_hour","overageStatus":"rejected","isUsingOverage":false},"uuid":"u-1","session_id":"s-1"}"#;
    const LIMIT_WARNING: &str = r#"{"type":"rate_limit_event","rate_limit_info":{"status":"allowed_warning","resetsAt":1771390800,"rateLimitType":"seven_day"},"uuid":"u-2","session_id":"s-1"}"#;
    const LIMIT_RESULT: &str = r#"{"type":"result","subtype":"success","is_error":true,"duration_ms":20,"num_turns":1,"result":"Claude AI usage limit reached|1771390800","session_id":"s-1","total_cost_usd":0,"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0},"modelUsage":{}}"#;

    #[test]
    fn a_rejected_rate_limit_event_makes_the_error_result_a_usage_limit_until_its_reset() {
        let (p, notes) = feed(&[INIT, LIMIT_REJECTED, LIMIT_RESULT]);
        let until = chrono::DateTime::from_timestamp(1_771_390_800, 0);
        match crate::agent::stream::status(&testing::exited(1), &p) {
            crate::domain::RunStatus::UsageLimited { until: u, reason } => {
                assert_eq!(u, until);
                assert!(reason.contains("five_hour"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(p.tally().unknown_events, 0);
        assert!(
            notes
                .iter()
                .any(|n| matches!(n, Note::Activity(a) if a.contains("usage limit"))),
            "{notes:?}"
        );
    }

    #[test]
    fn allowed_rate_limit_events_are_informational() {
        let (p, _) = feed(&[INIT, LIMIT_WARNING, TOOL, TEXT_SAME_MSG]);
        assert_eq!(p.tally().usage_limit, None);
        // A rejection followed by an allowance (the window reset) is no limit either.
        let (p, _) = feed(&[INIT, LIMIT_REJECTED, LIMIT_WARNING, LIMIT_RESULT]);
        assert!(matches!(
            crate::agent::stream::status(&testing::exited(1), &p),
            crate::domain::RunStatus::Failed { .. }
        ));
    }

    #[test]
    fn a_final_429_is_a_usage_limit_without_a_reset_time() {
        let Some(dir) = testing::samples("claude") else {
            return;
        };
        let text = testing::sample_text(&dir, "rate-limit-429");
        let (p, _) = testing::feed(ClaudeStream::new(), text.lines());
        match crate::agent::stream::status(&testing::exited(1), &p) {
            crate::domain::RunStatus::UsageLimited {
                until: None,
                reason,
            } => {
                assert!(reason.contains("429"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        for other in ["error-500", "overloaded-529", "auth-error-401"] {
            let (p, _) = testing::feed(
                ClaudeStream::new(),
                testing::sample_text(&dir, other).lines(),
            );
            assert_eq!(p.tally().usage_limit, None, "{other}");
        }
    }
}
