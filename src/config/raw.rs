//! Phase one of loading: `workflow.yaml` text → raw serde structs, exactly as written.
//!
//! Nothing here checks meaning (that is `validate.rs`); this layer only gets the shape
//! right. Unknown keys are reported by the `schema` walk with paths and hints, and every
//! section is deserialized on its own, so a type error in `agent` does not hide one in
//! `states.review`. Durations are kept as text and numbers as `i64` so that validation
//! can say "`polling.interval`: `30` needs a unit" or "must be between 1 and 1000"
//! instead of serde's generic messages.
//!
//! The same structs are the source of `karajan schema` (see `json_schema.rs`): each
//! derives `JsonSchema`, and its `///` doc comments are the descriptions editors show, so
//! they are written for the user (implementation notes are `//` comments). A key of a
//! state, a runner or the forge that applies to some kinds only names them with
//! `x-kinds`; keys without it apply to every kind.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use yaml_serde::Value;

use super::error::Errors;
use super::schema::{self, join};

pub(crate) use crate::settings::Scalar;

/// The program: a list is the program and its arguments; a string of one word is the
/// program; a longer string is a shell line run with `sh -c` that receives the CLI's
/// arguments as `"$@"`. A relative program path (with a `/`) is resolved against the
/// workflow's folder, a bare name is looked up on the agent's `PATH`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum RawCommand {
    Argv(Vec<String>),
    Shell(String),
}

// The one tracker key config reads: `kind`, which picks the adapter. The schema walk has
// already rejected keys that no tracker kind knows; each adapter reads the whole section
// (`tracker_value`) into its own raw struct, which rejects keys of other kinds. The JSON
// Schema of the section is the adapters' (`Adapters::tracker_schema`), not this one.
/// Where tickets come from.
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub(crate) struct RawTracker {
    pub kind: Option<String>,
}

/// The tracker's column names for each lifecycle role.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawColumns {
    /// New tickets wait here to be picked up; no state may live in it. Default `Todo`.
    pub todo: Option<String>,
    /// The default column of agent states. Default `In Progress`.
    pub active: Option<String>,
    /// The default column of gate states. Default `Human Review`.
    pub review: Option<String>,
    /// A human moves a ticket here to approve a gate. Default `Approved`.
    pub approved: Option<String>,
    /// A human moves a ticket here to ask for rework. Default `Rework`.
    pub rework: Option<String>,
    /// The default column of terminal states. Default `Done`.
    pub done: Option<String>,
    /// Further columns that end a ticket (e.g. `Canceled`). Default none.
    pub terminal: Option<Vec<String>>,
}

/// How often the tracker is polled.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolling {
    /// Time between ticks, at least `1s`. Default `30s`.
    pub interval: Option<Scalar>,
}

/// The per-ticket git clones agents work in.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWorkspace {
    /// Where per-ticket clones live. Default `.karajan/workspaces` beside the workflow.
    pub root: Option<String>,
    /// The repository to clone: a local path, `file://` or `http(s)://` URL. Required.
    pub repo: Option<String>,
    /// MiniJinja template of the ticket's branch. Default `karajan/{{ issue.identifier }}`.
    pub branch: Option<String>,
}

/// Shell snippets run with `sh -c` in the ticket's workspace. All optional.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHooks {
    /// Run once when a workspace is created; a failure aborts the attempt.
    pub after_create: Option<String>,
    /// Run before each agent run; a failure or timeout aborts the attempt.
    pub before_run: Option<String>,
    /// Run after each agent run; a failure is recorded, not fatal (unless a state sets
    /// `after_run_must_pass`).
    pub after_run: Option<String>,
    /// Run before a workspace is removed; a failure is recorded.
    pub before_remove: Option<String>,
    /// Run on each state entry, in the workspace.
    pub on_stage_enter: Option<String>,
    /// The time limit of every hook. Default `60s`.
    pub timeout: Option<Scalar>,
}

