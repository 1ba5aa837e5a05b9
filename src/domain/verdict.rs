//! A reviewer agent's verdict: what it decided about the work it reviewed, and where
//! that sends the ticket.
//!
//! An agent state with `verdicts:` ends with a verdict the agent writes as JSON to
//! `KARAJAN_VERDICT_FILE`: `{"verdict": "approve" | "needs_revision", "summary": "…",
//! "findings": [{"path", "line", "severity", "text"}]}`. [`parse`] fails closed: no
//! file, bad JSON, an unknown verdict or severity is an error with a clear reason, and
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

/// A reviewer's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub verdict: VerdictKind,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub findings: Vec<Finding>,
}

/// The verdict file a reviewer wrote, or why it does not count.
pub fn parse(text: Option<&str>) -> Result<Verdict, String> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Err("the review ended without a verdict (nothing in KARAJAN_VERDICT_FILE)".into());
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
            let severity = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Note => "note",
            };
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
