//! The last line of defence for "no secret is ever rendered": every response body is
//! scanned for the configured secret values (runner `env`, the operator token) and
//! each occurrence is replaced by `[redacted]`.

use std::borrow::Cow;

use crate::config::Workflow;

/// Secrets shorter than this are not scanned for: they would blank ordinary words.
const MIN_LEN: usize = 6;

pub(crate) struct Redactor {
    /// Longest first, so a secret containing another is blanked whole.
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(mut secrets: Vec<String>) -> Redactor {
        secrets.retain(|s| s.len() >= MIN_LEN);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), "[redacted]"));
            }
        }
        out
    }
}

/// Every secret value a workflow holds: runner `env` values (profiles and per-state
/// overrides) and the configured server token.
pub fn secrets_of(wf: &Workflow) -> Vec<String> {
    let mut out: Vec<String> = wf
        .runners
        .values()
        .flat_map(|r| r.env.values())
        .map(|s| s.expose().to_string())
        .collect();
    for name in wf.states.keys() {
        if let Some(a) = wf.agent_state(name) {
            out.extend(a.runner.env.values().map(|s| s.expose().to_string()));
        }
    }
    if let Some(t) = &wf.server.token {
        out.push(t.expose().to_string());
    }
    match &wf.tracker {
        crate::config::TrackerConfig::Linear(c) => out.push(c.api_key.expose().to_string()),
        crate::config::TrackerConfig::Github(c) => out.push(c.token.expose().to_string()),
        crate::config::TrackerConfig::Local(_) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_every_occurrence_longest_first_and_ignores_short_values() {
        let r = Redactor::new(vec!["abc".into(), "s3cr3t-value".into(), "s3cr3t".into()]);
        assert_eq!(
            r.redact("a s3cr3t-value and s3cr3t, abc"),
            "a [redacted] and [redacted], abc"
        );
        assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
    }
}