/// This state's hooks: each one named here replaces the global one, the others stay.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStateHooks {
    /// Run once when a workspace is created; a failure aborts the attempt.
    pub after_create: Option<String>,
    /// Run before each agent run; a failure or timeout aborts the attempt.
    pub before_run: Option<String>,
    /// Run after each agent run; a failure is recorded, not fatal (unless
    /// `after_run_must_pass`).
    pub after_run: Option<String>,
    /// Run before a workspace is removed; a failure is recorded.
    pub before_remove: Option<String>,
    /// Run when a ticket enters this state, in the workspace.
    pub on_stage_enter: Option<String>,
}

/// An agent CLI profile, referenced by agent states' `runner`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = super::json_schema::keys_by_kind)]
pub(crate) struct RawRunner {
    /// The agent CLI. Required.
    #[schemars(extend("enum" = super::states::RUNNER_KINDS))]
    pub kind: Option<String>,
    /// Required for `command`; for a CLI kind, the CLI (default `claude`, `codex`,
    /// `gemini`).
    pub command: Option<RawCommand>,
    /// Extra environment for the agent (never logged): a literal, a `$VAR` secret from
    /// karajan's environment, or `{secret: value}` to mark a literal as secret.
    pub env: Option<IndexMap<String, super::secret::RawEnvValue>>,
    /// Names of karajan's own variables the agent may inherit (beyond `PATH`, `HOME`,
    /// `LANG`, `TERM`, `USER`, `SHELL`, `TMPDIR`).
    pub inherit_env: Option<Vec<String>>,
    /// The model passed to the CLI (none for `command`; never another vendor's).
    pub model: Option<String>,
    /// Overrides `agent.stall_timeout` for this runner.
    pub stall_timeout: Option<Scalar>,
    /// Overrides `agent.turn_timeout` for this runner.
    pub turn_timeout: Option<Scalar>,
    /// Overrides `agent.max_turns` for this runner.
    pub max_turns: Option<i64>,
    /// claude: `acceptEdits`, `auto`, `bypassPermissions`, `default`, `dontAsk`, `plan`
    /// (`--permission-mode`), or `skip` (`--dangerously-skip-permissions`).
    #[schemars(extend("x-kinds" = ["claude"]))]
    #[schemars(extend("enum" = super::json_schema::or_null(&super::cli_settings::PERMISSION_MODES)))]
    pub permission_mode: Option<String>,
    /// claude: `--allowedTools`.
    #[schemars(extend("x-kinds" = ["claude"]))]
    pub allowed_tools: Option<Vec<String>>,
    /// claude: `--append-system-prompt`.
    #[schemars(extend("x-kinds" = ["claude"]))]
    pub append_system_prompt: Option<String>,
    /// codex: `read-only`, `workspace-write`, `danger-full-access` (`--sandbox`), or
    /// `bypass`.
    #[schemars(extend("x-kinds" = ["codex"]))]
    #[schemars(extend("enum" = super::json_schema::or_null(&super::cli_settings::SANDBOXES)))]
    pub sandbox: Option<String>,
    /// gemini: `default`, `auto_edit`, `yolo`, `plan` (`--approval-mode`).
    #[schemars(extend("x-kinds" = ["gemini"]))]
    #[schemars(extend("enum" = super::json_schema::or_null(&super::cli_settings::APPROVAL_MODES)))]
    pub approval_mode: Option<String>,
    /// More CLI arguments, appended as given (agent CLIs only).
    #[schemars(extend("x-kinds" = ["claude", "codex", "gemini"]))]
    pub extra_args: Option<Vec<String>>,
    /// The vendor family for reviewer independence. Default: the runner kind.
    pub family: Option<String>,
    /// USD per million tokens, overriding the built-in price table.
    pub price: Option<RawPrice>,
}

/// USD per million tokens; unset entries are 0.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrice {
    /// Input tokens.
    pub input: Option<f64>,
    /// Output tokens.
    pub output: Option<f64>,
    /// Tokens read from the prompt cache.
    pub cache_read: Option<f64>,
    /// Tokens written to the prompt cache.
    pub cache_write: Option<f64>,
}

