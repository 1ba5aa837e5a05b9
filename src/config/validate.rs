//! Phase two of loading: raw structs → the typed, validated [`Workflow`].
//!
//! Every check runs even after one has failed, so the user sees every problem in one
//! pass; each error names its key path (and line) in the workflow, or the prompt file
//! and line for template errors. Defaults are applied here, paths are resolved against
//! the workflow's directory, and secrets are expanded from the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use super::adapters::Adapters;
use super::error::{ConfigError, Errors};
use super::expand::{self, EnvLookup};
use super::raw::{RawWorkflow, Scalar};
use super::schema::join;
use super::secret::Secret;
use super::states;
use super::suggest;
use super::workflow::*;
use crate::domain::{Columns, Machine};
use crate::settings::Section;

/// The branch template used when `workspace.branch` is not set.
pub const DEFAULT_BRANCH: &str = "karajan/{{ issue.identifier }}";

/// State shared by the validation passes: where errors go and how paths resolve.
pub(crate) struct Ctx<'a> {
    pub errors: Errors<'a>,
    pub base_dir: PathBuf,
    pub env: EnvLookup<'a>,
    /// Prompt files read so far, by path relative to `base_dir`, for the digest.
    pub prompt_bytes: BTreeMap<String, Vec<u8>>,
    /// The owners of the sections config does not validate itself.
    pub adapters: &'a dyn Adapters,
}

impl<'a> Ctx<'a> {
    /// The error context handed to an adapter with its section.
    pub fn section(&mut self) -> Section<'_, 'a> {
        Section::new(&mut self.errors, self.env, &self.base_dir)
    }

    /// A duration at `key` (default when absent); must be greater than zero.
    pub fn duration(&mut self, key: &str, raw: Option<&Scalar>, default: Duration) -> Duration {
        let Some(Scalar(text)) = raw else {
            return default;
        };
        match humantime::parse_duration(text.trim()) {
            Ok(d) if d.is_zero() => {
                self.errors
                    .push(key, format!("duration `{text}` must be greater than zero"));
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.errors.push(
                    key,
                    format!("invalid duration `{text}`: {e} (write e.g. `30s`, `5m`, `1h30m`)"),
                );
                default
            }
        }
    }

    /// An optional duration override at `key`.
    pub fn opt_duration(&mut self, key: &str, raw: Option<&Scalar>) -> Option<Duration> {
        raw.map(|r| self.duration(key, Some(r), Duration::from_secs(1)))
    }

    /// An integer at `key` within `lo..=hi` (default when absent).
    pub fn int(&mut self, key: &str, raw: Option<i64>, default: i64, lo: i64, hi: i64) -> i64 {
        match raw {
            None => default,
            Some(v) if (lo..=hi).contains(&v) => v,
            Some(v) => {
                self.errors.push(
                    key,
                    format!("{v} is out of range: must be between {lo} and {hi}"),
                );
                default.clamp(lo, hi)
            }
        }
    }

    /// A path at `key`: `~`/`$VAR` expanded, then made absolute against the workflow's
    /// directory. Existence is not required.
    pub fn path(&mut self, key: &str, raw: Option<&str>, default: &str) -> PathBuf {
        let text = raw.unwrap_or(default);
        match expand::expand_path(text, self.env) {
            Ok(p) => self.absolute(&p),
            Err(e) => {
                self.errors
                    .push(key, format!("cannot expand `{text}`: {e}"));
                self.absolute(Path::new(default))
            }
        }
    }

    pub fn absolute(&self, p: &Path) -> PathBuf {
        let joined = self.base_dir.join(p);
        std::path::absolute(&joined).unwrap_or(joined)
    }

    /// Reads and compiles a prompt template at `key`.
    pub fn prompt_file(&mut self, key: &str, raw: &str) -> Option<PromptFile> {
        let path = self.path(key, Some(raw), raw);
        let name = path
            .strip_prefix(&self.base_dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    "not found".to_string()
                } else {
                    e.to_string()
                };
                self.errors
                    .push(key, format!("prompt file `{}`: {why}", path.display()));
                return None;
            }
        };
        let Ok(source) = String::from_utf8(bytes.clone()) else {
            self.errors.push(
                key,
                format!("prompt file `{}` is not UTF-8", path.display()),
            );
            return None;
        };
        if let Err(e) = self.adapters.compile_template(&name, &source) {
            self.errors.push_in(&path, e.line, key, e.message);
        }
        self.prompt_bytes.insert(name, bytes);
        Some(PromptFile { path, source })
    }
}

