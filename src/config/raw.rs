//! Phase one of loading: `workflow.yaml` text → raw serde structs, exactly as written.
//!
//! Nothing here checks meaning (that is `validate.rs`); this layer only gets the shape
//! right. Unknown keys are reported by the `schema` walk with paths and hints, and every
//! section is deserialized on its own, so a type error in `agent` does not hide one in
//! `states.review`. Durations are kept as text and numbers as `i64` so that validation
//! can say "`polling.interval`: `30` needs a unit" or "must be between 1 and 1000"
//! instead of serde's generic messages.

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use yaml_serde::Value;

use super::error::Errors;
use super::schema::{self, join};

pub(crate) use crate::settings::Scalar;

/// `command:` as an argv list or a shell string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawCommand {
    Argv(Vec<String>),
    Shell(String),
}

/// The one tracker key config reads: `kind`, which picks the adapter. The schema walk has
/// already rejected keys that no tracker kind knows; each adapter reads the whole section
/// (`tracker_value`) into its own raw struct, which rejects keys of other kinds.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawTracker {
    pub kind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawColumns {
    pub todo: Option<String>,
    pub active: Option<String>,
    pub review: Option<String>,
    pub approved: Option<String>,
    pub rework: Option<String>,
    pub done: Option<String>,
    pub terminal: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolling {
    pub interval: Option<Scalar>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWorkspace {
    pub root: Option<String>,
    pub repo: Option<String>,
    pub branch: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHooks {
    pub after_create: Option<String>,
    pub before_run: Option<String>,
    pub after_run: Option<String>,
    pub before_remove: Option<String>,
    pub on_stage_enter: Option<String>,
    pub timeout: Option<Scalar>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStateHooks {
    pub after_create: Option<String>,
    pub before_run: Option<String>,
    pub after_run: Option<String>,
    pub before_remove: Option<String>,
    pub on_stage_enter: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRunner {
    pub kind: Option<String>,
    pub command: Option<RawCommand>,
    pub env: Option<IndexMap<String, super::secret::RawEnvValue>>,
    pub inherit_env: Option<Vec<String>>,
    pub model: Option<String>,
    pub stall_timeout: Option<Scalar>,
    pub turn_timeout: Option<Scalar>,
    pub max_turns: Option<i64>,
    pub permission_mode: Option<String>,
    pub allowed_tools: Option<Vec<String>>,
    pub append_system_prompt: Option<String>,
    pub sandbox: Option<String>,
    pub approval_mode: Option<String>,
    pub extra_args: Option<Vec<String>>,
    pub family: Option<String>,
    pub price: Option<RawPrice>,
}

/// USD per million tokens; unset entries are 0.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrice {
    pub input: Option<f64>,
    pub output: Option<f64>,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRunnerSettings {
    pub model: Option<String>,
    pub env: Option<IndexMap<String, super::secret::RawEnvValue>>,
    pub inherit_env: Option<Vec<String>>,
    pub stall_timeout: Option<Scalar>,
    pub turn_timeout: Option<Scalar>,
    pub max_turns: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAgent {
    pub max_concurrent: Option<i64>,
    pub max_concurrent_by_state: Option<IndexMap<String, i64>>,
    pub max_retry_backoff: Option<Scalar>,
    pub max_attempts: Option<i64>,
    pub stall_timeout: Option<Scalar>,
    pub turn_timeout: Option<Scalar>,
    pub max_turns: Option<i64>,
    pub kill_grace: Option<Scalar>,
    pub usage_limit_pause: Option<Scalar>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrompts {
    pub global: Option<String>,
}

/// One state with the keys of every kind; `validate` checks which apply.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawState {
    pub kind: Option<String>,
    pub column: Option<String>,
    // agent
    pub runner: Option<String>,
    pub prompt: Option<String>,
    pub next: Option<String>,
    pub session: Option<String>,
    pub independent_of: Option<String>,
    pub runner_settings: Option<RawRunnerSettings>,
    pub hooks: Option<RawStateHooks>,
    pub pull_request: Option<String>,
    pub verdicts: Option<RawVerdicts>,
    pub max_rounds: Option<i64>,
    pub after_run_must_pass: Option<bool>,
    // gate
    pub approve: Option<String>,
    pub rework: Option<String>,
    pub max_rework: Option<i64>,
    pub merge: Option<String>,
    pub merge_failure: Option<String>,
    pub checks: Option<String>,
    pub checks_timeout: Option<Scalar>,
    pub reviews: Option<String>,
    pub reviewers: Option<Vec<String>>,
}

/// `verdicts:` of a review state: where each verdict leads.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVerdicts {
    pub approve: Option<String>,
    pub needs_revision: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBudget {
    pub per_run_usd: Option<f64>,
    pub per_ticket_usd: Option<f64>,
    pub per_day_usd: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub url: Option<String>,
    pub path: Option<String>,
    pub checkpoints: Option<String>,
    pub logs: Option<String>,
}

/// The dashboard and JSON API (`server:`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub host: Option<String>,
    pub port: Option<i64>,
    pub token: Option<String>,
    pub webhooks: Option<RawWebhooks>,
}

/// `server.webhooks`: Linear and GitHub deliveries received on the dashboard server.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhooks {
    pub path: Option<String>,
    pub secret: Option<String>,
    pub replay_window: Option<Scalar>,
    pub poll_interval: Option<Scalar>,
}

/// `forge:`: where the tickets' branches are pushed. Every kind's keys are accepted
/// here; `forge.rs` refuses a key that does not apply to the kind given.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawForge {
    pub kind: Option<String>,
    pub remote: Option<String>,
    pub api_url: Option<String>,
    pub repo: Option<String>,
    pub token: Option<String>,
    pub ca_file: Option<String>,
    pub pull_request: Option<RawPullRequest>,
}

/// `forge.pull_request`: how karajan opens a ticket's pull request (`kind: github`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPullRequest {
    pub base: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub draft: Option<bool>,
    pub ready_in: Option<String>,
}

/// The whole file. `None` sections were absent (or failed to deserialize, which has
/// already been reported).
#[derive(Debug, Default)]
pub(crate) struct RawWorkflow {
    pub tracker: Option<RawTracker>,
    /// The whole `tracker:` section, for the adapter of its kind to read.
    pub tracker_value: Option<Value>,
    pub columns: Option<RawColumns>,
    pub polling: Option<RawPolling>,
    pub workspace: Option<RawWorkspace>,
    pub hooks: Option<RawHooks>,
    pub runners: IndexMap<String, RawRunner>,
    pub agent: Option<RawAgent>,
    pub prompts: Option<RawPrompts>,
    pub entry: Option<String>,
    pub states: IndexMap<String, RawState>,
    /// States whose body failed to deserialize: they exist (targets may name them) but
    /// carry no settings.
    pub broken_states: Vec<String>,
    pub store: Option<RawStore>,
    pub budget: Option<RawBudget>,
    pub server: Option<RawServer>,
    pub forge: Option<RawForge>,
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