/// This state's overrides of its runner profile.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRunnerSettings {
    /// The model passed to the CLI (one of the runner's vendor).
    pub model: Option<String>,
    /// Merged key-wise over the runner's `env`.
    pub env: Option<IndexMap<String, super::secret::RawEnvValue>>,
    /// Added to the runner's list.
    pub inherit_env: Option<Vec<String>>,
    /// Overrides the runner's stall timeout.
    pub stall_timeout: Option<Scalar>,
    /// Overrides the runner's turn timeout.
    pub turn_timeout: Option<Scalar>,
    /// Overrides the runner's turn limit.
    pub max_turns: Option<i64>,
}

/// Limits for agent runs.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAgent {
    /// Runs at once across all tickets (1 to 1000). Default 4.
    pub max_concurrent: Option<i64>,
    /// Caps per agent state, keyed by state name (1 to `max_concurrent`).
    pub max_concurrent_by_state: Option<IndexMap<String, i64>>,
    /// The longest wait between retries of a failed run. Default `5m`.
    pub max_retry_backoff: Option<Scalar>,
    /// Failed attempts of one state before a human is asked (1 to 100). Default 5.
    pub max_attempts: Option<i64>,
    /// A run with no output for this long is stopped. Default `5m`.
    pub stall_timeout: Option<Scalar>,
    /// A run longer than this is stopped. Default `1h`.
    pub turn_timeout: Option<Scalar>,
    /// Turn limit passed to agents that support one. Default 20.
    pub max_turns: Option<i64>,
    /// SIGTERM → SIGKILL grace when stopping a run. Default `5s`.
    pub kill_grace: Option<Scalar>,
    /// How long a runner pauses when its CLI reports a usage limit without a reset time
    /// (at most `7d`). Default `15m`.
    pub usage_limit_pause: Option<Scalar>,
}

/// Prompt layers shared by every state.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrompts {
    /// The global prompt file, rendered before every stage prompt.
    pub global: Option<String>,
}

