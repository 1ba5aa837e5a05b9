//! The workspace hooks around states and runs, with the Symphony semantics:
//! `after_create` only on creation (failure aborts the attempt), `before_run` before
//! each run (failure or timeout aborts the attempt), `after_run` and `before_remove`
//! recorded but never fatal, `on_stage_enter` on each state entry.

use std::collections::BTreeMap;

use super::effects::{Effect, HookSpec};
use super::engine::Engine;
use crate::config::{HookSet, RunnerConfig, RunnerKind, Workflow};
use crate::store::EventKind;
use crate::workspace::{HookResult, sanitize_key};

pub(crate) fn hook_event(name: &str, state: Option<&str>, r: &HookResult) -> EventKind {
    EventKind::HookRan {
        hook: name.to_string(),
        state: state.map(str::to_string),
        ok: r.ok,
        exit_code: r.exit_code,
        timed_out: r.timed_out,
        duration_ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
        output_tail: r.output_tail.clone(),
    }
}

/// A runner profile for hooks of states that have no agent.
fn no_runner() -> RunnerConfig {
    RunnerConfig {
        name: "hooks".into(),
        kind: RunnerKind::Command,
        command: vec![],
        env: BTreeMap::new(),
        inherit_env: vec![],
        model: None,
        stall_timeout: None,
        turn_timeout: None,
        max_turns: None,
        cli: Default::default(),
    }
}

/// The hooks of `state`: its agent state's own, else the workflow's.
fn hooks_for(wf: &Workflow, state: &str) -> HookSet {
    match wf.agent_state(state) {
        Some(a) => a.hooks.clone(),
        None => wf.hooks.set.clone(),
    }
}

/// A hook's environment: the state's runner allowlist plus the ticket and state.
fn hook_env(wf: &Workflow, identifier: &str, state: &str) -> Vec<(String, String)> {
    let runner = wf
        .agent_state(state)
        .map_or_else(no_runner, |a| a.runner.clone());
    let meta = [
        ("KARAJAN_ISSUE".to_string(), identifier.to_string()),
        ("KARAJAN_STATE".to_string(), state.to_string()),
    ];
    crate::agent::env::build_env(&runner, &meta)
}

/// A hook to run in the ticket's workspace, resolved for a task to run. Only the
/// workflow decides it, so any node of a cluster resolves it the same way for its own
/// workspace.
pub(crate) fn hook_spec(
    wf: &Workflow,
    identifier: &str,
    state: &str,
    name: &str,
    script: &str,
) -> HookSpec {
    HookSpec {
        name: name.to_string(),
        state: Some(state.to_string()),
        script: script.to_string(),
        cwd: workspace_path(wf, identifier),
        env: hook_env(wf, identifier, state),
        timeout: wf.hooks.timeout,
    }
}

/// The ticket's workspace under the workflow's root.
pub(crate) fn workspace_path(wf: &Workflow, identifier: &str) -> std::path::PathBuf {
    wf.workspace.root.join(sanitize_key(identifier))
}

/// `on_stage_enter` of `state`, if it has one.
pub(crate) fn stage_enter_spec(wf: &Workflow, identifier: &str, state: &str) -> Option<HookSpec> {
    let script = hooks_for(wf, state).on_stage_enter?;
    Some(hook_spec(wf, identifier, state, "on_stage_enter", &script))
}

impl Engine {
    pub(crate) fn hook_spec(
        &self,
        identifier: &str,
        state: &str,
        name: &str,
        script: &str,
    ) -> HookSpec {
        hook_spec(&self.workflow, identifier, state, name, script)
    }

    pub(crate) fn workspace_path(&self, identifier: &str) -> std::path::PathBuf {
        workspace_path(&self.workflow, identifier)
    }

    /// `on_stage_enter`, on each state entry; its chain runs it when the workspace
    /// exists.
    pub(crate) fn stage_enter_effect(&self, identifier: &str, state: &str) -> Option<Effect> {
        stage_enter_spec(&self.workflow, identifier, state).map(Effect::Hook)
    }

    /// `before_remove` (recorded, not fatal), then the clone goes.
    pub(crate) fn clean_effect(&self, identifier: &str) -> Effect {
        let before_remove = self
            .workflow
            .hooks
            .set
            .before_remove
            .clone()
            .map(|script| self.hook_spec(identifier, "", "before_remove", &script));
        Effect::Clean {
            path: self.workspace_path(identifier),
            before_remove,
            workspaces: self.workspaces.clone(),
        }
    }
}
