//! The CLI-specific part of a runner profile (`RunnerConfig::cli`), as data.
//!
//! The agent runners own these keys: what each value means, which runner kinds accept
//! it and how it is validated live in `agent::settings` (see the key table there), which
//! fills this struct from the raw runner section. The types are declared here, beside
//! `RunnerConfig`, so a `Workflow` can hold them without `config` importing the agent.

use super::workflow::RunnerKind;

/// The values of a claude runner's `permission_mode`, as `agent::settings` parses them
/// (and `karajan schema` lists them for editors).
pub const PERMISSION_MODES: [&str; 7] = [
    "acceptEdits",
    "auto",
    "bypassPermissions",
    "default",
    "dontAsk",
    "plan",
    "skip",
];

/// The values of a codex runner's `sandbox`.
pub const SANDBOXES: [&str; 4] = [
    "read-only",
    "workspace-write",
    "danger-full-access",
    "bypass",
];

/// The values of a gemini runner's `approval_mode`.
pub const APPROVAL_MODES: [&str; 4] = ["default", "auto_edit", "yolo", "plan"];

/// Runner-specific settings. Keys that do not apply to the runner's kind are rejected
/// when the workflow loads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CliSettings {
    pub permission_mode: Option<ClaudePermission>,
    pub allowed_tools: Vec<String>,
    pub append_system_prompt: Option<String>,
    pub sandbox: Option<CodexSandbox>,
    pub approval_mode: Option<GeminiApproval>,
    pub extra_args: Vec<String>,
    pub family: Option<String>,
    pub price: Option<Price>,
}

impl CliSettings {
    /// The family used for reviewer independence: the `family` key, else the kind.
    pub fn family_of(&self, kind: RunnerKind) -> String {
        self.family
            .clone()
            .unwrap_or_else(|| kind.as_str().to_string())
    }
}

/// Claude Code's permission handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaudePermission {
    /// `--permission-mode <mode>` with one of Claude Code's modes.
    Mode(ClaudeMode),
    /// `--dangerously-skip-permissions`.
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaudeMode {
    AcceptEdits,
    Auto,
    BypassPermissions,
    Default,
    DontAsk,
    Plan,
}

/// Codex's sandbox policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodexSandbox {
    ReadOnly,
    WorkspaceWrite,
    DangerFullAccess,
    /// `--dangerously-bypass-approvals-and-sandbox`.
    Bypass,
}

/// Gemini CLI's approval mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeminiApproval {
    Default,
    AutoEdit,
    Yolo,
    Plan,
}

/// USD per million tokens (a runner's `price` override, or a row of the agent's price
/// table).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write: f64,
}