// One state with the keys of every kind; `validate` checks which apply. The JSON Schema
// allows each kind only its own keys (`x-state-kinds`, see `json_schema.rs`).
/// A state of the workflow: `agent` runs a runner with a prompt, `gate` waits for a
/// human (or the pull request) to approve or ask for rework, `terminal` ends the ticket.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = super::json_schema::keys_by_kind)]
pub(crate) struct RawState {
    /// `agent`, `gate` or `terminal`. Required.
    #[schemars(extend("enum" = super::states::STATE_KINDS))]
    pub kind: Option<String>,
    /// The tracker column of the state. Default `columns.active` (agent),
    /// `columns.review` (gate), `columns.done` (terminal).
    pub column: Option<String>,
    /// The runner profile (a name under `runners`). Required.
    #[schemars(extend("x-kinds" = ["agent"]))]
    pub runner: Option<String>,
    /// The stage prompt file (MiniJinja; undefined variables are errors). Required.
    #[schemars(extend("x-kinds" = ["agent"]))]
    pub prompt: Option<String>,
    /// The state after a successful run (a review state gives `verdicts` instead).
    #[schemars(extend("x-kinds" = ["agent"]))]
    pub next: Option<String>,
    /// `fresh` or `inherit` (resume the ticket's last session of the same runner kind).
    /// Default `fresh`.
    #[schemars(extend("x-kinds" = ["agent"]))]
    #[schemars(extend("enum" = super::json_schema::or_null(&super::states::SESSIONS)))]
    pub session: Option<String>,
    /// Another state whose runner must be of a different family (required for a review
    /// state).
    #[schemars(extend("x-kinds" = ["agent"]))]
    pub independent_of: Option<String>,
    /// `true` accepts a reviewer of the same family as the state it reviews (needs
    /// `independent_of`). Default `false`.
    #[schemars(extend("x-kinds" = ["agent"]))]
    pub allow_same_family: Option<bool>,
    #[schemars(extend("x-kinds" = ["agent"]))]
    pub runner_settings: Option<RawRunnerSettings>,
    #[schemars(extend("x-kinds" = ["agent"]))]
    pub hooks: Option<RawStateHooks>,
    /// `open`: after a successful run that committed, push and open or update the
    /// ticket's pull request (needs `forge: {kind: github}`).
    #[schemars(extend("x-kinds" = ["agent"]))]
    #[schemars(extend("enum" = super::json_schema::or_null(&super::states::PULL_REQUEST)))]
    pub pull_request: Option<String>,
    #[schemars(extend("x-kinds" = ["agent"]))]
    pub verdicts: Option<RawVerdicts>,
    /// A review's revisions in a row before a human is asked (0 to 100). Default 3.
    #[schemars(extend("x-kinds" = ["agent"]))]
    pub max_rounds: Option<i64>,
    /// A failing `after_run` hook fails the run. Default `false`.
    #[schemars(extend("x-kinds" = ["agent"]))]
    pub after_run_must_pass: Option<bool>,
    /// Where an approval leads. Required.
    #[schemars(extend("x-kinds" = ["gate"]))]
    pub approve: Option<String>,
    /// Where a rework request leads (the feedback reaches the prompt). Required.
    #[schemars(extend("x-kinds" = ["gate"]))]
    pub rework: Option<String>,
    /// Rework rounds before a human must decide (0 to 100). Default 3.
    #[schemars(extend("x-kinds" = ["gate"]))]
    pub max_rework: Option<i64>,
    /// `merge`, `squash` or `rebase`: an approval merges the pull request first.
    #[schemars(extend("x-kinds" = ["gate"]))]
    #[schemars(extend("enum" = super::json_schema::or_null(&super::states::MERGE_METHODS)))]
    pub merge: Option<String>,
    /// `escalate` (default) or `rework`: what a merge GitHub refuses leads to.
    #[schemars(extend("x-kinds" = ["gate"]))]
    #[schemars(extend("enum" = super::json_schema::or_null(&super::states::MERGE_FAILURES)))]
    pub merge_failure: Option<String>,
    /// `required`: the pull request head's checks decide the gate.
    #[schemars(extend("x-kinds" = ["gate"]))]
    #[schemars(extend("enum" = super::json_schema::or_null(&super::gate_watch::CHECKS)))]
    pub checks: Option<String>,
    /// Checks pending this long since the gate was entered escalate. Default `30m`.
    #[schemars(extend("x-kinds" = ["gate"]))]
    pub checks_timeout: Option<Scalar>,
    /// What approves: `tracker` (a column move, the default), `pull_request` (a review)
    /// or `either`.
    #[schemars(extend("x-kinds" = ["gate"]))]
    #[schemars(extend("enum" = super::json_schema::or_null(&super::gate_watch::REVIEWS)))]
    pub reviews: Option<String>,
    /// Only these GitHub logins' reviews count.
    #[schemars(extend("x-kinds" = ["gate"]))]
    pub reviewers: Option<Vec<String>>,
}

/// A review state (instead of `next`): where each verdict of its agent leads.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVerdicts {
    /// Where an approval goes.
    pub approve: Option<String>,
    /// Where a request for revision goes.
    pub needs_revision: Option<String>,
}

/// Spending limits in USD.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBudget {
    /// A run that costs more is stopped and the ticket goes to review.
    pub per_run_usd: Option<f64>,
    /// A ticket's runs together may not cost more.
    pub per_ticket_usd: Option<f64>,
    /// Once the day's runs (UTC) cost this much, dispatch pauses until the next day.
    pub per_day_usd: Option<f64>,
}

/// Notifications: events a human should hear about (a ticket waiting at a gate, an
/// escalation, a budget stop, a usage-limit pause, a failure streak, the daemon
/// stopping), sent to webhooks.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotify {
    /// How long a ticket waits at a gate before it is announced. Default `10m`.
    pub gate_delay: Option<Scalar>,
    /// How many failed runs in a row make a failure streak. Default `3`.
    pub failure_streak: Option<i64>,
    /// Where notifications go, by name (the name, never the URL, is what karajan
    /// records and logs).
    #[schemars(with = "Option<IndexMap<String, RawNotifyTarget>>")]
    pub targets: Option<IndexMap<String, RawNotifyTarget>>,
}

