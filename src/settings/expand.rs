//! `~` and `$VAR` / `${VAR}` expansion for paths and secrets in `workflow.yaml`.
//!
//! Only paths and secret values are expanded: everything else (prompts, hooks, commands)
//! is passed through untouched so shell snippets keep their own `$VAR` semantics. The
//! environment is injected as a lookup function so tests never mutate the process
//! environment. An unset or empty variable is an error: a silently empty token or path
//! is far harder to debug than a refusal to start.

use std::path::PathBuf;

use super::secret::{RawEnvValue, Secret};

/// Looks up an environment variable; `None` when unset.
pub(crate) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment as an [`EnvLookup`].
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ExpandError {
    #[error("environment variable `{0}` is not set")]
    Unset(String),
    #[error("environment variable `{0}` is empty")]
    Empty(String),
    #[error("unclosed `${{` in `{0}`")]
    Unclosed(String),
    #[error("`~` cannot be expanded: `HOME` is not set")]
    NoHome,
}

/// Replaces `$VAR` and `${VAR}` with their values. `$$` is a literal `$`; a `$` not
/// followed by a name is kept as is.
pub(crate) fn expand_vars(input: &str, env: EnvLookup<'_>) -> Result<String, ExpandError> {
    expand_counting(input, env).map(|(text, _)| text)
}

/// [`expand_vars`], also saying whether any variable was substituted.
fn expand_counting(input: &str, env: EnvLookup<'_>) -> Result<(String, bool), ExpandError> {
    let mut expanded = false;
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| ExpandError::Unclosed(input.to_string()))?;
            out.push_str(&lookup(&braced[..end], env)?);
            expanded = true;
            rest = &braced[end + 1..];
        } else {
            let len = after
                .char_indices()
                .find(|(i, c)| {
                    !(c.is_ascii_alphanumeric() || *c == '_') || (*i == 0 && c.is_ascii_digit())
                })
                .map_or(after.len(), |(i, _)| i);
            if len == 0 {
                out.push('$');
            } else {
                out.push_str(&lookup(&after[..len], env)?);
                expanded = true;
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok((out, expanded))
}

fn lookup(name: &str, env: EnvLookup<'_>) -> Result<String, ExpandError> {
    match env(name) {
        None => Err(ExpandError::Unset(name.to_string())),
        Some(v) if v.is_empty() => Err(ExpandError::Empty(name.to_string())),
        Some(v) => Ok(v),
    }
}

/// Expands a leading `~` (alone or followed by `/`) to `$HOME`, then `$VAR`s.
pub(crate) fn expand_path(input: &str, env: EnvLookup<'_>) -> Result<PathBuf, ExpandError> {
    let tilde = if input == "~" || input.starts_with("~/") {
        let home = env("HOME")
            .filter(|h| !h.is_empty())
            .ok_or(ExpandError::NoHome)?;
        format!("{home}{}", &input[1..])
    } else {
        input.to_string()
    };
    expand_vars(&tilde, env).map(PathBuf::from)
}

/// Expands a secret value; the result must not be empty.
pub(crate) fn expand_secret(input: &str, env: EnvLookup<'_>) -> Result<Secret, ExpandError> {
    expand_vars(input, env).map(Secret::new)
}

/// Expands a runner `env` value. It is sensitive (blanked on the dashboard) when it
/// came from the environment (`$VAR`) or is marked `{secret: …}`; a plain literal is
/// not, since the workflow itself shows it.
pub(crate) fn expand_env_value(
    raw: &RawEnvValue,
    env: EnvLookup<'_>,
) -> Result<Secret, ExpandError> {
    let (text, expanded) = expand_counting(&raw.text, env)?;
    Ok(if expanded || raw.marked {
        Secret::new(text)
    } else {
        Secret::plain(text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/ada".into()),
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            "DIR" => Some("/srv".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_plain_and_braced_vars() {
        assert_eq!(expand_vars("$TOKEN", &env).unwrap(), "s3cret");
        assert_eq!(
            expand_vars("Bearer ${TOKEN}!", &env).unwrap(),
            "Bearer s3cret!"
        );
        assert_eq!(expand_vars("$DIR/x-$TOKEN", &env).unwrap(), "/srv/x-s3cret");
        assert_eq!(expand_vars("no vars", &env).unwrap(), "no vars");
    }

    #[test]
    fn dollar_escapes_and_lone_dollars_stay_literal() {
        assert_eq!(expand_vars("cost: $$5", &env).unwrap(), "cost: $5");
        assert_eq!(expand_vars("a $ b", &env).unwrap(), "a $ b");
        assert_eq!(expand_vars("end$", &env).unwrap(), "end$");
        assert_eq!(expand_vars("$1", &env).unwrap(), "$1");
    }

    #[test]
    fn unset_empty_and_unclosed_are_errors() {
        assert_eq!(
            expand_vars("$NOPE", &env),
            Err(ExpandError::Unset("NOPE".into()))
        );
        assert_eq!(
            expand_vars("${EMPTY}", &env),
            Err(ExpandError::Empty("EMPTY".into()))
        );
        assert_eq!(
            expand_vars("${TOKEN", &env),
            Err(ExpandError::Unclosed("${TOKEN".into()))
        );
        assert_eq!(
            expand_secret("$EMPTY", &env).unwrap_err().to_string(),
            "environment variable `EMPTY` is empty"
        );
    }

    #[test]
    fn expands_tilde_only_at_the_start() {
        assert_eq!(
            expand_path("~/work", &env).unwrap(),
            PathBuf::from("/home/ada/work")
        );
        assert_eq!(expand_path("~", &env).unwrap(), PathBuf::from("/home/ada"));
        assert_eq!(expand_path("a/~/b", &env).unwrap(), PathBuf::from("a/~/b"));
        assert_eq!(
            expand_path("~bob/x", &env).unwrap(),
            PathBuf::from("~bob/x")
        );
        assert_eq!(
            expand_path("$DIR/tickets", &env).unwrap(),
            PathBuf::from("/srv/tickets")
        );
        let no_home = |_: &str| None;
        assert_eq!(expand_path("~/x", &no_home), Err(ExpandError::NoHome));
    }

    #[test]
    fn env_values_are_sensitive_when_expanded_or_marked() {
        let raw = |text: &str, marked| RawEnvValue {
            text: text.into(),
            marked,
        };
        let literal = expand_env_value(&raw("implement", false), &env).unwrap();
        assert_eq!(literal.expose(), "implement");
        assert!(!literal.is_sensitive());
        let escaped = expand_env_value(&raw("cost $$5", false), &env).unwrap();
        assert!(!escaped.is_sensitive(), "`$$` is a literal dollar");
        let from_env = expand_env_value(&raw("Bearer ${TOKEN}", false), &env).unwrap();
        assert_eq!(from_env.expose(), "Bearer s3cret");
        assert!(from_env.is_sensitive());
        let marked = expand_env_value(&raw("hunter2-literal", true), &env).unwrap();
        assert!(marked.is_sensitive());
        assert_eq!(
            expand_env_value(&raw("$NOPE", true), &env),
            Err(ExpandError::Unset("NOPE".into()))
        );
    }

    #[test]
    fn secrets_are_redacted() {
        let s = expand_secret("$TOKEN", &env).unwrap();
        assert_eq!(s.expose(), "s3cret");
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }
}
