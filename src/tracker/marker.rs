//! karajan's hidden comment marker, shared by every tracker that has comments.
//!
//! Each comment karajan writes ends with `<!-- karajan:{json} -->`: invisible in the
//! rendered comment, and enough (state, run, rework count, intent) to recognize a write
//! that already happened and to rebuild ticket states when the store is lost.

use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