/// One notification target.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNotifyTarget {
    /// `webhook` (a JSON POST of the event) or `slack` (a Slack-compatible incoming
    /// webhook: `{"text": …}`). Required.
    #[schemars(extend("enum" = super::notify::TARGET_KINDS))]
    pub kind: Option<String>,
    /// The URL to POST to, from the environment (e.g. `$SLACK_WEBHOOK_URL`): it is a
    /// secret, never logged, recorded or shown. Required.
    pub url: Option<String>,
    /// Only these events (`gate_waiting`, `escalated`, `budget_stop`, `usage_limit`,
    /// `failure_streak`, `daemon_stopped`). Default: all of them.
    pub events: Option<Vec<String>>,
}

/// Where karajan keeps its records. Defaults under `.karajan/`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    /// The event store: `sqlite://PATH` (the embedded default) or `postgres://…` (`$VAR`
    /// expanded, e.g. for the password). Default: SQLite at `path`.
    pub url: Option<String>,
    /// The SQLite event store. Default `.karajan/karajan.db`.
    pub path: Option<String>,
    /// Chain checkpoints, kept outside the database. Default `.karajan/checkpoints`.
    pub checkpoints: Option<String>,
    /// The ed25519 key that signs the checkpoints; keep it outside the store's folder.
    /// Default `$XDG_CONFIG_HOME/karajan/keys/<store-id>.key` (created at first start,
    /// mode 0600).
    pub signing_key: Option<String>,
    /// Per-run logs. Default `.karajan/logs`.
    pub logs: Option<String>,
    /// `true`: several nodes (`karajan run --node NAME`) share this PostgreSQL store as
    /// one cluster; one at a time holds the tracker lease. Needs a `postgres://` url.
    /// Default `false` (one daemon per store, held by an advisory lock).
    pub cluster: Option<bool>,
    /// How long a cluster node's lease lasts unrenewed; heartbeats come every third of
    /// it, and a dead holder is replaced within `lease_ttl` plus one heartbeat. Default
    /// `15s`.
    pub lease_ttl: Option<Scalar>,
}

/// The dashboard and JSON API; it starts when `port` is set (or `karajan run --port N`).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    /// The address to bind; anything but loopback requires `token`. Default `127.0.0.1`.
    pub host: Option<String>,
    /// The port (`0` = any free port).
    pub port: Option<i64>,
    /// The operator token (`$VAR` allowed, at least 16 characters). Default: generated
    /// into `.karajan/dashboard.token`.
    pub token: Option<String>,
    pub webhooks: Option<RawWebhooks>,
}

/// Linear and GitHub webhook deliveries, received on the dashboard server.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhooks {
    /// Where deliveries are posted. Default `/webhooks`.
    pub path: Option<String>,
    /// The signing secret shared with Linear/GitHub (a `$VAR`). Required.
    pub secret: Option<String>,
    /// A Linear delivery further than this from now is refused. Default `5m`.
    pub replay_window: Option<Scalar>,
    /// With webhooks on, the poll runs this often instead of `polling.interval`.
    /// Default `10m`.
    pub poll_interval: Option<Scalar>,
}

// Every kind's keys are accepted here; `forge.rs` refuses a key that does not apply to
// the kind given.
/// Where each ticket's branch is pushed after an agent run that committed (never
/// forced). Without it nothing is pushed.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = super::json_schema::keys_by_kind)]
pub(crate) struct RawForge {
    /// `git` (any remote, push only) or `github` (pull requests too).
    #[schemars(extend("enum" = super::forge::KINDS))]
    pub kind: Option<String>,
    /// The remote: a URL or a local path. Default: `workspace.repo` (git), the GitHub
    /// repository (github).
    pub remote: Option<String>,
    /// github: the REST API base. Default: a GitHub tracker's, else
    /// `https://api.github.com`.
    #[schemars(extend("x-kinds" = ["github"]))]
    pub api_url: Option<String>,
    /// github: `owner/name`. Default: a GitHub tracker's.
    #[schemars(extend("x-kinds" = ["github"]))]
    pub repo: Option<String>,
    /// github: a `$VAR` holding a token that can push. Default: a GitHub tracker's, else
    /// `$GITHUB_TOKEN`.
    #[schemars(extend("x-kinds" = ["github"]))]
    pub token: Option<String>,
    /// A PEM file of CA certificates trusted for HTTPS remotes besides the system's.
    pub ca_file: Option<String>,
    #[schemars(extend("x-kinds" = ["github"]))]
    pub pull_request: Option<RawPullRequest>,
}

