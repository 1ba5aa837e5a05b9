//! A fake Anthropic Messages API: `POST /v1/messages` answers a one-block text message
//! with known usage, as server-sent events when `stream` is true (as Claude Code asks)
//! and as one JSON message otherwise (Claude Code's fallback after a broken stream).

use axum::http::Method;
use serde_json::{Value, json};

use super::{Reply, Vendor};

/// The usage served with every message (Anthropic's `input_tokens` excludes the cache).
pub const INPUT: u64 = 1234;
pub const CACHE_READ: u64 = 100;
pub const CACHE_CREATION: u64 = 50;
pub const OUTPUT: u64 = 56;
pub const TEXT: &str = "Hello from the fake Anthropic API.";

pub struct Anthropic;

impl Vendor for Anthropic {
    fn reply(&self, method: &Method, path: &str, body: &Value) -> Option<Reply> {
        if method != Method::POST || path != "/v1/messages" {
            return None;
        }
        let model = body["model"].as_str().unwrap_or("claude-unknown");
        let usage = |output: u64| {
            json!({
                "input_tokens": INPUT,
                "cache_read_input_tokens": CACHE_READ,
                "cache_creation_input_tokens": CACHE_CREATION,
                "output_tokens": output,
            })
        };
        let message = |content: Value, stop: Value, output: u64| {
            json!({
                "id": "msg_fake_1", "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": stop, "stop_sequence": null,
                "usage": usage(output),
            })
        };
        if body["stream"] != json!(true) {
            let content = json!([{"type": "text", "text": TEXT}]);
            return Some(Reply::json(&message(content, json!("end_turn"), OUTPUT)));
        }
        Some(Reply::sse(&[
            (
                "message_start",
                json!({"type": "message_start", "message": message(json!([]), Value::Null, 1)}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "text", "text": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "text_delta", "text": TEXT}}),
            ),
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            (
                "message_delta",
                json!({"type": "message_delta",
                       "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                       "usage": {"output_tokens": OUTPUT}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ]))
    }
}
