//! The live feed: every recorded event and every bit of agent activity, broadcast to
//! subscribers (the dashboard's Server-Sent Events). Losing a message here loses
//! nothing: the store has the record; the feed is only for watching.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::agent::RunEvent;
use crate::domain::TokenUsage;
use crate::store::StoredEvent;

/// One message of the live feed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LiveEvent {
    /// The event kind (`transition`, `run_started`, ...) or `activity`.
    pub kind: String,
    pub identifier: Option<String>,
    pub at: DateTime<Utc>,
    /// The chain seq, for recorded events.
    pub seq: Option<i64>,
    pub hash: Option<String>,
    pub data: serde_json::Value,
}

impl LiveEvent {
    pub fn from_stored(e: &StoredEvent) -> Self {
        LiveEvent {
            kind: e.kind.clone(),
            identifier: e.issue.clone(),
            at: e.at,
            seq: Some(e.seq),
            hash: Some(e.hash.clone()),
            data: e.payload.clone(),
        }
    }
}

/// How many messages a slow subscriber may fall behind before it is told it lagged.
const FEED_CAPACITY: usize = 1024;

/// The sending side of the live feed. The channel holds its messages as `Arc`s: tokio's
/// broadcast channel allocates every slot when it is made, and a slot holding the
/// message itself (about 200 bytes) made the idle feed 200 KB of the daemon's heap; an
/// `Arc` slot is a fifth of that. Messages are built only when someone listens.
#[derive(Clone)]
pub(crate) struct LiveFeed(broadcast::Sender<Arc<LiveEvent>>);

impl LiveFeed {
    pub fn new() -> Self {
        LiveFeed(broadcast::channel(FEED_CAPACITY).0)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.0.subscribe()
    }

    /// Whether anyone listens (the dashboard's event stream).
    pub fn listened(&self) -> bool {
        self.0.receiver_count() > 0
    }

    /// Send the message `make` builds, if anyone listens.
    pub fn send_with(&self, make: impl FnOnce() -> LiveEvent) {
        if self.listened() {
            let _ = self.0.send(Arc::new(make()));
        }
    }
}

/// Agent activity reported by a run task.
#[derive(Debug, Clone)]
pub(crate) struct Activity {
    pub identifier: String,
    pub run_id: String,
    pub event: RunEvent,
}

/// What the dashboard shows of a live run, folded from its events: the runner's
/// `Usage` reports carry its tokens, turns and cost so far (priced from the table while
/// the CLI has not given its own figure), so a running row never shows `0/0`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RunActivity {
    pub session_id: Option<String>,
    pub turns: u32,
    pub tokens: TokenUsage,
    pub cost_usd: Option<f64>,
    pub last_event: Option<String>,
    pub last_event_at: Option<DateTime<Utc>>,
    pub last_message: Option<String>,
}

