//! Reading workflow text into a validated [`Workflow`], given the [`Adapters`] that
//! validate the sections config does not own. The public entry points (`load`,
//! `load_str`, ...) live in `workflow_load`, which passes the real adapters.

use std::path::{Path, PathBuf};

use super::adapters::Adapters;
use super::error::{ConfigError, ConfigErrors, Errors};
use super::expand::EnvLookup;
use super::workflow::Workflow;
use super::{raw, validate};

/// The workflow file's text, or the one error saying why it cannot be read.
pub(crate) fn read(path: &Path) -> Result<String, ConfigErrors> {
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
/// from disk. With `render`, every template must also render against a sample ticket
/// (one validation for `run`, hot reload and `check`, or the first run would fail on
/// it); without, verbs that only need where things are keep working while a prompt is
/// broken.
pub(crate) fn load_str_with(
    yaml: &str,
    path: &Path,
    env: EnvLookup<'_>,
    adapters: &dyn Adapters,
    render: bool,
) -> Result<Workflow, ConfigErrors> {
    let mut errors = Errors::new(path, yaml);
    let Some(raw) = raw::parse(yaml, &mut errors) else {
        return Err(ConfigErrors(errors.list));
    };
    let wf = validate::build(raw, yaml, path, base_dir(path), env, errors, adapters).map_err(
        |mut list| {
            // Workflow errors in file order, then errors inside prompt files.
            list.sort_by_key(|e| (e.file != path, e.line.unwrap_or(0)));
            ConfigErrors(list)
        },
    )?;
    if !render {
        return Ok(wf);
    }
    let problems = adapters.render_errors(&wf);
    if problems.is_empty() {
        Ok(wf)
    } else {
        Err(ConfigErrors(problems))
    }
}

/// The workflow file's directory, absolute.
fn base_dir(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::path::absolute(&dir).unwrap_or(dir)
}
