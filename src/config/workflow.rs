//! The validated, typed `Workflow`: what the rest of karajan reads. Built from the raw
//! YAML by `load`, which reports every problem at once; nothing here is ever invalid.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;

use super::adapters::TrackerConfig;
use super::cli_settings::CliSettings;
use super::secret::Secret;
use crate::domain::Machine;

#[derive(Debug, Clone)]
pub struct Workflow {
    /// The workflow file this came from.
    pub path: PathBuf,
    /// The directory relative paths are resolved against (the workflow file's).
    pub base_dir: PathBuf,
    /// SHA-256 (hex) over the workflow file and every prompt file it uses.
    pub digest: String,
    pub tracker: TrackerConfig,
    pub machine: Machine,
    pub polling: Polling,
    pub workspace: WorkspaceConfig,
    pub hooks: Hooks,
    pub runners: IndexMap<String, RunnerConfig>,
    pub agent: AgentLimits,
    pub prompts: Prompts,
    /// Per-state settings, in declaration order. Agent states only carry `AgentState`.
    pub states: IndexMap<String, StateConfig>,
    pub store: StoreConfig,
    pub budget: Budget,
    pub server: ServerConfig,
    /// Where the tickets' branches are pushed (`forge:`); `None`: nothing is pushed.
    pub forge: Option<ForgeConfig>,
    /// Where notifications go (`notify:`); no targets: none are sent.
    pub notify: super::notify::NotifyConfig,
}

/// Spending caps in USD. A run over `per_run_usd` or a ticket over `per_ticket_usd` is
/// stopped and handed to a human, never retried automatically; once the day's runs cost
/// `per_day_usd`, dispatch pauses until the next UTC day (running agents finish).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budget {
    pub per_run_usd: Option<f64>,
    pub per_ticket_usd: Option<f64>,
    pub per_day_usd: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct Polling {
    pub interval: Duration,
}

#[derive(Debug, Clone)]
pub struct WorkspaceConfig {
    /// Where per-ticket clones live (absolute).
    pub root: PathBuf,
    /// A local path (absolute after loading) or a URL.
    pub repo: String,
    /// MiniJinja template for the branch, e.g. `karajan/{{ issue.identifier }}`.
    pub branch: String,
}

/// Shell snippets run with `sh -c` in the workspace. `None` means no hook.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HookSet {
    pub after_create: Option<String>,
    pub before_run: Option<String>,
    pub after_run: Option<String>,
    pub before_remove: Option<String>,
    pub on_stage_enter: Option<String>,
}

