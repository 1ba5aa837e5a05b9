//! Configuration errors. Loading never stops at the first problem: every error is
//! collected into [`ConfigErrors`], and each one names the file, the line when known and
//! the key path (`states.implement.prompt`), so a user can fix them all in one pass.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in `workflow.yaml` or in a prompt file it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file at fault (the workflow file, or a prompt template).
    pub file: PathBuf,
    /// 1-based line in `file`, when known.
    pub line: Option<usize>,
    /// Dotted key path in the workflow (`states.implement.prompt`); empty for the file.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found while loading a workflow (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> impl Iterator<Item = &ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            all => {
                write!(f, "{} problems in the workflow:", all.len())?;
                for e in all {
                    write!(f, "\n  - {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigErrors {}

/// A template (a prompt file, the branch template) that failed to compile or render.
/// Defined here rather than beside the renderer so `config` can report a template that
/// does not compile without importing `prompt`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{template}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct TemplateError {
    /// The template's name: its file path relative to the workflow, or `workspace.branch`.
    pub template: String,
    pub line: Option<usize>,
    pub message: String,
}

/// Collects errors against one workflow file, locating each key's line in its text.
pub(crate) struct Errors<'a> {
    file: &'a Path,
    text: &'a str,
    pub(crate) list: Vec<ConfigError>,
}

impl<'a> Errors<'a> {
    pub(crate) fn new(file: &'a Path, text: &'a str) -> Self {
        Errors {
            file,
            text,
            list: Vec::new(),
        }
    }

    /// An error at `key` (a dotted path) in the workflow file.
    pub(crate) fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        let key = key.into();
        let line = locate(self.text, &key);
        self.list.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            key,
            message: message.into(),
        });
    }

    /// An error in the workflow file at a line yaml reported.
    pub(crate) fn push_line(
        &mut self,
        line: Option<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.list.push(ConfigError {
            file: self.file.to_path_buf(),
            line,
            key: key.into(),
            message: message.into(),
        });
    }

    /// An error in another file (a prompt template) reached through `key`.
    pub(crate) fn push_in(
        &mut self,
        file: &Path,
        line: Option<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.list.push(ConfigError {
            file: file.to_path_buf(),
            line,
            key: key.into(),
            message: message.into(),
        });
    }

    pub(crate) fn count(&self) -> usize {
        self.list.len()
    }
}

/// The 1-based line of a dotted key path in block-style YAML: each segment is searched
/// below its parent, at a deeper indent, without leaving the parent's block. Falls back to
/// the deepest segment found (e.g. the parent of a key written in `{ flow: style }`).
pub(crate) fn locate(text: &str, key: &str) -> Option<usize> {
    if key.is_empty() {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for seg in key.split('.') {
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(start) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if parent_indent.is_some_and(|p| indent <= p) {
                break;
            }
            if is_key_line(trimmed, seg) {
                hit = Some((i, indent));
                break;
            }
        }
        match hit {
            Some((i, indent)) => {
                found = Some(i + 1);
                start = i + 1;
                parent_indent = Some(indent);
            }
            None => break,
        }
    }
    found
}

fn is_key_line(trimmed: &str, seg: &str) -> bool {
    [seg.to_string(), format!("\"{seg}\""), format!("'{seg}'")]
        .iter()
        .any(|k| {
            trimmed
                .strip_prefix(k.as_str())
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "\
tracker:
  kind: local
states:
  # the first stage
  implement:
    kind: agent
    prompt: x.md
    hooks: { before_run: ls }
  review:
    kind: gate
";

    #[test]
    fn locates_nested_keys() {
        assert_eq!(locate(YAML, "tracker"), Some(1));
        assert_eq!(locate(YAML, "tracker.kind"), Some(2));
        assert_eq!(locate(YAML, "states.implement.prompt"), Some(7));
        assert_eq!(locate(YAML, "states.review.kind"), Some(10));
        // A key in a flow mapping falls back to its parent's line.
        assert_eq!(locate(YAML, "states.implement.hooks.before_run"), Some(8));
        // `kind` under `tracker` is not found under `states.review`'s sibling block.
        assert_eq!(locate(YAML, "tracker.prompt"), Some(1));
        assert_eq!(locate(YAML, "nope"), None);
    }

    #[test]
    fn displays_every_error() {
        let e = |key: &str, line| ConfigError {
            file: "wf.yaml".into(),
            line,
            key: key.into(),
            message: "bad".into(),
        };
        assert_eq!(e("a.b", Some(3)).to_string(), "wf.yaml:3: a.b: bad");
        assert_eq!(e("", None).to_string(), "wf.yaml: bad");
        let all = ConfigErrors(vec![e("a", Some(1)), e("b", None)]);
        assert_eq!(
            all.to_string(),
            "2 problems in the workflow:\n  - wf.yaml:1: a: bad\n  - wf.yaml: b: bad"
        );
    }
}
