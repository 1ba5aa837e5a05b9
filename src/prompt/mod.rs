//! The three-layer MiniJinja prompt an agent receives.
//!
//! Layers, in order: the workflow's global prompt (optional), the state's stage prompt,
//! and a lifecycle section karajan writes itself (ticket metadata, the current state,
//! the transitions out of it, rework feedback, recent human comments). User templates
//! render with strict undefined behaviour against a typed [`PromptContext`], so a typo
//! fails loudly — at `karajan check` time via [`check_all`], not mid-run.

pub(crate) mod context;
pub(crate) mod env;
mod lifecycle;

use sha2::{Digest, Sha256};

use crate::config::{PromptFile, Workflow};
use crate::domain::Comment;

pub use context::{PromptContext, PromptIssue, ReworkContext};
pub use env::TemplateError;

/// A rendered prompt and its SHA-256 (hex), recorded with the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedPrompt {
    pub text: String,
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    #[error("no state named `{0}` in the workflow")]
    UnknownState(String),
    #[error("state `{0}` is not an agent state; only agent states have prompts")]
    NotAnAgentState(String),
    /// A template failed to render (undefined variable, bad filter, ...): a
    /// configuration problem, not worth retrying until the template changes.
    #[error("{0}")]
    Template(#[from] TemplateError),
    #[error("the branch template `{0}` rendered an empty name")]
    EmptyBranch(String),
}

/// Renders the full prompt for an agent state.
pub fn render(
    workflow: &Workflow,
    state: &str,
    ctx: &PromptContext,
    recent_comments: &[Comment],
) -> Result<RenderedPrompt, PromptError> {
    let agent = match workflow.states.get(state) {
        None => return Err(PromptError::UnknownState(state.to_string())),
        Some(_) => workflow
            .agent_state(state)
            .ok_or_else(|| PromptError::NotAnAgentState(state.to_string()))?,
    };
    let mut layers = Vec::with_capacity(3);
    if let Some(global) = &workflow.prompts.global {
        layers.push(render_file(workflow, global, ctx)?);
    }
    layers.push(render_file(workflow, &agent.prompt, ctx)?);
    layers.push(lifecycle::section(
        &workflow.machine,
        state,
        ctx,
        recent_comments,
    ));
    let mut text = layers
        .iter()
        .map(|l| l.trim_end())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    text.push('\n');
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    Ok(RenderedPrompt { text, digest })
}

/// Renders the branch-name template (`workspace.branch`), trimmed.
pub fn render_branch(template: &str, ctx: &PromptContext) -> Result<String, PromptError> {
    let out = env::render("workspace.branch", template, ctx)?;
    let name = out.trim();
    if name.is_empty() {
        return Err(PromptError::EmptyBranch(template.to_string()));
    }
    Ok(name.to_string())
}

/// Renders every user template against a built-in sample ticket (once as a first run,
/// once as a rework with feedback): the global prompt, every agent state's prompt, and
/// the branch template. Each layer is rendered on its own so one broken template does not
/// hide another. Returns every error (stage errors prefixed with their state); empty
/// means everything renders.
pub fn check_all(workflow: &Workflow) -> Vec<String> {
    let mut errors = Vec::new();
    let mut push = |e: String| {
        if !errors.contains(&e) {
            errors.push(e);
        }
    };
    for (name, spec) in &workflow.machine.states {
        let Some(agent) = workflow.agent_state(name) else {
            continue;
        };
        for reworked in [false, true] {
            let ctx = context::sample(name, spec.column(), reworked);
            if let Some(global) = &workflow.prompts.global {
                if let Err(e) = render_file(workflow, global, &ctx) {
                    push(e.to_string());
                }
            }
            if let Err(e) = render_file(workflow, &agent.prompt, &ctx) {
                push(format!("state `{name}`: {e}"));
            }
        }
    }
    let ctx = context::sample(
        &workflow.machine.entry,
        &workflow.machine.columns.active,
        false,
    );
    if let Err(e) = render_branch(&workflow.workspace.branch, &ctx) {
        push(e.to_string());
    }
    errors
}

/// A template's name in messages: its path relative to the workflow's directory.
fn template_name(workflow: &Workflow, file: &PromptFile) -> String {
    file.path
        .strip_prefix(&workflow.base_dir)
        .unwrap_or(&file.path)
        .display()
        .to_string()
}

fn render_file(
    workflow: &Workflow,
    file: &PromptFile,
    ctx: &PromptContext,
) -> Result<String, PromptError> {
    Ok(env::render(
        &template_name(workflow, file),
        &file.source,
        ctx,
    )?)
}

#[cfg(test)]
mod tests;