/// Builds the workflow, or every error found.
pub(crate) fn build<'a>(
    raw: RawWorkflow,
    text: &str,
    path: &Path,
    base_dir: PathBuf,
    env: EnvLookup<'a>,
    errors: Errors<'a>,
    adapters: &'a dyn Adapters,
) -> Result<Workflow, Vec<ConfigError>> {
    let mut cx = Ctx {
        errors,
        base_dir,
        env,
        prompt_bytes: BTreeMap::new(),
        adapters,
    };
    let tracker = super::tracker::tracker(&mut cx, &raw);
    let columns = columns(&mut cx, &raw);
    let polling = Polling {
        interval: {
            let raw_iv = raw.polling.as_ref().and_then(|p| p.interval.as_ref());
            let iv = cx.duration("polling.interval", raw_iv, Duration::from_secs(30));
            if iv < Duration::from_secs(1) {
                cx.errors.push(
                    "polling.interval",
                    format!(
                        "must be at least 1s (got {})",
                        humantime::format_duration(iv)
                    ),
                );
            }
            iv
        },
    };
    let workspace = workspace(&mut cx, &raw);
    let hooks = hooks(&mut cx, &raw);
    let runners = states::runners(&mut cx, &raw);
    let global = raw
        .prompts
        .as_ref()
        .and_then(|p| p.global.as_deref())
        .and_then(|g| cx.prompt_file("prompts.global", g));
    let mut agent = agent_limits(&mut cx, &raw);
    let built = states::states(&mut cx, &raw, &runners, &columns, &hooks.set);
    per_state_caps(&mut cx, &raw, &mut agent);
    let store = store(&mut cx, &raw);
    let budget = budget(&mut cx, &raw);
    let server = server(&mut cx, &raw);
    let notify = super::notify::notify(&mut cx, &raw);
    let forge = super::forge::forge(&mut cx, &raw, tracker.as_ref(), &workspace.repo);
    states::pull_requests_need_a_forge(&mut cx, &raw, forge.as_ref());
    states::ready_in_is_a_state(&mut cx, &raw, forge.as_ref());

    let entry = states::entry(&mut cx, &raw);
    let machine = Machine {
        entry: entry.unwrap_or_default(),
        states: built.specs,
        columns,
        max_attempts: agent.max_attempts,
    };
    if built.graph_complete && !machine.entry.is_empty() {
        // Terminal states are exempt: a human reaches them by moving the ticket to their
        // column (`Machine::terminal_for_column`).
        let unreachable = machine.unreachable().into_iter().filter(|n| {
            !matches!(
                machine.state(n),
                Some(crate::domain::StateSpec::Terminal { .. })
            )
        });
        for name in unreachable {
            cx.errors.push(
                join("states", &name),
                format!(
                    "state `{name}` is unreachable from the entry state `{}`",
                    machine.entry
                ),
            );
        }
    }

    let tracker = match tracker {
        Some(t) if cx.errors.count() == 0 => t,
        // A missing tracker has been reported above.
        _ => return Err(cx.errors.list),
    };
    let digest = digest(text, &cx.prompt_bytes);
    let mut runners: IndexMap<String, RunnerConfig> = runners
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let mut states = built.configs;
    // The tracker's opt-in credentials (Linear's `pass_api_key_to_agents`, GitHub's
    // `pass_token_to_agents`) reach every runner, unless a runner sets that variable
    // itself. Without the opt-in no tracker secret ever reaches an agent.
    let tracker_env = tracker.agent_env();
    let add_tracker_env = |runner: &mut RunnerConfig| {
        for (name, value) in &tracker_env {
            runner
                .env
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
    };
    runners.values_mut().for_each(add_tracker_env);
    for state in states.values_mut() {
        if let StateConfig::Agent(agent) = state {
            add_tracker_env(&mut agent.runner);
        }
    }
    Ok(Workflow {
        path: path.to_path_buf(),
        base_dir: cx.base_dir,
        digest,
        tracker,
        machine,
        polling,
        workspace,
        hooks,
        runners,
        agent,
        prompts: Prompts { global },
        states,
        store,
        budget,
        server,
        forge,
        notify,
    })
}

/// SHA-256 over the workflow text and each prompt (path and bytes), length-prefixed so
/// no two different inputs share an encoding.
fn digest(text: &str, prompts: &BTreeMap<String, Vec<u8>>) -> String {
    let mut h = Sha256::new();
    let mut put = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    put(b"karajan-workflow-v1");
    put(text.as_bytes());
    for (path, bytes) in prompts {
        put(path.as_bytes());
        put(bytes);
    }
    hex::encode(h.finalize())
}

fn columns(cx: &mut Ctx, raw: &RawWorkflow) -> Columns {
    let c = raw.columns.as_ref();
    let mut pick = |key: &str, v: Option<&String>, default: &str| -> String {
        match v {
            Some(s) if s.trim().is_empty() => {
                cx.errors
                    .push(join("columns", key), "a column name cannot be empty");
                default.to_string()
            }
            Some(s) => s.clone(),
            None => default.to_string(),
        }
    };
    let columns = Columns {
        todo: pick("todo", c.and_then(|c| c.todo.as_ref()), "Todo"),
        active: pick("active", c.and_then(|c| c.active.as_ref()), "In Progress"),
        review: pick("review", c.and_then(|c| c.review.as_ref()), "Human Review"),
        approved: pick("approved", c.and_then(|c| c.approved.as_ref()), "Approved"),
        rework: pick("rework", c.and_then(|c| c.rework.as_ref()), "Rework"),
        done: pick("done", c.and_then(|c| c.done.as_ref()), "Done"),
        terminal: c.and_then(|c| c.terminal.clone()).unwrap_or_default(),
    };
    if columns.terminal.iter().any(|t| t.trim().is_empty()) {
        cx.errors
            .push("columns.terminal", "a column name cannot be empty");
    }
    for (key, col) in [
        ("todo", &columns.todo),
        ("active", &columns.active),
        ("review", &columns.review),
        ("approved", &columns.approved),
        ("rework", &columns.rework),
    ] {
        if columns.is_terminal(col) {
            cx.errors.push(
                join("columns", key),
                format!("`{col}` is also a terminal column (`columns.done` or `columns.terminal`)"),
            );
        }
    }
    columns
}

fn workspace(cx: &mut Ctx, raw: &RawWorkflow) -> WorkspaceConfig {
    let w = raw.workspace.as_ref();
    let root = cx.path(
        "workspace.root",
        w.and_then(|w| w.root.as_deref()),
        ".karajan/workspaces",
    );
    let repo =
        match w.and_then(|w| w.repo.as_deref()) {
            None => {
                cx.errors.push(
                if w.is_some() { "workspace.repo" } else { "workspace" },
                "missing key `workspace.repo`: the git repository to clone (a local path or a URL)",
            );
                String::new()
            }
            Some(r) if is_url(r) => r.to_string(),
            Some(r) => cx.path("workspace.repo", Some(r), r).display().to_string(),
        };
    let branch = w
        .and_then(|w| w.branch.clone())
        .unwrap_or_else(|| DEFAULT_BRANCH.to_string());
    if let Err(e) = cx.adapters.compile_template("workspace.branch", &branch) {
        cx.errors
            .push("workspace.branch", format!("invalid template: {e}"));
    }
    WorkspaceConfig { root, repo, branch }
}

/// Whether a repository location is a URL rather than a local path.
pub(crate) fn is_url(s: &str) -> bool {
    s.contains("://") || (s.starts_with("git@") && s.contains(':'))
}

fn hooks(cx: &mut Ctx, raw: &RawWorkflow) -> Hooks {
    let h = raw.hooks.as_ref();
    let timeout = cx.duration(
        "hooks.timeout",
        h.and_then(|h| h.timeout.as_ref()),
        Duration::from_secs(60),
    );
    let set = h
        .map(|h| HookSet {
            after_create: h.after_create.clone(),
            before_run: h.before_run.clone(),
            after_run: h.after_run.clone(),
            before_remove: h.before_remove.clone(),
            on_stage_enter: h.on_stage_enter.clone(),
        })
        .unwrap_or_default();
    Hooks { set, timeout }
}

fn agent_limits(cx: &mut Ctx, raw: &RawWorkflow) -> AgentLimits {
    let a = raw.agent.as_ref();
    let max_concurrent = cx.int(
        "agent.max_concurrent",
        a.and_then(|a| a.max_concurrent),
        4,
        1,
        1000,
    );
    AgentLimits {
        max_concurrent: usize::try_from(max_concurrent).unwrap_or(1),
        max_concurrent_by_state: BTreeMap::new(),
        max_retry_backoff: cx.duration(
            "agent.max_retry_backoff",
            a.and_then(|a| a.max_retry_backoff.as_ref()),
            Duration::from_secs(300),
        ),
        max_attempts: u32::try_from(cx.int(
            "agent.max_attempts",
            a.and_then(|a| a.max_attempts),
            5,
            1,
            100,
        ))
        .unwrap_or(1),
        stall_timeout: cx.duration(
            "agent.stall_timeout",
            a.and_then(|a| a.stall_timeout.as_ref()),
            Duration::from_secs(300),
        ),
        turn_timeout: cx.duration(
            "agent.turn_timeout",
            a.and_then(|a| a.turn_timeout.as_ref()),
            Duration::from_secs(3600),
        ),
        max_turns: u32::try_from(cx.int(
            "agent.max_turns",
            a.and_then(|a| a.max_turns),
            20,
            1,
            states::MAX_TURNS,
        ))
        .unwrap_or(1),
        kill_grace: cx.duration(
            "agent.kill_grace",
            a.and_then(|a| a.kill_grace.as_ref()),
            Duration::from_secs(5),
        ),
        usage_limit_pause: usage_limit_pause(cx, a),
    }
}

/// Longest `agent.usage_limit_pause`: the longest plan window the CLIs have (a week).
const MAX_USAGE_LIMIT_PAUSE: Duration = Duration::from_secs(7 * 24 * 3600);

fn usage_limit_pause(cx: &mut Ctx, a: Option<&crate::config::raw::RawAgent>) -> Duration {
    const KEY: &str = "agent.usage_limit_pause";
    let default = Duration::from_secs(15 * 60);
    let d = cx.duration(KEY, a.and_then(|a| a.usage_limit_pause.as_ref()), default);
    if d > MAX_USAGE_LIMIT_PAUSE {
        cx.errors.push(
            KEY,
            format!(
                "{} is longer than the longest plan window (7d)",
                humantime::format_duration(d)
            ),
        );
        return default;
    }
    d
}

fn per_state_caps(cx: &mut Ctx, raw: &RawWorkflow, agent: &mut AgentLimits) {
    let Some(caps) = raw
        .agent
        .as_ref()
        .and_then(|a| a.max_concurrent_by_state.as_ref())
    else {
        return;
    };
    let max = i64::try_from(agent.max_concurrent).unwrap_or(1000);
    for (state, cap) in caps {
        let key = join("agent.max_concurrent_by_state", state);
        match raw.states.get(state).map(|s| s.kind.as_deref()) {
            Some(Some("agent")) => {
                let v = cx.int(&key, Some(*cap), 1, 1, max);
                agent
                    .max_concurrent_by_state
                    .insert(state.clone(), usize::try_from(v).unwrap_or(1));
            }
            Some(_) => cx.errors.push(
                key,
                format!("`{state}` is not an agent state; only agent states run agents"),
            ),
            None if raw.broken_states.contains(state) => {}
            None => cx.errors.push(
                key,
                format!(
                    "no state named `{state}`{}",
                    suggest::hint(state, raw.states.keys().map(String::as_str))
                ),
            ),
        }
    }
}

/// Spending caps in USD; each must be a positive number when given.
fn budget(cx: &mut Ctx, raw: &RawWorkflow) -> Budget {
    let b = raw.budget.as_ref();
    let mut cap = |key: &str, v: Option<f64>| -> Option<f64> {
        let v = v?;
        if v.is_finite() && v > 0.0 {
            Some(v)
        } else {
            cx.errors.push(
                format!("budget.{key}"),
                format!("must be a positive amount in USD, got {v}"),
            );
            None
        }
    };
    Budget {
        per_run_usd: cap("per_run_usd", b.and_then(|b| b.per_run_usd)),
        per_ticket_usd: cap("per_ticket_usd", b.and_then(|b| b.per_ticket_usd)),
        per_day_usd: cap("per_day_usd", b.and_then(|b| b.per_day_usd)),
    }
}

fn store(cx: &mut Ctx, raw: &RawWorkflow) -> StoreConfig {
    let s = raw.store.as_ref();
    let url = s.and_then(|s| s.url.as_deref());
    let mut path = s.and_then(|s| s.path.as_deref());
    let mut postgres = None;
    match url {
        None => {}
        Some(url) if url.starts_with("sqlite://") => {
            if path.is_some() {
                cx.errors.push(
                    "store.url",
                    "store.url and store.path both name the SQLite file: give only one",
                );
            }
            path = Some(&url["sqlite://".len()..]);
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            match expand::expand_secret(url, cx.env) {
                Ok(secret) => match super::PgUrl::parse(secret) {
                    Ok(parsed) => postgres = Some(parsed),
                    Err(e) => cx.errors.push("store.url", e),
                },
                // Never echo the URL: it may hold a literal password.
                Err(expand::ExpandError::Unclosed(_)) => {
                    cx.errors.push("store.url", "has an unclosed `${`")
                }
                Err(e) => cx.errors.push("store.url", format!("missing secret: {e}")),
            }
        }
        Some(_) => cx.errors.push(
            "store.url",
            "must be sqlite://PATH (the embedded default) or postgres://USER:PASSWORD@HOST/DB",
        ),
    }
    let path = cx.path("store.path", path, ".karajan/karajan.db");
    // One key per store, kept outside its folder (for a Postgres store, per workflow
    // folder: the key is named after the default SQLite path it does not use).
    let signing_key = match s.and_then(|s| s.signing_key.as_deref()) {
        Some(raw) => cx.path("store.signing_key", Some(raw), raw),
        None => default_signing_key(cx.env, &path),
    };
    let cluster = cluster(cx, s, postgres.is_some());
    StoreConfig {
        path,
        postgres,
        cluster,
        signing_key,
        checkpoints: cx.path(
            "store.checkpoints",
            s.and_then(|s| s.checkpoints.as_deref()),
            ".karajan/checkpoints",
        ),
        logs: cx.path(
            "store.logs",
            s.and_then(|s| s.logs.as_deref()),
            ".karajan/logs",
        ),
    }
}

/// `store.cluster` / `store.lease_ttl`: a cluster needs a Postgres store, and a lease
/// shorter than a second would spend the heartbeats on the database's round trips.
fn cluster(
    cx: &mut Ctx,
    s: Option<&super::raw::RawStore>,
    postgres: bool,
) -> Option<super::workflow::ClusterConfig> {
    let ttl = s.and_then(|s| s.lease_ttl.as_ref());
    let lease_ttl = cx.duration(
        "store.lease_ttl",
        ttl,
        super::workflow::ClusterConfig::DEFAULT_TTL,
    );
    if !s.and_then(|s| s.cluster).unwrap_or(false) {
        if ttl.is_some() {
            cx.errors
                .push("store.lease_ttl", "is only used with `store.cluster: true`");
        }
        return None;
    }
    if !postgres {
        cx.errors.push(
            "store.cluster",
            "needs a shared store: set store.url to postgres://USER:PASSWORD@HOST/DB",
        );
    }
    if lease_ttl < std::time::Duration::from_secs(1) {
        cx.errors.push(
            "store.lease_ttl",
            "must be at least 1s (heartbeats come every third of it)",
        );
    }
    Some(super::workflow::ClusterConfig { lease_ttl })
}

/// `$XDG_CONFIG_HOME/karajan/keys/<store-id>.key` (`$HOME/.config` when unset): outside
/// the store's folder, one key per store. `<store-id>` is the first 16 hex digits of the
/// SHA-256 of the database's absolute path, so moving the store means naming the key.
pub(crate) fn default_signing_key(env: EnvLookup<'_>, db: &Path) -> PathBuf {
    let config = env("XDG_CONFIG_HOME")
        .filter(|d| Path::new(d).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| Path::new(&h).join(".config"))
        })
        .unwrap_or_else(|| PathBuf::from(".config"));
    let digest = Sha256::digest(db.as_os_str().as_encoded_bytes());
    let id = hex::encode(&digest[..8]);
    config
        .join("karajan")
        .join("keys")
        .join(format!("{id}.key"))
}

