//! A fake Gemini API: `POST /v1beta/models/<model>:streamGenerateContent?alt=sse`
//! answers a text part, then a final chunk with `finishReason` and the known
//! `usageMetadata` (thinking tokens included, which Google bills as output).

use axum::http::Method;
use serde_json::{Value, json};

use super::{Reply, Vendor};

/// `promptTokenCount` includes the cached ones; thinking tokens are apart from the
/// candidates'.
pub const PROMPT: u64 = 2345;
pub const CACHED: u64 = 300;
pub const CANDIDATES: u64 = 108;
pub const THOUGHTS: u64 = 400;
pub const TEXT: &str = "Hello from the fake Gemini API.";

pub struct Google;

impl Vendor for Google {
    fn reply(&self, method: &Method, path: &str, _body: &Value) -> Option<Reply> {
        let model = path
            .strip_prefix("/v1beta/models/")?
            .strip_suffix(":streamGenerateContent")?;
        if method != Method::POST {
            return None;
        }
        let chunk = |text: &str, last: bool| {
            let mut c = json!({
                "candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                "index": 0}],
                "modelVersion": model,
            });
            if last {
                c["candidates"][0]["finishReason"] = json!("STOP");
                c["usageMetadata"] = json!({
                    "promptTokenCount": PROMPT,
                    "cachedContentTokenCount": CACHED,
                    "candidatesTokenCount": CANDIDATES,
                    "thoughtsTokenCount": THOUGHTS,
                    "totalTokenCount": PROMPT + CANDIDATES + THOUGHTS,
                });
            }
            c
        };
        Some(Reply::sse(&[("", chunk(TEXT, false)), ("", chunk("", true))]))
    }
}
