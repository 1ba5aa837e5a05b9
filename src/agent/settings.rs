//! Runner-specific settings of the agent CLIs, and the price table behind cost figures.
//!
//! Every agent CLI has its own knobs (Claude's permission mode, Codex's sandbox,
//! Gemini's approval mode). They live in one [`CliSettings`] value on
//! `RunnerConfig::cli` instead of a field per CLI on the shared config type. The types
//! are plain data declared in `config` (so a `Workflow` holds them without `config`
//! importing the agent); this module owns what they mean: it validates the keys from the
//! raw runner section ([`cli_section`], called while loading through `workflow_load`)
//! and the runners read them. Under `runners.<name>:` in `workflow.yaml` the keys are:
//!
//! | key | runner | effect |
//! |---|---|---|
//! | `permission_mode` | claude | `acceptEdits`, `auto`, `bypassPermissions`, `default`, `dontAsk`, `plan` → `--permission-mode <m>`; `skip` → `--dangerously-skip-permissions` (plus `IS_SANDBOX=1`, which Claude Code requires when running as root) |
//! | `allowed_tools` | claude | list → `--allowedTools a,b` |
//! | `append_system_prompt` | claude | `--append-system-prompt <text>` |
//! | `sandbox` | codex | `read-only`, `workspace-write`, `danger-full-access` → `--sandbox <m>` (`-c sandbox_mode=…` on resume, whose help has no `--sandbox`); `bypass` → `--dangerously-bypass-approvals-and-sandbox` |
//! | `approval_mode` | gemini | `default`, `auto_edit`, `yolo`, `plan` → `--approval-mode <m>` |
//! | `extra_args` | all | appended verbatim before the session flags |
//! | `family` | all | the model family for reviewer independence (default: the runner kind) |
//! | `price` | all | `{input, output, cache_read, cache_write}` USD per million tokens, overriding the table |
//!
//! Costs: Claude Code reports `total_cost_usd` itself and karajan records that figure.
//! Codex and Gemini report tokens only, so karajan prices them with the dated table of
//! [`super::prices`] (matched by model line and version; a model the table does not know
//! is marked estimated or unknown, never silently priced as another), or with the
//! runner's `price` override when set.

pub use super::prices::price_for;
use crate::config::RunnerKind;
use crate::config::raw::RawRunner;
pub use crate::config::{
    ClaudeMode, ClaudePermission, CliSettings, CodexSandbox, GeminiApproval, Price,
};
use crate::settings::{Section, join};

impl ClaudePermission {
    pub const CHOICES: &'static [&'static str] = &crate::config::PERMISSION_MODES;

    pub fn parse(s: &str) -> Option<Self> {
        use ClaudeMode::*;
        Some(match s {
            "acceptEdits" => Self::Mode(AcceptEdits),
            "auto" => Self::Mode(Auto),
            "bypassPermissions" => Self::Mode(BypassPermissions),
            "default" => Self::Mode(Default),
            "dontAsk" => Self::Mode(DontAsk),
            "plan" => Self::Mode(Plan),
            "skip" => Self::Skip,
            _ => return None,
        })
    }
}

impl ClaudeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaudeMode::AcceptEdits => "acceptEdits",
            ClaudeMode::Auto => "auto",
            ClaudeMode::BypassPermissions => "bypassPermissions",
            ClaudeMode::Default => "default",
            ClaudeMode::DontAsk => "dontAsk",
            ClaudeMode::Plan => "plan",
        }
    }
}

impl CodexSandbox {
    pub const CHOICES: &'static [&'static str] = &crate::config::SANDBOXES;

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "read-only" => Self::ReadOnly,
            "workspace-write" => Self::WorkspaceWrite,
            "danger-full-access" => Self::DangerFullAccess,
            "bypass" => Self::Bypass,
            _ => return None,
        })
    }

    /// The `--sandbox` value; `None` for [`CodexSandbox::Bypass`].
    pub fn mode(self) -> Option<&'static str> {
        match self {
            CodexSandbox::ReadOnly => Some("read-only"),
            CodexSandbox::WorkspaceWrite => Some("workspace-write"),
            CodexSandbox::DangerFullAccess => Some("danger-full-access"),
            CodexSandbox::Bypass => None,
        }
    }
}

