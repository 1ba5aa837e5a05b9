//! The workspace hooks around states and runs, with the Symphony semantics:
//! `after_create` only on creation (failure aborts the attempt), `before_run` before
//! each run (failure or timeout aborts the attempt), `after_run` and `before_remove`
//! recorded but never fatal, `on_stage_enter` on each state entry.

use std::collections::BTreeMap;

use super::effects::{Effect, HookSpec};
use super::engine::Engine;
use crate::config::{HookSet, RunnerConfig, RunnerKind};
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

impl Engine {
    fn hooks_for(&self, state: &str) -> HookSet {
        match self.workflow.agent_state(state) {
            Some(a) => a.hooks.clone(),
            None => self.workflow.hooks.set.clone(),
        }
    }

    /// A hook's environment: the state's runner allowlist plus the ticket and state.
    fn hook_env(&self, identifier: &str, state: &str) -> Vec<(String, String)> {
        let runner = self
            .workflow
            .agent_state(state)
            .map_or_else(no_runner, |a| a.runner.clone());
        let meta = [
            ("KARAJAN_ISSUE".to_string(), identifier.to_string()),
            ("KARAJAN_STATE".to_string(), state.to_string()),
        ];
        crate::agent::env::build_env(&runner, &meta)
    }

    /// A hook to run in the ticket's workspace, resolved for a task to run.
    pub(crate) fn hook_spec(
        &self,
        identifier: &str,
        state: &str,
        name: &str,
        script: &str,
    ) -> HookSpec {
        HookSpec {
            name: name.to_string(),
            state: Some(state.to_string()),
            script: script.to_string(),
            cwd: self.workspace_path(identifier),
            env: self.hook_env(identifier, state),
            timeout: self.workflow.hooks.timeout,
        }
    }

    pub(crate) fn workspace_path(&self, identifier: &str) -> std::path::PathBuf {
        self.workflow.workspace.root.join(sanitize_key(identifier))
    }

    /// `on_stage_enter`, on each state entry; its chain runs it when the workspace
    /// exists.
    pub(crate) fn stage_enter_effect(&self, identifier: &str, state: &str) -> Option<Effect> {
        let script = self.hooks_for(state).on_stage_enter?;
        Some(Effect::Hook(self.hook_spec(
            identifier,
            state,
            "on_stage_enter",
            &script,
        )))
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