/// How karajan opens a ticket's pull request (`kind: github`).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPullRequest {
    /// The base branch. Default: the repository's default branch.
    pub base: Option<String>,
    /// MiniJinja template of the title.
    pub title: Option<String>,
    /// MiniJinja template of the body.
    pub body: Option<String>,
    /// Open it as a draft. Default `false`.
    pub draft: Option<bool>,
    /// With `draft: true`, mark it ready for review when the ticket enters this state.
    pub ready_in: Option<String>,
}

// `None` sections were absent (or failed to deserialize, which has already been
// reported). `parse` fills it section by section; its JSON Schema is the document's.
/// A karajan workflow: where tickets come from, the agents, and the state machine that
/// drives tickets through agent states, human gates and terminal states.
#[derive(Debug, Default, JsonSchema)]
#[schemars(deny_unknown_fields, title = "karajan workflow.yaml")]
pub(crate) struct RawWorkflow {
    pub tracker: Option<RawTracker>,
    /// The whole `tracker:` section, for the adapter of its kind to read.
    #[schemars(skip)]
    pub tracker_value: Option<Value>,
    pub columns: Option<RawColumns>,
    pub polling: Option<RawPolling>,
    pub workspace: Option<RawWorkspace>,
    pub hooks: Option<RawHooks>,
    /// Agent CLI profiles, by name.
    #[schemars(with = "Option<IndexMap<String, RawRunner>>")]
    pub runners: IndexMap<String, RawRunner>,
    pub agent: Option<RawAgent>,
    pub prompts: Option<RawPrompts>,
    /// The state new tickets enter. Default: the first state.
    pub entry: Option<String>,
    /// The state machine, by state name, in order.
    #[schemars(with = "Option<IndexMap<String, RawState>>")]
    pub states: IndexMap<String, RawState>,
    /// States whose body failed to deserialize: they exist (targets may name them) but
    /// carry no settings.
    #[schemars(skip)]
    pub broken_states: Vec<String>,
    pub store: Option<RawStore>,
    pub budget: Option<RawBudget>,
    pub server: Option<RawServer>,
    pub forge: Option<RawForge>,
    pub notify: Option<RawNotify>,
}

/// Parses the text, reporting every unknown key and every section that has the wrong
/// shape. Returns `None` only when the text is not a YAML mapping at all.
pub(crate) fn parse(text: &str, errors: &mut Errors) -> Option<RawWorkflow> {
    let mut root: Value = match yaml_serde::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let line = e.location().map(|l| l.line());
            errors.push_line(line, "", format!("invalid YAML: {}", strip_mark(&e)));
            return None;
        }
    };
    if let Err(e) = root.apply_merge() {
        errors.push("", format!("invalid YAML merge key: {e}"));
        return None;
    }
    match &root {
        Value::Null => {
            errors.push("", "the workflow file is empty");
            return None;
        }
        Value::Mapping(_) => {}
        _ => {
            errors.push(
                "",
                "the workflow must be a mapping of sections (`tracker:`, `states:`, ...)",
            );
            return None;
        }
    }
    schema::strip_unknown(&mut root, &schema::ROOT, "", errors);

    let mut raw = RawWorkflow {
        tracker: section(&root, "tracker", errors),
        tracker_value: root.get("tracker").cloned(),
        columns: section(&root, "columns", errors),
        polling: section(&root, "polling", errors),
        workspace: section(&root, "workspace", errors),
        hooks: section(&root, "hooks", errors),
        agent: section(&root, "agent", errors),
        prompts: section(&root, "prompts", errors),
        entry: section(&root, "entry", errors),
        store: section(&root, "store", errors),
        budget: section(&root, "budget", errors),
        server: section(&root, "server", errors),
        forge: section(&root, "forge", errors),
        notify: section(&root, "notify", errors),
        ..RawWorkflow::default()
    };
    for (name, value) in entries(&root, "runners", errors) {
        if let Some(r) = de(&value, &join("runners", &name), errors) {
            raw.runners.insert(name, r);
        }
    }
    for (name, value) in entries(&root, "states", errors) {
        let path = join("states", &name);
        if value.is_null() {
            errors.push(path, "a state needs a body (at least `kind:`)");
            raw.broken_states.push(name);
        } else if let Some(s) = de(&value, &path, errors) {
            raw.states.insert(name, s);
        } else {
            raw.broken_states.push(name);
        }
    }
    Some(raw)
}