impl GeminiApproval {
    pub const CHOICES: &'static [&'static str] = &crate::config::APPROVAL_MODES;

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "default" => Self::Default,
            "auto_edit" => Self::AutoEdit,
            "yolo" => Self::Yolo,
            "plan" => Self::Plan,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GeminiApproval::Default => "default",
            GeminiApproval::AutoEdit => "auto_edit",
            GeminiApproval::Yolo => "yolo",
            GeminiApproval::Plan => "plan",
        }
    }
}

impl CliSettings {
    /// Every problem with these settings for a runner of `kind` using `model`, as
    /// `(key, message)` pairs for the config loader to report with its own location.
    pub fn problems(&self, kind: RunnerKind, model: Option<&str>) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let only = |key: &'static str, for_kind: RunnerKind, set: bool, out: &mut Vec<_>| {
            if set && kind != for_kind {
                out.push((
                    key,
                    format!(
                        "`{key}` applies to `{}` runners only, not `{}`",
                        for_kind.as_str(),
                        kind.as_str()
                    ),
                ));
            }
        };
        only(
            "permission_mode",
            RunnerKind::Claude,
            self.permission_mode.is_some(),
            &mut out,
        );
        only(
            "allowed_tools",
            RunnerKind::Claude,
            !self.allowed_tools.is_empty(),
            &mut out,
        );
        only(
            "append_system_prompt",
            RunnerKind::Claude,
            self.append_system_prompt.is_some(),
            &mut out,
        );
        only(
            "sandbox",
            RunnerKind::Codex,
            self.sandbox.is_some(),
            &mut out,
        );
        only(
            "approval_mode",
            RunnerKind::Gemini,
            self.approval_mode.is_some(),
            &mut out,
        );
        if kind == RunnerKind::Command && !self.extra_args.is_empty() {
            out.push((
                "extra_args",
                "`extra_args` does not apply to `command` runners: put the arguments in `command`"
                    .to_string(),
            ));
        }
        if let Some(p) = &self.price {
            let all = [p.input, p.output, p.cache_read, p.cache_write];
            if all.iter().any(|v| !v.is_finite() || *v < 0.0) {
                out.push((
                    "price",
                    "prices must be finite and not negative".to_string(),
                ));
            }
        }
        if let (Some(model), Some(vendor)) = (model, kind_vendor(kind)) {
            if let Some(other) = model_vendor(model).filter(|v| *v != vendor) {
                out.push((
                    "model",
                    format!(
                        "model `{model}` is a {other} model; a `{}` runner cannot use it",
                        kind.as_str()
                    ),
                ));
            }
        }
        out
    }
}

/// The CLI-specific keys of the runner profile at `base` (`runners.<name>`), each
/// checked against its choices and against the runner's kind; problems go to `cx`.
pub(crate) fn cli_section(
    base: &str,
    kind: RunnerKind,
    r: &RawRunner,
    cx: &mut Section,
) -> CliSettings {
    fn choice<T>(
        cx: &mut Section,
        key: String,
        raw: Option<&String>,
        parse: fn(&str) -> Option<T>,
        choices: &[&str],
    ) -> Option<T> {
        let raw = raw?;
        let parsed = parse(raw);
        if parsed.is_none() {
            cx.push(
                key,
                format!(
                    "unknown value `{raw}`; expected one of {}",
                    choices.join(", ")
                ),
            );
        }
        parsed
    }
    let price = r.price.as_ref().map(|p| Price {
        input: p.input.unwrap_or(0.0),
        output: p.output.unwrap_or(0.0),
        cache_read: p.cache_read.unwrap_or(0.0),
        cache_write: p.cache_write.unwrap_or(0.0),
    });
    let cli = CliSettings {
        permission_mode: choice(
            cx,
            join(base, "permission_mode"),
            r.permission_mode.as_ref(),
            ClaudePermission::parse,
            ClaudePermission::CHOICES,
        ),
        allowed_tools: r.allowed_tools.clone().unwrap_or_default(),
        append_system_prompt: r.append_system_prompt.clone(),
        sandbox: choice(
            cx,
            join(base, "sandbox"),
            r.sandbox.as_ref(),
            CodexSandbox::parse,
            CodexSandbox::CHOICES,
        ),
        approval_mode: choice(
            cx,
            join(base, "approval_mode"),
            r.approval_mode.as_ref(),
            GeminiApproval::parse,
            GeminiApproval::CHOICES,
        ),
        extra_args: r.extra_args.clone().unwrap_or_default(),
        family: r.family.clone(),
        price,
    };
    for (key, message) in cli.problems(kind, r.model.as_deref()) {
        cx.push(join(base, key), message);
    }
    cli
}

