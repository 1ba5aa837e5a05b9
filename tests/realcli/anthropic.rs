//! A fake Anthropic Messages API: `POST /v1/messages` answers a one-block text message
//! with known usage, as server-sent events when `stream` is true (as Claude Code asks)
//! and as one JSON message otherwise (Claude Code's fallback after a broken stream).
//! The n-th message served gets `TURNS[n]` (the last entry repeats), so the turns of a
//! resumed session (or of one run's API calls) differ.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::Method;
use serde_json::{Value, json};

use super::{Reply, Vendor};

/// One message's usage (Anthropic's `input_tokens` excludes the cache).
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub input: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
    pub output: u64,
}

pub const TURNS: [Usage; 2] = [
    Usage {
        input: 1234,
        cache_read: 100,
        cache_creation: 50,
        output: 56,
    },
    Usage {
        input: 321,
        cache_read: 2000,
        cache_creation: 70,
        output: 44,
    },
];
pub const TEXT: &str = "Hello from the fake Anthropic API.";

#[derive(Default)]
pub struct Anthropic {
    served: AtomicUsize,
    stall: bool,
    tool_calls: usize,
}

impl Anthropic {
    /// A model that stalls after the text block, before `message_delta` (the final
    /// output count) and `message_stop`.
    pub fn stalling() -> Anthropic {
        Anthropic {
            stall: true,
            ..Default::default()
        }
    }

    /// A model whose first `n` answers each ask for a Bash tool call (`echo step<i>`),
    /// so one run makes several API calls.
    pub fn with_tool_calls(n: usize) -> Anthropic {
        Anthropic {
            tool_calls: n,
            ..Default::default()
        }
    }
}

impl Vendor for Anthropic {
    fn reply(&self, method: &Method, path: &str, body: &Value) -> Option<Reply> {
        if method != Method::POST || path != "/v1/messages" {
            return None;
        }
        let n = self.served.fetch_add(1, Ordering::SeqCst);
        let u = TURNS[n.min(TURNS.len() - 1)];
        let model = body["model"].as_str().unwrap_or("claude-unknown");
        let message = |content: Value, stop: Value, output: u64| {
            json!({
                "id": format!("msg_fake_{n}"), "type": "message", "role": "assistant",
                "model": model, "content": content, "stop_reason": stop,
                "stop_sequence": null,
                "usage": {
                    "input_tokens": u.input,
                    "cache_read_input_tokens": u.cache_read,
                    "cache_creation_input_tokens": u.cache_creation,
                    "output_tokens": output,
                },
            })
        };
        let tool = n < self.tool_calls;
        if body["stream"] != json!(true) && !tool {
            let content = json!([{"type": "text", "text": TEXT}]);
            return Some(Reply::json(&message(content, json!("end_turn"), u.output)));
        }
        let (block, delta, stop) = if tool {
            let input = json!({"command": format!("echo step{n}"), "description": "echo"});
            (
                json!({"type": "tool_use", "id": format!("toolu_fake_{n}"), "name": "Bash",
                       "input": {}}),
                json!({"type": "input_json_delta", "partial_json": input.to_string()}),
                "tool_use",
            )
        } else {
            (
                json!({"type": "text", "text": ""}),
                json!({"type": "text_delta", "text": TEXT}),
                "end_turn",
            )
        };
        let mut events = vec![
            (
                "message_start",
                json!({"type": "message_start", "message": message(json!([]), Value::Null, 1)}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": block}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": delta}),
            ),
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            (
                "message_delta",
                json!({"type": "message_delta",
                       "delta": {"stop_reason": stop, "stop_sequence": null},
                       "usage": {"output_tokens": u.output}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ];
        if self.stall {
            events.truncate(4);
            return Some(Reply::sse(&events).hanging());
        }
        Some(Reply::sse(&events))
    }
}
