//! [`Section`]: what the owner of one section of `workflow.yaml` (a tracker adapter, the
//! agent runners, the prompts) is handed besides the section's raw YAML. Problems are
//! pushed at a key path and land in the one error list of the whole file, with the key's
//! line found in the workflow text, so an adapter's messages read exactly like config's.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use yaml_serde::Value;

use super::error::Errors;
use super::expand::{self, EnvLookup};

/// The error context of one section: where problems go, how `$VAR` and relative paths
/// resolve.
pub struct Section<'s, 'a> {
    errors: &'s mut Errors<'a>,
    env: EnvLookup<'a>,
    base_dir: &'s Path,
}

impl<'s, 'a> Section<'s, 'a> {
    pub(crate) fn new(errors: &'s mut Errors<'a>, env: EnvLookup<'a>, base_dir: &'s Path) -> Self {
        Section {
            errors,
            env,
            base_dir,
        }
    }

    /// A problem at `key` (a dotted path from the root of the file).
    pub fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.errors.push(key, message);
    }

    /// A problem reported as text that may start with its own key path
    /// (`tracker.repo: must be owner/name`): filed at that key when it lies inside
    /// `section`, else at `section` itself.
    pub fn push_keyed(&mut self, section: &str, message: &str) {
        match message.split_once(": ") {
            Some((key, rest)) if key.starts_with(section) && !key.contains(' ') => {
                self.errors.push(key.to_string(), rest.to_string());
            }
            _ => self.errors.push(section, message.to_string()),
        }
    }

    /// The section's raw YAML read into its owner's raw struct; when it does not fit (a
    /// key of another kind, a wrong type) that is reported at `key` as
    /// "invalid {what}: …".
    pub fn read<T: DeserializeOwned>(&mut self, value: &Value, key: &str, what: &str) -> Option<T> {
        match yaml_serde::from_value::<T>(value.clone()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(key, format!("invalid {what}: {e}"));
                None
            }
        }
    }

    /// How many problems the whole file has so far.
    pub fn count(&self) -> usize {
        self.errors.count()
    }

    /// `$VAR` and `${VAR}` replaced from the environment; an unset or empty variable is
    /// an error (its message names the variable).
    pub fn expand(&self, text: &str) -> Result<String, String> {
        expand::expand_vars(text, self.env).map_err(|e| e.to_string())
    }

    /// A path at `key`: `~`/`$VAR` expanded, then made absolute against the workflow's
    /// directory. Existence is not required.
    pub fn path(&mut self, key: &str, text: &str) -> PathBuf {
        match expand::expand_path(text, self.env) {
            Ok(p) => absolute(self.base_dir, &p),
            Err(e) => {
                self.errors
                    .push(key, format!("cannot expand `{text}`: {e}"));
                absolute(self.base_dir, Path::new(text))
            }
        }
    }
}

fn absolute(base: &Path, p: &Path) -> PathBuf {
    let joined = base.join(p);
    std::path::absolute(&joined).unwrap_or(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "tracker:\n  kind: github\n  repo: acme\n";

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "t-1".to_string())
    }

    #[test]
    fn problems_land_at_their_key_and_line() {
        let file = Path::new("/w/workflow.yaml");
        let mut errors = Errors::new(file, YAML);
        let mut cx = Section::new(&mut errors, &env, Path::new("/w"));
        cx.push_keyed("tracker", "tracker.repo: must be `owner/name`");
        cx.push_keyed("tracker", "no token: set `token`");
        cx.push_keyed("tracker", "states.x: not mine");
        assert_eq!(cx.count(), 3);
        let got: Vec<_> = errors
            .list
            .iter()
            .map(|e| (e.key.as_str(), e.line, e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("tracker.repo", Some(3), "must be `owner/name`"),
                ("tracker", Some(1), "no token: set `token`"),
                ("tracker", Some(1), "states.x: not mine"),
            ]
        );
    }

    #[test]
    fn expands_variables_and_paths_against_the_workflow_folder() {
        let file = Path::new("/w/workflow.yaml");
        let mut errors = Errors::new(file, YAML);
        let mut cx = Section::new(&mut errors, &env, Path::new("/w"));
        assert_eq!(cx.expand("$TOKEN").as_deref(), Ok("t-1"));
        assert!(cx.expand("$NOPE").unwrap_err().contains("NOPE"));
        assert_eq!(cx.path("tracker.dir", "./t"), PathBuf::from("/w/t"));
        assert_eq!(
            cx.path("tracker.dir", "$NOPE/t"),
            PathBuf::from("/w/$NOPE/t")
        );
        assert_eq!(errors.list.len(), 1);
        assert_eq!(errors.list[0].key, "tracker.dir");
        assert!(
            errors.list[0]
                .message
                .starts_with("cannot expand `$NOPE/t`")
        );
    }

    #[test]
    fn a_section_that_does_not_fit_its_raw_struct_is_one_error() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            #[allow(dead_code)]
            kind: String,
        }
        let value: Value = yaml_serde::from_str("kind: github\nrepo: acme\n").unwrap();
        let file = Path::new("/w/workflow.yaml");
        let mut errors = Errors::new(file, YAML);
        let mut cx = Section::new(&mut errors, &env, Path::new("/w"));
        assert!(cx.read::<Raw>(&value, "tracker", "`x` settings").is_none());
        assert_eq!(errors.list.len(), 1);
        assert_eq!(errors.list[0].key, "tracker");
        assert!(
            errors.list[0]
                .message
                .starts_with("invalid `x` settings: unknown field `repo`"),
            "{}",
            errors.list[0].message
        );
    }
}