/// A top-level section; `None` when absent, null, or malformed (reported).
fn section<T: DeserializeOwned>(root: &Value, key: &str, errors: &mut Errors) -> Option<T> {
    match root.get(key) {
        None | Some(Value::Null) => None,
        Some(v) => de(v, key, errors),
    }
}

/// The entries of a user-keyed mapping section (`runners`, `states`), in order.
fn entries(root: &Value, key: &str, errors: &mut Errors) -> Vec<(String, Value)> {
    match root.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Mapping(m)) => m
            .iter()
            .filter_map(|(k, v)| match k.as_str() {
                Some(name) => Some((name.to_string(), v.clone())),
                None => {
                    errors.push(key, "names must be strings");
                    None
                }
            })
            .collect(),
        Some(_) => {
            errors.push(key, "expected a mapping of names to settings");
            Vec::new()
        }
    }
}

/// Deserializes one node, reporting a failure at its full key path. The node is
/// re-emitted as YAML and parsed as text because only the text deserializer tracks
/// the path inside the node (`max_turns: invalid type: ...`).
fn de<T: DeserializeOwned>(value: &Value, path: &str, errors: &mut Errors) -> Option<T> {
    let text = match yaml_serde::to_string(value) {
        Ok(t) => t,
        Err(e) => {
            errors.push(path, e.to_string());
            return None;
        }
    };
    match yaml_serde::from_str::<T>(&text) {
        Ok(t) => Some(t),
        Err(e) => {
            let msg = strip_mark(&e);
            let (inner, msg) = match msg.split_once(": ") {
                Some((p, m)) if !p.contains(' ') && !p.is_empty() => (p.to_string(), m.to_string()),
                _ => (String::new(), msg),
            };
            let msg = friendlier(&msg);
            let key = if inner.is_empty() {
                path.to_string()
            } else {
                join(path, &inner)
            };
            errors.push(key, msg);
            None
        }
    }
}

/// serde's type names in user terms (`expected i64` → `expected an integer`).
fn friendlier(msg: &str) -> String {
    let msg = msg.replace("expected i64", "expected an integer");
    match msg.find("expected struct Raw") {
        Some(i) => format!("{}expected a mapping", &msg[..i]),
        None => msg,
    }
}

/// The error message without yaml_serde's ` at line L column C` marks (lines are
/// reported separately, against the original file). libyaml messages may carry two.
fn strip_mark(e: &yaml_serde::Error) -> String {
    const MARK: &str = " at line ";
    let skip_num = |t: &str| t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let s = e.to_string();
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find(MARK) {
        let tail = &rest[i + MARK.len()..];
        let after_line = &tail[tail.len() - skip_num(tail)..];
        match after_line.strip_prefix(" column ") {
            Some(col) if after_line.len() < tail.len() => {
                out.push_str(&rest[..i]);
                rest = &col[col.len() - skip_num(col)..];
            }
            _ => {
                out.push_str(&rest[..i + MARK.len()]);
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}
