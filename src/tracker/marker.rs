//! karajan's hidden comment marker, shared by every tracker that has comments.
//!
//! Each comment karajan writes ends with `<!-- karajan:{json} -->`: invisible in the
//! rendered comment, and enough (state, run, rework count, intent) to recognize a write
//! that already happened and to rebuild ticket states when the store is lost.
//!
//! The marker also carries the chain head (`"head": {"seq": N, "hash": "<hex>"}`) at the
//! moment the comment was composed: an anchor of the store's history kept by the tracker,
//! which `karajan verify --against-tracker` reads back with [`anchors`].

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::Comment;
use crate::domain::ticket::COMMENT_MARKER_PREFIX;

const MARKER_SUFFIX: &str = "-->";

/// The JSON object of the last karajan marker in `body`, if any parses.
pub fn parse_marker(body: &str) -> Option<Value> {
    body.rmatch_indices(COMMENT_MARKER_PREFIX)
        .find_map(|(start, _)| {
            let rest = &body[start + COMMENT_MARKER_PREFIX.len()..];
            let end = rest.find(MARKER_SUFFIX)?;
            let value: Value = serde_json::from_str(rest[..end].trim()).ok()?;
            value.is_object().then_some(value)
        })
}

/// The marker for `value`, ready to append to a comment body. `-->` inside strings is
/// escaped so the marker cannot be closed early.
pub fn render_marker(value: &Value) -> String {
    let json = value.to_string().replace("-->", "--\\u003e");
    format!("{COMMENT_MARKER_PREFIX}{json} {MARKER_SUFFIX}")
}

/// A chain head anchored in a karajan comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Anchor {
    pub seq: i64,
    /// 64 lowercase hex digits.
    pub hash: String,
    /// When the comment was written.
    pub at: DateTime<Utc>,
}

/// Every anchor among `comments` (markers without a usable `head` are skipped; seq 0,
/// an empty chain, anchors nothing).
pub fn anchors(comments: &[Comment]) -> Vec<Anchor> {
    comments
        .iter()
        .filter_map(|c| {
            let head = parse_marker(&c.body)?.get("head")?.clone();
            let seq = head.get("seq")?.as_i64().filter(|s| *s > 0)?;
            let hash = head.get("hash")?.as_str()?.to_string();
            Some(Anchor {
                seq,
                hash,
                at: c.created_at,
            })
        })
        .collect()
}

/// Where karajan last said a ticket was, read back from its comment markers.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredState {
    pub state: String,
    pub run: u32,
    pub rework: u32,
    /// Runs started per state, when the marker carries them.
    pub runs: std::collections::BTreeMap<String, u32>,
    /// Rework requests per gate, when the marker carries them.
    pub reworks: std::collections::BTreeMap<String, u32>,
    /// The intent that wrote the comment, when the marker carries one.
    pub intent: Option<String>,
    /// When that comment was written.
    pub at: DateTime<Utc>,
}

/// The state recorded by the newest karajan marker among `comments`, in whatever order
/// they come (`karajan recover`). Ties on time go to the higher run, then rework count.
/// Comments without a usable marker (human ones, broken JSON, no `state`) are ignored.
pub fn latest_state(comments: &[Comment]) -> Option<RecoveredState> {
    comments
        .iter()
        .filter_map(|c| {
            let marker = parse_marker(&c.body)?;
            let state = marker.get("state")?.as_str()?.to_string();
            let number = |key: &str| {
                marker
                    .get(key)
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0)
            };
            let intent = marker.get("intent").and_then(|i| match i {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
            let counts = |key: &str| -> std::collections::BTreeMap<String, u32> {
                marker
                    .get(key)
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| {
                                Some((k.clone(), u32::try_from(v.as_u64()?).ok()?))
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            Some(RecoveredState {
                state,
                run: number("run"),
                rework: number("rework"),
                runs: counts("runs"),
                reworks: counts("reworks"),
                intent,
                at: c.created_at,
            })
        })
        .max_by(|a, b| {
            a.at.cmp(&b.at)
                .then(a.run.cmp(&b.run))
                .then(a.rework.cmp(&b.rework))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn comment(body: &str, minute: i64) -> Comment {
        Comment {
            author: "karajan".into(),
            body: body.into(),
            created_at: DateTime::<Utc>::default() + chrono::Duration::minutes(minute),
        }
    }

    #[test]
    fn latest_state_ignores_order_and_human_comments() {
        let m = |state: &str, run: u32, rework: u32| {
            render_marker(
                &json!({"state": state, "run": run, "rework": rework, "intent": format!("i-{state}")}),
            )
        };
        let mut comments = vec![
            comment(&format!("Started build. {}", m("build", 1, 0)), 1),
            comment(&format!("Review please. {}", m("review", 1, 0)), 2),
            comment("LGTM but please fix the typo", 3),
            comment(&format!("Rework. {}", m("build", 2, 1)), 4),
            comment("<!-- karajan:{broken -->", 5),
        ];
        let expected = RecoveredState {
            state: "build".into(),
            run: 2,
            rework: 1,
            runs: Default::default(),
            reworks: Default::default(),
            intent: Some("i-build".into()),
            at: comments[3].created_at,
        };
        assert_eq!(latest_state(&comments), Some(expected.clone()));
        comments.reverse();
        assert_eq!(latest_state(&comments), Some(expected.clone()));
        comments.swap(0, 3);
        assert_eq!(latest_state(&comments), Some(expected));
        assert_eq!(latest_state(&[comment("no markers here", 1)]), None);
    }

    #[test]
    fn anchors_are_read_from_markers_with_a_head() {
        let h = "ab".repeat(32);
        let comments = vec![
            comment(
                &format!(
                    "x {}",
                    render_marker(&json!({"state": "a", "head": {"seq": 7, "hash": h}}))
                ),
                1,
            ),
            comment(&format!("y {}", render_marker(&json!({"state": "a"}))), 2),
            comment(
                &format!(
                    "z {}",
                    render_marker(&json!({"state": "a", "head": {"seq": 0, "hash": h}}))
                ),
                3,
            ),
            comment("human text", 4),
        ];
        assert_eq!(
            anchors(&comments),
            vec![Anchor {
                seq: 7,
                hash: h.clone(),
                at: comments[0].created_at
            }]
        );
    }

    #[test]
    fn extracts_the_marker_json() {
        let body = "Moved to **Human Review**.\n\n<!-- karajan:{\"state\":\"review\",\"run\":2,\"rework\":1,\"intent\":7} -->";
        let m = parse_marker(body).unwrap();
        assert_eq!(m["state"], "review");
        assert_eq!(m["run"], 2);
        assert_eq!(m["rework"], 1);
        assert_eq!(m["intent"], 7);
    }

    #[test]
    fn no_marker_or_broken_marker_is_none() {
        assert_eq!(parse_marker("just a human comment"), None);
        assert_eq!(parse_marker("<!-- karajan:{not json} -->"), None);
        assert_eq!(parse_marker("<!-- karajan:{\"a\":1}"), None);
        assert_eq!(parse_marker("<!-- karajan:[1,2] -->"), None);
    }

    #[test]
    fn the_last_valid_marker_wins_and_rendering_round_trips() {
        let v = json!({"state": "done", "note": "a --> b", "run": 1});
        let body = format!(
            "quoted: <!-- karajan:{{\"state\":\"old\"}} -->\nnew: {}",
            render_marker(&v)
        );
        assert_eq!(parse_marker(&body), Some(v));
    }
}
