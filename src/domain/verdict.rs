//! A reviewer agent's verdict: what it decided about the work it reviewed, and where
//! that sends the ticket.
//!
//! An agent state with `verdicts:` ends with a verdict the agent writes as JSON to
//! `KARAJAN_VERDICT_FILE`: `{"verdict": "approve" | "needs_revision", "summary": "…",
//! "findings": [{"path", "line", "severity", "text"}]}`, or, for CLIs that cannot write
//! files in their sandbox, as the last fenced `json` block of its final message
//! ([`find`]: the file wins when both exist). [`parse`] fails closed: no
//! verdict, bad JSON, an unknown verdict or severity is an error with a clear reason, and
//! the run then counts as a failed attempt, never as an approval. The parsed verdict
//! travels in the run's `Phase::Succeeded`, so routing on it is recorded in the same
//! transaction as the run (a crash cannot turn a request for revision into a pass).

use serde::{Deserialize, Serialize};

/// The verdict file's name in the run's log folder.
pub const FILE_NAME: &str = "verdict.json";

/// What the reviewer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    Approve,
    NeedsRevision,
}

/// One finding of a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub severity: Severity,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// A reviewer's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub verdict: VerdictKind,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub findings: Vec<Finding>,
}

/// A verdict as a run gave it, and where karajan found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    pub verdict: Verdict,
    pub source: Source,
}

/// Where a verdict was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `KARAJAN_VERDICT_FILE`.
    File,
    /// The last fenced `json` block of the agent's final message.
    Message,
}

/// The verdict's text: the file's content when the reviewer wrote one, else the last
/// fenced `json` block of its final message.
pub fn find<'a>(file: Option<&'a str>, message: Option<&'a str>) -> Option<(&'a str, Source)> {
    if let Some(text) = file.filter(|t| !t.trim().is_empty()) {
        return Some((text, Source::File));
    }
    message
        .and_then(last_json_block)
        .map(|b| (b, Source::Message))
}

/// The content of the last fenced block whose info string is `json` (CommonMark fences
/// of three or more backticks or tildes, indented at most three spaces).
fn last_json_block(text: &str) -> Option<&str> {
    let mut found = None;
    let mut open: Option<(char, usize, usize, bool)> = None; // fence char, length, body start, json?
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let start = at;
        at += line.len();
        let trimmed = line.trim_end();
        let indent = trimmed.len() - trimmed.trim_start().len();
        let body = trimmed.trim_start();
        let fence = body.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = fence.map_or(0, |c| body.chars().take_while(|x| *x == c).count());
        match open {
            None if indent <= 3 && run >= 3 => {
                let info = body[run..].trim();
                let lang = info.split_whitespace().next().unwrap_or("");
                open = Some((fence.unwrap(), run, at, lang.eq_ignore_ascii_case("json")));
            }
            Some((c, n, from, json))
                if indent <= 3 && fence == Some(c) && run >= n && body[run..].trim().is_empty() =>
            {
                if json {
                    found = Some(&text[from..start]);
                }
                open = None;
            }
            _ => {}
        }
    }
    found
}

/// A recorded `verdict` event in words, for `history` and the ticket page:
/// `needs revision (2 findings) from codex/gpt-5 via file: Two problems.`
pub fn describe_event(p: &serde_json::Value) -> String {
    let s = |k: &str| p.get(k).and_then(serde_json::Value::as_str).unwrap_or("");
    let n = p
        .get("findings")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let mut text = format!(
        "{} ({n} finding{}) from {}",
        s("verdict").replace('_', " "),
        if n == 1 { "" } else { "s" },
        s("runner")
    );
    if !s("model").is_empty() {
        text.push_str(&format!("/{}", s("model")));
    }
    text.push_str(&format!(" via {}", s("source")));
    if !s("summary").is_empty() {
        text.push_str(&format!(": {}", s("summary")));
    }
    text
}

