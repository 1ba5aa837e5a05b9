//! A fake Gemini API: `POST /v1beta/models/<model>:streamGenerateContent?alt=sse`
//! answers a text part, then a final chunk with `finishReason` and the known
//! `usageMetadata` (thinking tokens included, which Google bills as output). The n-th
//! request served gets `TURNS[n]` (the last entry repeats).

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::Method;
use serde_json::{Value, json};

use super::{Reply, Vendor};

/// One response's usage: `prompt` includes the `cached` tokens; `thoughts` (thinking)
/// are apart from the `candidates`.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub prompt: u64,
    pub cached: u64,
    pub candidates: u64,
    pub thoughts: u64,
}

pub const TURNS: [Usage; 2] = [
    Usage {
        prompt: 2345,
        cached: 300,
        candidates: 108,
        thoughts: 400,
    },
    Usage {
        prompt: 4100,
        cached: 2200,
        candidates: 75,
        thoughts: 250,
    },
];
pub const TEXT: &str = "Hello from the fake Gemini API.";

#[derive(Default)]
pub struct Google {
    served: AtomicUsize,
    stall: bool,
}

impl Google {
    /// A model that stalls after the text chunk, before the chunk with the usage.
    pub fn stalling() -> Google {
        Google {
            stall: true,
            ..Default::default()
        }
    }
}

impl Vendor for Google {
    fn reply(&self, method: &Method, path: &str, _body: &Value) -> Option<Reply> {
        let model = path
            .strip_prefix("/v1beta/models/")?
            .strip_suffix(":streamGenerateContent")?;
        if method != Method::POST {
            return None;
        }
        let u = TURNS[self
            .served
            .fetch_add(1, Ordering::SeqCst)
            .min(TURNS.len() - 1)];
        let chunk = |text: &str, last: bool| {
            let mut c = json!({
                "candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                "index": 0}],
                "modelVersion": model,
            });
            if last {
                c["candidates"][0]["finishReason"] = json!("STOP");
                c["usageMetadata"] = json!({
                    "promptTokenCount": u.prompt,
                    "cachedContentTokenCount": u.cached,
                    "candidatesTokenCount": u.candidates,
                    "thoughtsTokenCount": u.thoughts,
                    "totalTokenCount": u.prompt + u.candidates + u.thoughts,
                });
            }
            c
        };
        if self.stall {
            return Some(Reply::sse(&[("", chunk(TEXT, false))]).hanging());
        }
        Some(Reply::sse(&[
            ("", chunk(TEXT, false)),
            ("", chunk("", true)),
        ]))
    }
}