/// The vendor whose models a CLI kind runs.
fn kind_vendor(kind: RunnerKind) -> Option<&'static str> {
    match kind {
        RunnerKind::Claude => Some("Anthropic"),
        RunnerKind::Codex => Some("OpenAI"),
        RunnerKind::Gemini => Some("Google"),
        RunnerKind::Command => None,
    }
}

/// The vendor a model name clearly belongs to, if any.
pub fn model_vendor(model: &str) -> Option<&'static str> {
    let m = model.to_ascii_lowercase();
    let starts = |p: &str| m.starts_with(p);
    if starts("claude") || ["opus", "sonnet", "haiku"].iter().any(|w| m.contains(w)) {
        Some("Anthropic")
    } else if starts("gemini") || starts("gemma") {
        Some("Google")
    } else if starts("gpt-") || starts("o1") || starts("o3") || starts("o4") || starts("codex") {
        Some("OpenAI")
    } else {
        None
    }
}

/// Whether `model` may be passed to a CLI of `kind` (a model of another vendor never is:
/// a Codex state must not inherit a Claude model name).
pub fn model_fits(kind: RunnerKind, model: &str) -> bool {
    match (kind_vendor(kind), model_vendor(model)) {
        (Some(k), Some(m)) => k == m,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_choice_and_rejects_others() {
        for c in ClaudePermission::CHOICES {
            assert!(ClaudePermission::parse(c).is_some(), "{c}");
        }
        for c in CodexSandbox::CHOICES {
            assert!(CodexSandbox::parse(c).is_some(), "{c}");
        }
        for c in GeminiApproval::CHOICES {
            assert!(GeminiApproval::parse(c).is_some(), "{c}");
        }
        assert_eq!(ClaudePermission::parse("yolo"), None);
        assert_eq!(CodexSandbox::parse("full-auto"), None);
        assert_eq!(GeminiApproval::parse("autoEdit"), None);
        assert_eq!(
            ClaudePermission::parse("plan"),
            Some(ClaudePermission::Mode(ClaudeMode::Plan))
        );
        assert_eq!(ClaudeMode::AcceptEdits.as_str(), "acceptEdits");
        assert_eq!(CodexSandbox::Bypass.mode(), None);
        assert_eq!(GeminiApproval::AutoEdit.as_str(), "auto_edit");
    }

    #[test]
    fn keys_of_another_kind_and_foreign_models_are_problems() {
        let s = CliSettings {
            permission_mode: Some(ClaudePermission::Skip),
            sandbox: Some(CodexSandbox::ReadOnly),
            ..Default::default()
        };
        let keys: Vec<_> = s
            .problems(RunnerKind::Codex, Some("claude-sonnet-4-5"))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["permission_mode", "model"]);
        assert!(s.problems(RunnerKind::Codex, Some("gpt-5-codex")).len() == 1);
        let ok = CliSettings::default();
        assert!(
            ok.problems(RunnerKind::Gemini, Some("gemini-2.5-pro"))
                .is_empty()
        );
        assert!(ok.problems(RunnerKind::Claude, Some("opus")).is_empty());
        assert!(!ok.problems(RunnerKind::Claude, Some("gpt-5")).is_empty());
        let bad_price = CliSettings {
            price: Some(Price {
                input: -1.0,
                output: 0.0,
                cache_read: 0.0,
                cache_write: f64::NAN,
            }),
            ..Default::default()
        };
        assert_eq!(bad_price.problems(RunnerKind::Claude, None)[0].0, "price");
    }

    #[test]
    fn model_vendor_and_fit() {
        assert_eq!(model_vendor("claude-opus-4-8[1m]"), Some("Anthropic"));
        assert_eq!(model_vendor("sonnet"), Some("Anthropic"));
        assert_eq!(model_vendor("gpt-5.1-codex"), Some("OpenAI"));
        assert_eq!(model_vendor("o3"), Some("OpenAI"));
        assert_eq!(model_vendor("gemini-2.5-flash"), Some("Google"));
        assert_eq!(model_vendor("my-local-llama"), None);
        assert!(!model_fits(RunnerKind::Codex, "claude-sonnet-4-5"));
        assert!(model_fits(RunnerKind::Codex, "my-local-llama"));
        assert!(model_fits(RunnerKind::Command, "claude"));
        assert_eq!(CliSettings::default().family_of(RunnerKind::Codex), "codex");
    }
}
