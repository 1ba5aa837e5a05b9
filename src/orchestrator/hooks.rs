//! The workspace hooks around states and runs, with the Symphony semantics:
//! `after_create` only on creation (failure aborts the attempt), `before_run` before
//! each run (failure or timeout aborts the attempt), `after_run` and `before_remove`
//! recorded but never fatal, `on_stage_enter` on each state entry.

use std::collections::BTreeMap;

use tracing::{info, warn};

use super::engine::Engine;
use crate::config::{HookSet, RunnerConfig, RunnerKind};
use crate::store::{EventKind, NewEvent, StoreError};
use crate::workspace::{HookResult, run_hook, sanitize_key};

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

    pub(crate) fn hook_env(
        &self,
        identifier: &str,
        state: &str,
        extra: &[(String, String)],
    ) -> Vec<(String, String)> {
        let runner = self
            .workflow
            .agent_state(state)
            .map_or_else(no_runner, |a| a.runner.clone());
        let mut meta = vec![
            ("KARAJAN_ISSUE".to_string(), identifier.to_string()),
            ("KARAJAN_STATE".to_string(), state.to_string()),
        ];
        meta.extend_from_slice(extra);
        crate::agent::env::build_env(&runner, &meta)
    }

    /// Run one hook in the ticket's workspace and record it. Returns whether it passed.
    pub(crate) async fn hook(
        &self,
        identifier: &str,
        state: &str,
        name: &str,
        script: &str,
    ) -> Result<bool, StoreError> {
        let cwd = self.workspace_path(identifier);
        let env = self.hook_env(identifier, state, &[]);
        let result = run_hook(name, script, &cwd, &env, self.workflow.hooks.timeout).await;
        if !result.ok {
            warn!(ticket = %identifier, state = %state, hook = %name, exit = %result.exit_code.map_or("none".to_string(), |c| format!("code {c}")), timed_out = result.timed_out, "hook failed");
        }
        self.record(vec![NewEvent::for_issue(
            identifier,
            hook_event(name, Some(state), &result),
        )])
        .await?;
        Ok(result.ok)
    }

    pub(crate) fn workspace_path(&self, identifier: &str) -> std::path::PathBuf {
        self.workflow.workspace.root.join(sanitize_key(identifier))
    }

    /// `on_stage_enter`, on each state entry, when the workspace exists.
    pub(crate) async fn stage_enter_hook(
        &self,
        identifier: &str,
        state: &str,
    ) -> Result<(), StoreError> {
        if let Some(script) = self.hooks_for(state).on_stage_enter
            && self.workspace_path(identifier).is_dir()
        {
            self.hook(identifier, state, "on_stage_enter", &script)
                .await?;
        }
        Ok(())
    }

    /// `before_remove` (recorded, not fatal), then the clone goes.
    pub(crate) async fn clean_workspace(&self, identifier: &str) -> Result<(), StoreError> {
        let path = self.workspace_path(identifier);
        if !path.is_dir() {
            return Ok(());
        }
        if let Some(script) = self.workflow.hooks.set.before_remove.clone() {
            self.hook(identifier, "", "before_remove", &script).await?;
        }
        match self.workspaces.remove(identifier).await {
            Ok(_) => {
                info!(ticket = %identifier, path = %path.display(), "workspace removed");
                self.record(vec![NewEvent::for_issue(
                    identifier,
                    EventKind::WorkspaceRemoved {
                        path: path.display().to_string(),
                    },
                )])
                .await?;
            }
            Err(e) => warn!(ticket = %identifier, error = %e, "could not remove workspace"),
        }
        Ok(())
    }
}
