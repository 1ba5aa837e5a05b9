//! The three-layer MiniJinja prompt an agent receives.
//!
//! Layers, in order: the workflow's global prompt (optional), the state's stage prompt,
//! and a lifecycle section karajan writes itself (ticket metadata and its pull request,
//! the current state, the transitions out of it, rework feedback, recent human
//! comments). User templates
//! render with strict undefined behaviour against a typed [`PromptContext`], so a typo
//! fails loudly — at `karajan check` time via [`check_all`], not mid-run.

pub(crate) mod context;
pub(crate) mod env;
mod lifecycle;

use sha2::{Digest, Sha256};

use crate::config::{PromptFile, Workflow};
use crate::domain::Comment;
use crate::settings::ConfigError;

pub use context::{
    PromptContext, PromptIssue, PromptPullRequest, PullRequestContext, ReworkContext,
};
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

/// One user template that does not render against the sample ticket.
struct Problem {
    /// Where the template is configured (`prompts.global`, `states.implement.prompt`,
    /// `workspace.branch`).
    key: String,
    /// The template's file (the workflow itself for the branch template).
    file: std::path::PathBuf,
    /// The agent state whose run would fail, for stage prompts.
    state: Option<String>,
    error: PromptError,
}

/// Renders every user template against a built-in sample ticket (once as a first run,
/// once as a rework with feedback): the global prompt, every agent state's prompt, and
/// the branch template. Each layer is rendered on its own so one broken template does not
/// hide another; each problem is reported once.
fn problems(workflow: &Workflow) -> Vec<Problem> {
    let mut found: Vec<Problem> = Vec::new();
    let mut push = |p: Problem| {
        let same = |q: &Problem| q.key == p.key && q.error == p.error;
        if !found.iter().any(same) {
            found.push(p);
        }
    };
    for (name, spec) in &workflow.machine.states {
        let Some(agent) = workflow.agent_state(name) else {
            continue;
        };
        for reworked in [false, true] {
            let ctx = context::sample(name, spec.column(), reworked);
            if let Some(global) = &workflow.prompts.global
                && let Err(error) = render_file(workflow, global, &ctx)
            {
                push(Problem {
                    key: "prompts.global".into(),
                    file: global.path.clone(),
                    state: None,
                    error,
                });
            }
            if let Err(error) = render_file(workflow, &agent.prompt, &ctx) {
                push(Problem {
                    key: format!("states.{name}.prompt"),
                    file: agent.prompt.path.clone(),
                    state: Some(name.clone()),
                    error,
                });
            }
        }
    }
    let ctx = context::sample(
        &workflow.machine.entry,
        &workflow.machine.columns.active,
        false,
    );
    if let Err(error) = render_branch(&workflow.workspace.branch, &ctx) {
        push(Problem {
            key: "workspace.branch".into(),
            file: workflow.path.clone(),
            state: None,
            error,
        });
    }
    if let Some(github) = workflow.forge.as_ref().and_then(|f| f.github()) {
        let pr = PullRequestContext {
            issue: ctx.issue.clone(),
            branch: "karajan/SAMPLE-1".into(),
            state: workflow.machine.entry.clone(),
        };
        let templates = [
            ("forge.pull_request.title", &github.pull_request.title),
            ("forge.pull_request.body", &github.pull_request.body),
        ];
        for (key, template) in templates {
            if let Err(e) = env::render(key, template, &pr) {
                push(Problem {
                    key: key.into(),
                    file: workflow.path.clone(),
                    state: None,
                    error: PromptError::Template(e),
                });
            }
        }
    }
    found
}

/// Every template that does not render against the sample ticket, as messages (stage
/// errors prefixed with their state); empty means everything renders.
pub fn check_all(workflow: &Workflow) -> Vec<String> {
    problems(workflow)
        .into_iter()
        .map(|p| match p.state {
            Some(state) => format!("state `{state}`: {}", p.error),
            None => p.error.to_string(),
        })
        .collect()
}

/// [`check_all`] as configuration errors, each naming the template's file, line and
/// key. Part of loading a workflow (`workflow_load::load`), so `run`, hot reload and `check`
/// refuse the same templates.
pub(crate) fn render_errors(workflow: &Workflow) -> Vec<ConfigError> {
    problems(workflow)
        .into_iter()
        .map(|p| {
            let (line, message) = match &p.error {
                PromptError::Template(t) if p.file != workflow.path => {
                    (t.line, format!("does not render: {}", t.message))
                }
                other => (None, format!("does not render: {other}")),
            };
            ConfigError {
                file: p.file,
                line,
                key: p.key,
                message: format!("{message} (rendered against a sample ticket)"),
            }
        })
        .collect()
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
