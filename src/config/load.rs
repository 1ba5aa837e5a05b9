//! Entry points: read `workflow.yaml` (and the prompt files it names) into a validated
//! [`Workflow`], or every problem found. Validation includes rendering every template
//! against a sample ticket, so whoever loads a workflow (`run`, hot reload, `check`)
//! accepts and refuses exactly the same files.

use std::path::{Path, PathBuf};

use super::error::{ConfigError, ConfigErrors, Errors};
use super::expand::{self, EnvLookup};
use super::workflow::Workflow;
use super::{raw, validate};

/// Loads and validates the workflow file at `path` (and the prompt files it uses),
/// expanding `$VAR`s from the process environment.
pub fn load(path: &Path) -> Result<Workflow, ConfigErrors> {
    let text = read(path)?;
    load_str(&text, path)
}

/// [`load`] without rendering the templates: for verbs that only need where things
/// are (the store of `status`, `history`, `verify`), which keep working while a prompt
/// is broken.
pub fn load_unrendered_file(path: &Path) -> Result<Workflow, ConfigErrors> {
    let text = read(path)?;
    load_unrendered(&text, path, &expand::process_env)
}

fn read(path: &Path) -> Result<String, ConfigErrors> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: String::new(),
            message: format!("cannot read the workflow file: {e}"),
        }])
    })
}

/// Validates workflow text as if it were the file at `path`: relative paths (prompts,
/// tickets, the store) resolve against `path`'s directory, and prompt files are read
/// from disk.
pub fn load_str(yaml: &str, path: &Path) -> Result<Workflow, ConfigErrors> {
    load_str_with_env(yaml, path, &expand::process_env)
}

/// [`load_str`] with an injected environment (tests use it to set variables without
/// touching the process environment).
pub(crate) fn load_str_with_env(
    yaml: &str,
    path: &Path,
    env: EnvLookup<'_>,
) -> Result<Workflow, ConfigErrors> {
    let wf = load_unrendered(yaml, path, env)?;
    // One validation for `run`, hot reload and `check`: every template must render
    // against a sample ticket, or the first run would fail on it.
    let problems = crate::prompt::render_errors(&wf);
    if problems.is_empty() {
        Ok(wf)
    } else {
        Err(ConfigErrors(problems))
    }
}

/// Everything [`load_str_with_env`] checks except rendering the templates (they have
/// compiled); for tests of the renderer itself.
pub(crate) fn load_unrendered(
    yaml: &str,
    path: &Path,
    env: EnvLookup<'_>,
) -> Result<Workflow, ConfigErrors> {
    let mut errors = Errors::new(path, yaml);
    let Some(raw) = raw::parse(yaml, &mut errors) else {
        return Err(ConfigErrors(errors.list));
    };
    validate::build(raw, yaml, path, base_dir(path), env, errors).map_err(|mut list| {
        // Workflow errors in file order, then errors inside prompt files.
        list.sort_by_key(|e| (e.file != path, e.line.unwrap_or(0)));
        ConfigErrors(list)
    })
}

/// The workflow file's directory, absolute.
fn base_dir(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::path::absolute(&dir).unwrap_or(dir)
}