/// `server:`: a non-loopback `host` is only allowed together with a `token`.
fn server(cx: &mut Ctx, raw: &RawWorkflow) -> ServerConfig {
    let Some(s) = raw.server.as_ref() else {
        return ServerConfig::default();
    };
    let port = s
        .port
        .map(|p| u16::try_from(cx.int("server.port", Some(p), 0, 0, 65535)).unwrap_or(0));
    let token = s
        .token
        .as_deref()
        .and_then(|t| match expand::expand_secret(t, cx.env) {
            Ok(s) if s.expose().trim().len() < 16 => {
                cx.errors.push(
                    "server.token",
                    "the token must be at least 16 characters long",
                );
                None
            }
            Ok(s) => Some(s),
            Err(e) => {
                cx.errors
                    .push("server.token", format!("missing secret: {e}"));
                None
            }
        });
    let host = s.host.as_deref().map(str::trim).map(str::to_string);
    if let Some(h) = &host {
        if h.is_empty() {
            cx.errors.push("server.host", "the host is empty");
        } else if !is_loopback_host(h) && s.token.is_none() {
            cx.errors.push(
                "server.host",
                format!(
                    "binding `{h}` exposes the dashboard beyond this machine: set `server.token` too"
                ),
            );
        }
    }
    let webhooks = s.webhooks.as_ref().map(|w| webhooks(cx, w, port.is_some()));
    let kind = raw.tracker.as_ref().and_then(|t| t.kind.as_deref());
    if webhooks.is_some() && kind == Some("local") {
        cx.errors.push(
            "server.webhooks",
            "webhooks come from Linear or GitHub: a `local` tracker has none",
        );
    }
    ServerConfig {
        host,
        port,
        token,
        webhooks,
    }
}