fn short(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

impl RunActivity {
    /// Fold one runner event into the summary.
    pub fn apply(&mut self, event: &RunEvent, now: DateTime<Utc>) {
        match event {
            RunEvent::Spawned { .. } => {
                self.last_event = Some("spawned".into());
                self.last_event_at = Some(now);
            }
            RunEvent::Session { id } => self.session_id = Some(id.clone()),
            RunEvent::Usage {
                tokens,
                turns,
                cost_usd,
            } => {
                self.tokens = *tokens;
                if let Some(t) = turns {
                    self.turns = *t;
                }
                if cost_usd.is_some() {
                    self.cost_usd = *cost_usd;
                }
            }
            RunEvent::Activity { at, summary } => {
                self.last_event_at = Some(*at);
                self.last_message = Some(short(summary));
            }
            RunEvent::Json { at, value } => {
                self.last_event_at = Some(*at);
                let kind = value
                    .get("type")
                    .and_then(|v| v.as_str())
                    .unwrap_or("event");
                self.last_event = Some(kind.to_string());
                if kind == "assistant" {
                    self.turns += 1;
                }
                for key in ["summary", "message", "text", "result"] {
                    if let Some(s) = value.get(key).and_then(|v| v.as_str()) {
                        self.last_message = Some(short(s));
                        break;
                    }
                }
                if let Some(id) = value.get("session_id").and_then(|v| v.as_str()) {
                    self.session_id = Some(id.to_string());
                }
                if let Some(c) = value
                    .get("total_cost_usd")
                    .and_then(serde_json::Value::as_f64)
                {
                    self.cost_usd = Some(c);
                }
            }
        }
    }
}

/// The keys of a JSON event that [`RunActivity::apply`] reads.
const GLANCED: [&str; 7] = [
    "type",
    "summary",
    "message",
    "text",
    "result",
    "session_id",
    "total_cost_usd",
];

/// What [`RunActivity::apply`] reads of a JSON event, and nothing else: the activity
/// feed gets this instead of a copy of the whole event. An agent's events can be
/// large (a CLI's message with its content blocks and tool inputs), and each line was
/// copied whole for a summary that reads five keys of it. (With 200 lines a run, such
/// copies were 1.3 MB of the heap at its peak; the peak itself did not fall without
/// them, issue 11: other buffers of the same moment set it.)
pub(crate) fn glance(value: &serde_json::Value) -> serde_json::Value {
    let Some(map) = value.as_object() else {
        return serde_json::Value::Null;
    };
    let kept = GLANCED
        .iter()
        .filter_map(|k| {
            let v = map.get(*k)?;
            (v.is_string() || v.is_number()).then(|| ((*k).to_string(), v.clone()))
        })
        .collect();
    serde_json::Value::Object(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The activity summary folds the glance of an event exactly as the event itself,
    /// and the glance drops what the summary never reads.
    #[test]
    fn the_glance_of_an_event_folds_like_the_event() {
        let long = "a long final answer ".repeat(40);
        let events = [
            serde_json::json!({"type": "assistant", "message": {"content": [{"type": "tool_use", "input": {"command": "cargo test"}}]}, "session_id": "s-1"}),
            serde_json::json!({"type": "result", "result": long, "total_cost_usd": 0.25, "usage": {"input_tokens": 9}}),
            serde_json::json!({"type": 7, "summary": {"not": "text"}, "text": "  hello  "}),
            serde_json::json!({"message": "plain", "summary": "first"}),
            serde_json::json!(["not", "an", "object"]),
            serde_json::json!("a bare string"),
        ];
        let at = Utc::now();
        for value in events {
            let (mut whole, mut seen) = (RunActivity::default(), RunActivity::default());
            let glanced = glance(&value);
            whole.apply(
                &RunEvent::Json {
                    at,
                    value: value.clone(),
                },
                at,
            );
            seen.apply(
                &RunEvent::Json {
                    at,
                    value: glanced.clone(),
                },
                at,
            );
            assert_eq!(whole, seen, "{value}");
            assert!(
                glanced.get("usage").is_none()
                    && glanced.get("message").is_none_or(|m| m.is_string())
            );
        }
    }

    #[test]
    fn usage_reports_set_the_live_figures() {
        let mut a = RunActivity::default();
        let now = Utc::now();
        let tokens = TokenUsage {
            input: 800,
            output: 2,
            ..TokenUsage::default()
        };
        a.apply(
            &RunEvent::Usage {
                tokens,
                turns: None,
                cost_usd: Some(0.0038),
            },
            now,
        );
        assert_eq!((a.tokens, a.turns, a.cost_usd), (tokens, 0, Some(0.0038)));
        // A later report without a cost yet keeps the last known one; turns when known.
        a.apply(
            &RunEvent::Usage {
                tokens,
                turns: Some(3),
                cost_usd: None,
            },
            now,
        );
        assert_eq!((a.turns, a.cost_usd), (3, Some(0.0038)));
    }
}
