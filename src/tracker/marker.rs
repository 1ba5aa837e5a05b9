//! karajan's hidden comment marker, shared by every tracker that has comments.
//!
//! Each comment karajan writes ends with `<!-- karajan:{json} -->`: invisible in the
//! rendered comment, and enough (state, run, rework count, intent) to recognize a write
//! that already happened and to rebuild ticket states when the store is lost.

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

/// Where karajan last said a ticket was, read back from its comment markers.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredState {
    pub state: String,
    pub run: u32,
    pub rework: u32,
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
            Some(RecoveredState {
                state,
                run: number("run"),
                rework: number("rework"),
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