/// The verdict a reviewer gave, or why it does not count.
pub fn parse(text: Option<&str>) -> Result<Verdict, String> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Err("the review ended without a verdict (nothing in KARAJAN_VERDICT_FILE, and no fenced json block in its final message)".into());
    };
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        verdict: String,
        #[serde(default)]
        summary: Option<String>,
        #[serde(default)]
        findings: Vec<Finding>,
    }
    let raw: Raw = serde_json::from_str(text.trim())
        .map_err(|e| format!("the verdict is not valid JSON of the documented shape: {e}"))?;
    let verdict = match raw.verdict.as_str() {
        "approve" => VerdictKind::Approve,
        "needs_revision" => VerdictKind::NeedsRevision,
        other => {
            return Err(format!(
                "unknown verdict `{other}`: expected `approve` or `needs_revision`"
            ));
        }
    };
    Ok(Verdict {
        verdict,
        summary: raw.summary.unwrap_or_default().trim().to_string(),
        findings: raw.findings,
    })
}

impl Verdict {
    /// The SHA-256 (hex) of the findings as JSON: what the `verdict` event keeps of them.
    pub fn findings_digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let bytes = serde_json::to_vec(&self.findings).unwrap_or_default();
        hex::encode(Sha256::digest(bytes))
    }

    /// The verdict as the next agent reads it (`rework.feedback`): the summary, then one
    /// finding per line as `path:line [severity] text`.
    pub fn feedback(&self) -> String {
        let mut out = self.summary.clone();
        for f in &self.findings {
            if !out.is_empty() {
                out.push('\n');
            }
            let place = match (&f.path, f.line) {
                (Some(p), Some(l)) => format!("{p}:{l} "),
                (Some(p), None) => format!("{p} "),
                _ => String::new(),
            };
            let severity = f.severity.as_str();
            out.push_str(&format!("- {place}[{severity}] {}", f.text.trim()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_is_read_with_its_findings() {
        let v = parse(Some(
            r#"{"verdict": "needs_revision", "summary": "Two problems.",
               "findings": [{"path": "src/x.rs", "line": 12, "severity": "error", "text": "panics on empty input"},
                            {"severity": "note", "text": "add a test"}]}"#,
        ))
        .unwrap();
        assert_eq!(v.verdict, VerdictKind::NeedsRevision);
        assert_eq!(
            v.feedback(),
            "Two problems.\n- src/x.rs:12 [error] panics on empty input\n- [note] add a test"
        );
        let ok = parse(Some(r#"{"verdict":"approve"}"#)).unwrap();
        assert_eq!((ok.verdict, ok.findings.len()), (VerdictKind::Approve, 0));
    }

    #[test]
    fn the_file_wins_else_the_last_json_block_of_the_final_message() {
        let msg = "Reviewed.\n```json\n{\"verdict\":\"needs_revision\"}\n```\nThen:\n\n  ```JSON title\n{\"verdict\":\"approve\"}\n  ```\n```rust\nfn x() {}\n```\n";
        assert_eq!(
            find(None, Some(msg)),
            Some(("{\"verdict\":\"approve\"}\n", Source::Message))
        );
        assert_eq!(find(Some("{}"), Some(msg)), Some(("{}", Source::File)));
        assert_eq!(find(Some(" \n"), Some(msg)).unwrap().1, Source::Message);
        // A longer fence holds a shorter one; an unclosed block does not count.
        let nested = "````json\n{\"verdict\":\"approve\",\"summary\":\"```\"}\n````\n";
        assert_eq!(
            find(None, Some(nested)).unwrap().0,
            "{\"verdict\":\"approve\",\"summary\":\"```\"}\n"
        );
        assert_eq!(
            find(None, Some("```json\n{\"verdict\":\"approve\"}\n")),
            None
        );
        assert_eq!(find(None, Some("{\"verdict\":\"approve\"}")), None);
        assert_eq!(find(None, None), None);
        let v = parse(find(None, Some(msg)).map(|f| f.0)).unwrap();
        assert_eq!(v.verdict, VerdictKind::Approve);
    }

    #[test]
    fn anything_else_fails_closed_with_a_reason() {
        for (text, why) in [
            (None, "without a verdict"),
            (Some("  \n"), "without a verdict"),
            (Some("approve"), "not valid JSON"),
            (Some(r#"{"verdict":"lgtm"}"#), "unknown verdict `lgtm`"),
            (Some(r#"{"verdict":"approve","extra":1}"#), "not valid JSON"),
            (
                Some(r#"{"verdict":"approve","findings":[{"severity":"fatal","text":"x"}]}"#),
                "not valid JSON",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }
}
