//! `karajan graph [WORKFLOW] [--format mermaid|dot]`: print the workflow's state
//! machine (see `crate::graph` for what each node and edge means), for the README of
//! the user's own repository or for `dot -Tsvg`.
//!
//! Only the states matter here, so a workflow whose secrets are not set in this shell
//! (a tracker token, say) still draws: when loading with the real environment fails,
//! it is loaded again with a placeholder for every unset variable, and only if that
//! fails too are the (first) errors reported.

use std::path::Path;

use super::Exit;
use crate::graph::{Graph, dot, mermaid};

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A Mermaid flowchart (GitHub and GitLab render it in a ```mermaid block).
    Mermaid,
    /// Graphviz DOT (`| dot -Tsvg > workflow.svg`).
    Dot,
}

#[derive(Debug, Clone, clap::Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub workflow: super::WorkflowArg,
    /// The output format.
    #[arg(long, value_enum, default_value = "mermaid")]
    pub format: Format,
}

pub fn run(path: &Path, format: Format) -> Exit {
    let workflow = match load(path) {
        Ok(wf) => wf,
        Err(errors) => {
            eprintln!("karajan: {} is invalid:\n{errors}", path.display());
            return Exit::Config;
        }
    };
    let graph = Graph::of(&workflow.machine);
    let text = match format {
        Format::Mermaid => mermaid::render(&graph),
        Format::Dot => dot::render(&graph),
    };
    match std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes()) {
        Ok(()) => Exit::Ok,
        Err(_) => Exit::Failure,
    }
}

/// The workflow, unrendered, with placeholders for unset variables if need be.
fn load(path: &Path) -> Result<crate::config::Workflow, crate::config::ConfigErrors> {
    let text = crate::config::read(path)?;
    let real = crate::settings::expand::process_env;
    match crate::workflow_load::load_unrendered(&text, path, &real) {
        Ok(wf) => Ok(wf),
        Err(first) => {
            let lenient = |name: &str| {
                Some(std::env::var(name).unwrap_or_else(|_| "karajan-graph-unset".into()))
            };
            crate::workflow_load::load_unrendered(&text, path, &lenient).map_err(|_| first)
        }
    }
}