/// Routes the dashboard serves: a webhook path must not shadow them.
const DASHBOARD_ROUTES: &[&str] = &[
    "/tickets", "/assets", "/auth", "/healthz", "/metrics", "/api",
];

/// `server.webhooks`: needs the server (`server.port`) and a signing secret.
fn webhooks(cx: &mut Ctx, w: &super::raw::RawWebhooks, has_port: bool) -> WebhookConfig {
    if !has_port {
        cx.errors.push(
            "server.webhooks",
            "webhooks are received by the dashboard server: set `server.port` too",
        );
    }
    let secret = match w.secret.as_deref() {
        None => {
            cx.errors.push(
                "server.webhooks.secret",
                "webhooks need the signing secret shared with Linear/GitHub (e.g. `secret: $KARAJAN_WEBHOOK_SECRET`)",
            );
            Secret::default()
        }
        Some(t) => match expand::expand_secret(t, cx.env) {
            Ok(s) if s.expose().trim().is_empty() => {
                cx.errors
                    .push("server.webhooks.secret", "the signing secret is empty");
                s
            }
            Ok(s) => s,
            Err(e) => {
                cx.errors
                    .push("server.webhooks.secret", format!("missing secret: {e}"));
                Secret::default()
            }
        },
    };
    let path = w
        .path
        .as_deref()
        .map_or(WebhookConfig::DEFAULT_PATH, str::trim)
        .to_string();
    let clashes = DASHBOARD_ROUTES
        .iter()
        .any(|r| path == *r || path.starts_with(&format!("{r}/")));
    if !path.starts_with('/') || path == "/" {
        cx.errors.push(
            "server.webhooks.path",
            format!("`{path}` must be a path below the root, e.g. `/webhooks`"),
        );
    } else if path
        .chars()
        .any(|c| c.is_whitespace() || "{}*?#%".contains(c))
        || path.contains("//")
    {
        cx.errors.push(
            "server.webhooks.path",
            format!("`{path}` must be a plain path (no spaces, `{{}}`, `*`, `?`, `#`, `%`, `//`)"),
        );
    } else if clashes {
        cx.errors.push(
            "server.webhooks.path",
            format!("`{path}` is a dashboard route; choose another, e.g. `/webhooks`"),
        );
    }
    let replay_window = cx.duration(
        "server.webhooks.replay_window",
        w.replay_window.as_ref(),
        WebhookConfig::DEFAULT_REPLAY_WINDOW,
    );
    let poll_interval = cx.duration(
        "server.webhooks.poll_interval",
        w.poll_interval.as_ref(),
        WebhookConfig::DEFAULT_POLL_INTERVAL,
    );
    if poll_interval < Duration::from_secs(1) {
        cx.errors.push(
            "server.webhooks.poll_interval",
            format!(
                "must be at least 1s (got {})",
                humantime::format_duration(poll_interval)
            ),
        );
    }
    WebhookConfig {
        path: path.trim_end_matches('/').to_string(),
        secret,
        replay_window,
        poll_interval,
    }
}

/// `127.0.0.1`, `::1`, `localhost` and the like.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
