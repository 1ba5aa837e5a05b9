//! A fake OpenAI Responses API: `POST /v1/responses` (always streamed by Codex) answers
//! one assistant message, with the known usage of its turn: the n-th request served gets
//! `TURNS[n]` (the last entry repeats), so a resumed thread's turns differ. It can
//! also answer with tool calls, so that one turn makes several API calls.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::Method;
use serde_json::{Value, json};

use super::{Reply, Vendor};

/// One response's usage, in the API's terms: `input_tokens` includes the cached ones,
/// `output_tokens` includes the reasoning ones.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub input: u64,
    pub cached: u64,
    pub output: u64,
    pub reasoning: u64,
}

pub const TURNS: [Usage; 2] = [
    Usage {
        input: 3720,
        cached: 1000,
        output: 120,
        reasoning: 64,
    },
    Usage {
        input: 5210,
        cached: 3000,
        output: 90,
        reasoning: 30,
    },
];
pub const TEXT: &str = "Hello from the fake Responses API.";

#[derive(Default)]
pub struct OpenAi {
    served: AtomicUsize,
    stall: bool,
    tool_calls: usize,
}

impl OpenAi {
    /// A model that stalls after the message item, before `response.completed` (the
    /// only event with usage).
    pub fn stalling() -> OpenAi {
        OpenAi {
            stall: true,
            ..Default::default()
        }
    }

    /// A model whose first `n` answers each call Codex's `exec_command` tool
    /// (`echo step<i>`), so one turn makes several API calls.
    pub fn with_tool_calls(n: usize) -> OpenAi {
        OpenAi {
            tool_calls: n,
            ..Default::default()
        }
    }
}

impl Vendor for OpenAi {
    fn reply(&self, method: &Method, path: &str, body: &Value) -> Option<Reply> {
        if method != Method::POST || path != "/v1/responses" {
            return None;
        }
        let n = self.served.fetch_add(1, Ordering::SeqCst);
        let u = TURNS[n.min(TURNS.len() - 1)];
        let id = format!("resp_fake_{n}");
        let model = body["model"].clone();
        let item = |status: &str, text: Option<&str>| {
            let content = match text {
                Some(t) => json!([{"type": "output_text", "text": t, "annotations": []}]),
                None => json!([]),
            };
            json!({"type": "message", "id": format!("msg_fake_{n}"), "role": "assistant",
                   "status": status, "content": content})
        };
        let done = if n < self.tool_calls {
            let args = json!({"cmd": format!("echo step{n}")}).to_string();
            json!({"type": "function_call", "id": format!("fc_fake_{n}"),
                   "call_id": format!("call_fake_{n}"), "name": "exec_command",
                   "arguments": args, "status": "completed"})
        } else {
            item("completed", Some(TEXT))
        };
        let tool = n < self.tool_calls;
        let mut events = vec![
            json!({"type": "response.created",
                   "response": {"id": id, "object": "response", "status": "in_progress",
                                "model": model, "output": []}}),
            json!({"type": "response.output_item.added", "output_index": 0,
                   "item": if tool { done.clone() } else { item("in_progress", None) }}),
            json!({"type": "response.output_text.delta", "output_index": 0,
                   "content_index": 0, "item_id": format!("msg_fake_{n}"), "delta": TEXT}),
            json!({"type": "response.output_item.done", "output_index": 0, "item": done}),
            json!({"type": "response.completed",
            "response": {"id": id, "object": "response", "status": "completed",
                         "model": model, "output": [done],
                         "usage": {
                             "input_tokens": u.input,
                             "input_tokens_details": {"cached_tokens": u.cached},
                             "output_tokens": u.output,
                             "output_tokens_details": {"reasoning_tokens": u.reasoning},
                             "total_tokens": u.input + u.output,
                         }}}),
        ];
        if tool {
            events.remove(2); // no text
        }
        let mut named: Vec<(&str, Value)> = events
            .iter()
            .map(|e| (e["type"].as_str().unwrap(), e.clone()))
            .collect();
        if self.stall {
            named.truncate(4);
            return Some(Reply::sse(&named).hanging());
        }
        Some(Reply::sse(&named))
    }
}