impl HookSet {
    /// `self` with every hook that `over` names replaced; the others stay.
    pub fn overridden_by(&self, over: &HookSet) -> HookSet {
        HookSet {
            after_create: over.after_create.clone().or(self.after_create.clone()),
            before_run: over.before_run.clone().or(self.before_run.clone()),
            after_run: over.after_run.clone().or(self.after_run.clone()),
            before_remove: over.before_remove.clone().or(self.before_remove.clone()),
            on_stage_enter: over.on_stage_enter.clone().or(self.on_stage_enter.clone()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Hooks {
    pub set: HookSet,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerKind {
    Command,
    Claude,
    Codex,
    Gemini,
}

impl RunnerKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            RunnerKind::Command => "command",
            RunnerKind::Claude => "claude",
            RunnerKind::Codex => "codex",
            RunnerKind::Gemini => "gemini",
        }
    }
}

/// A runner profile. Per-state overrides are already merged in `AgentState::runner`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerConfig {
    pub name: String,
    pub kind: RunnerKind,
    /// The program and its arguments (`command` kind: required; others: the CLI path).
    pub command: Vec<String>,
    /// Extra environment for the agent (values may come from `$VAR`).
    pub env: BTreeMap<String, Secret>,
    /// Names of variables of karajan's own environment the agent may inherit, beyond
    /// the built-in allowlist (`PATH`, `HOME`, `LANG`, `TERM`, `USER`, `SHELL`, `TMPDIR`).
    pub inherit_env: Vec<String>,
    pub model: Option<String>,
    pub stall_timeout: Option<Duration>,
    pub turn_timeout: Option<Duration>,
    pub max_turns: Option<u32>,
    /// CLI-specific settings (permission mode, sandbox, approval mode, extra args,
    /// family, price); the agent runners validate and read them (`agent::settings`).
    pub cli: CliSettings,
}

#[derive(Debug, Clone)]
pub struct AgentLimits {
    pub max_concurrent: usize,
    /// Caps keyed by state name.
    pub max_concurrent_by_state: BTreeMap<String, usize>,
    pub max_retry_backoff: Duration,
    pub max_attempts: u32,
    pub stall_timeout: Duration,
    pub turn_timeout: Duration,
    pub max_turns: u32,
    /// Grace between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// How long a runner pauses when its CLI reports a usage limit without saying when
    /// it resets (Codex, Gemini, a bare 429 from Claude Code).
    pub usage_limit_pause: Duration,
}

/// A prompt template file, read at load time.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptFile {
    pub path: PathBuf,
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct Prompts {
    pub global: Option<PromptFile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionMode {
    Fresh,
    Inherit,
}

#[derive(Debug, Clone)]
pub struct AgentState {
    /// The runner profile with this state's overrides applied.
    pub runner: RunnerConfig,
    pub prompt: PromptFile,
    pub session: SessionMode,
    /// The global hooks with this state's overrides applied.
    pub hooks: HookSet,
    /// `pull_request: open`: after a successful run that moved the branch, karajan
    /// pushes it and opens the ticket's pull request (or updates the one it has).
    pub pull_request: bool,
    /// `after_run_must_pass: true`: a run whose `after_run` hook fails (the tests, say)
    /// did not succeed, whatever the agent said (a review's approval does not count).
    pub after_run_must_pass: bool,
}

#[derive(Debug, Clone)]
pub enum StateConfig {
    Agent(Box<AgentState>),
    Gate,
    Terminal,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The SQLite database file (`store.path`, or `store.url: sqlite://PATH`). With a
    /// Postgres store, the folder of its side files (the dashboard's token) still
    /// derives from it.
    pub path: PathBuf,
    /// `store.url: postgres://…`: the store is this PostgreSQL database, not the file.
    pub postgres: Option<super::PgUrl>,
    /// The checkpoint file kept outside the database (tail-truncation witness).
    pub checkpoints: PathBuf,
    /// The ed25519 key that signs the checkpoints (see `store::signing`).
    pub signing_key: PathBuf,
    /// Per-run log files live under here.
    pub logs: PathBuf,
    /// `store.cluster: true`: nodes share the (Postgres) store (see `cluster`).
    pub cluster: Option<ClusterConfig>,
}

/// `store.cluster` and `store.lease_ttl`: how the nodes of one store share the work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// How long a lease lasts unrenewed (heartbeats every third of it).
    pub lease_ttl: std::time::Duration,
}

impl ClusterConfig {
    /// The default `store.lease_ttl`.
    pub const DEFAULT_TTL: std::time::Duration = std::time::Duration::from_secs(15);
}

/// The dashboard and JSON API. The server starts when `port` (or `karajan run --port`)
/// is given.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// The address to bind; `None` means 127.0.0.1. Any non-loopback host requires
    /// `token`.
    pub host: Option<String>,
    /// `Some(0)` binds an ephemeral port.
    pub port: Option<u16>,
    /// The operator token; `None` means one generated into the state directory.
    pub token: Option<Secret>,
    /// Linear/GitHub webhooks received on this server; `None` when not configured.
    pub webhooks: Option<WebhookConfig>,
}

/// `server.webhooks`: where deliveries arrive, how they are checked, and how often
/// karajan still polls (the consistency check) while they are on.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The route on the dashboard server (default `/webhooks`).
    pub path: String,
    /// The signing secret shared with Linear/GitHub; never printed.
    pub secret: Secret,
    /// A Linear delivery whose `webhookTimestamp` is further than this from now is
    /// refused (default 5m).
    pub replay_window: Duration,
    /// The poll interval while webhooks are on, instead of `polling.interval`
    /// (default 10m).
    pub poll_interval: Duration,
}

impl WebhookConfig {
    pub const DEFAULT_PATH: &str = "/webhooks";
    pub const DEFAULT_REPLAY_WINDOW: Duration = Duration::from_secs(300);
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(600);
}

pub use super::forge::{
    DEFAULT_PR_BODY, DEFAULT_PR_TITLE, ForgeConfig, ForgeKind, GithubForge, PullRequestConfig,
};

impl Workflow {
    /// How often the daemon polls the tracker: `polling.interval`, or, with webhooks
    /// on, `server.webhooks.poll_interval` (polling is then only the consistency check).
    pub fn poll_period(&self) -> Duration {
        self.server
            .webhooks
            .as_ref()
            .map_or(self.polling.interval, |w| w.poll_interval)
    }

    pub fn agent_state(&self, name: &str) -> Option<&AgentState> {
        match self.states.get(name) {
            Some(StateConfig::Agent(a)) => Some(a),
            _ => None,
        }
    }
}
