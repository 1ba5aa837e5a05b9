//! The table of keys `workflow.yaml` allows, and the walk that reports every unknown key.
//!
//! serde's `deny_unknown_fields` stops at the first unknown key and cannot say where it
//! is. Walking the parsed YAML against this table instead reports *every* unknown key
//! with its full path (`states.implement.promt`), its line and a "did you mean" hint,
//! then removes it so the rest of the file can still be checked. Keep this table in step
//! with the structs in `raw.rs` and the trackers' raw structs: a test
//! (`workflow_load/tests/json_schema.rs`) fails when the keys of the JSON Schema derived
//! from them (`karajan schema`) differ from this table's.

use yaml_serde::Value;

use super::error::Errors;
use super::suggest;

/// What a YAML node may contain.
pub(crate) enum Shape {
    /// Any value (scalars, lists, free-form maps): serde checks it.
    Leaf,
    /// A mapping with exactly these keys.
    Fields(&'static [(&'static str, Shape)]),
    /// A mapping with user-chosen keys, each value of the given shape.
    Dict(&'static Shape),
    /// A workflow state: allowed keys depend on its `kind`.
    State,
}

const HOOKS: &[(&str, Shape)] = &[
    ("after_create", Shape::Leaf),
    ("before_run", Shape::Leaf),
    ("after_run", Shape::Leaf),
    ("before_remove", Shape::Leaf),
    ("on_stage_enter", Shape::Leaf),
    ("timeout", Shape::Leaf),
];

const STATE_HOOKS: &[(&str, Shape)] = &[
    ("after_create", Shape::Leaf),
    ("before_run", Shape::Leaf),
    ("after_run", Shape::Leaf),
    ("before_remove", Shape::Leaf),
    ("on_stage_enter", Shape::Leaf),
];

const RUNNER_SETTINGS: &[(&str, Shape)] = &[
    ("model", Shape::Leaf),
    ("env", Shape::Leaf),
    ("inherit_env", Shape::Leaf),
    ("stall_timeout", Shape::Leaf),
    ("turn_timeout", Shape::Leaf),
    ("max_turns", Shape::Leaf),
];

const RUNNER: &[(&str, Shape)] = &[
    ("kind", Shape::Leaf),
    ("command", Shape::Leaf),
    ("env", Shape::Leaf),
    ("inherit_env", Shape::Leaf),
    ("model", Shape::Leaf),
    ("stall_timeout", Shape::Leaf),
    ("turn_timeout", Shape::Leaf),
    ("max_turns", Shape::Leaf),
    // CLI-specific settings (agent::settings::CliSettings).
    ("permission_mode", Shape::Leaf),
    ("allowed_tools", Shape::Leaf),
    ("append_system_prompt", Shape::Leaf),
    ("sandbox", Shape::Leaf),
    ("approval_mode", Shape::Leaf),
    ("extra_args", Shape::Leaf),
    ("family", Shape::Leaf),
    (
        "price",
        Shape::Fields(&[
            ("input", Shape::Leaf),
            ("output", Shape::Leaf),
            ("cache_read", Shape::Leaf),
            ("cache_write", Shape::Leaf),
        ]),
    ),
];

/// Every key any tracker kind knows (local, github, linear); each adapter refuses the
/// keys of other kinds.
const TRACKER: &[(&str, Shape)] = &[
    ("kind", Shape::Leaf),
    ("dir", Shape::Leaf),
    ("repo", Shape::Leaf),
    ("mode", Shape::Leaf),
    ("project", Shape::Leaf),
    ("status_field", Shape::Leaf),
    ("label_prefix", Shape::Leaf),
    ("token", Shape::Leaf),
    ("api_url", Shape::Leaf),
    ("priority", Shape::Leaf),
    ("close_on_terminal", Shape::Leaf),
    ("pass_token_to_agents", Shape::Leaf),
    ("api_key", Shape::Leaf),
    ("endpoint", Shape::Leaf),
    ("team", Shape::Leaf),
    ("pass_api_key_to_agents", Shape::Leaf),
    ("terminal_sweep", Shape::Leaf),
];

/// The whole file.
pub(crate) const ROOT: Shape = Shape::Fields(&[
    ("tracker", Shape::Fields(TRACKER)),
    (
        "columns",
        Shape::Fields(&[
            ("todo", Shape::Leaf),
            ("active", Shape::Leaf),
            ("review", Shape::Leaf),
            ("approved", Shape::Leaf),
            ("rework", Shape::Leaf),
            ("done", Shape::Leaf),
            ("terminal", Shape::Leaf),
        ]),
    ),
    ("polling", Shape::Fields(&[("interval", Shape::Leaf)])),
    (
        "workspace",
        Shape::Fields(&[
            ("root", Shape::Leaf),
            ("repo", Shape::Leaf),
            ("branch", Shape::Leaf),
        ]),
    ),
    ("hooks", Shape::Fields(HOOKS)),
    ("runners", Shape::Dict(&Shape::Fields(RUNNER))),
    (
        "agent",
        Shape::Fields(&[
            ("max_concurrent", Shape::Leaf),
            ("max_concurrent_by_state", Shape::Leaf),
            ("max_retry_backoff", Shape::Leaf),
            ("max_attempts", Shape::Leaf),
            ("stall_timeout", Shape::Leaf),
            ("turn_timeout", Shape::Leaf),
            ("max_turns", Shape::Leaf),
            ("kill_grace", Shape::Leaf),
            ("usage_limit_pause", Shape::Leaf),
        ]),
    ),
    ("prompts", Shape::Fields(&[("global", Shape::Leaf)])),
    ("entry", Shape::Leaf),
    ("states", Shape::Dict(&Shape::State)),
    (
        "store",
        Shape::Fields(&[
            ("url", Shape::Leaf),
            ("path", Shape::Leaf),
            ("checkpoints", Shape::Leaf),
            ("signing_key", Shape::Leaf),
            ("logs", Shape::Leaf),
            ("cluster", Shape::Leaf),
            ("lease_ttl", Shape::Leaf),
        ]),
    ),
    (
        "notify",
        Shape::Fields(&[
            ("gate_delay", Shape::Leaf),
            ("failure_streak", Shape::Leaf),
            (
                "targets",
                Shape::Dict(&Shape::Fields(&[
                    ("kind", Shape::Leaf),
                    ("url", Shape::Leaf),
                    ("events", Shape::Leaf),
                ])),
            ),
        ]),
    ),
    (
        "budget",
        Shape::Fields(&[
            ("per_run_usd", Shape::Leaf),
            ("per_ticket_usd", Shape::Leaf),
            ("per_day_usd", Shape::Leaf),
        ]),
    ),
    (
        "server",
        Shape::Fields(&[
            ("host", Shape::Leaf),
            ("port", Shape::Leaf),
            ("token", Shape::Leaf),
            (
                "webhooks",
                Shape::Fields(&[
                    ("path", Shape::Leaf),
                    ("secret", Shape::Leaf),
                    ("replay_window", Shape::Leaf),
                    ("poll_interval", Shape::Leaf),
                ]),
            ),
        ]),
    ),
    (
        "forge",
        Shape::Fields(&[
            ("kind", Shape::Leaf),
            ("remote", Shape::Leaf),
            ("api_url", Shape::Leaf),
            ("repo", Shape::Leaf),
            ("token", Shape::Leaf),
            ("ca_file", Shape::Leaf),
            (
                "pull_request",
                Shape::Fields(&[
                    ("base", Shape::Leaf),
                    ("title", Shape::Leaf),
                    ("body", Shape::Leaf),
                    ("draft", Shape::Leaf),
                    ("ready_in", Shape::Leaf),
                ]),
            ),
        ]),
    ),
]);

pub(crate) const STATE_COMMON: &[(&str, Shape)] = &[("kind", Shape::Leaf), ("column", Shape::Leaf)];

const STATE_AGENT: &[(&str, Shape)] = &[
    ("runner", Shape::Leaf),
    ("prompt", Shape::Leaf),
    ("next", Shape::Leaf),
    ("session", Shape::Leaf),
    ("independent_of", Shape::Leaf),
    ("allow_same_family", Shape::Leaf),
    ("runner_settings", Shape::Fields(RUNNER_SETTINGS)),
    ("hooks", Shape::Fields(STATE_HOOKS)),
    ("pull_request", Shape::Leaf),
    (
        "verdicts",
        Shape::Fields(&[("approve", Shape::Leaf), ("needs_revision", Shape::Leaf)]),
    ),
    ("max_rounds", Shape::Leaf),
    ("after_run_must_pass", Shape::Leaf),
];

const STATE_GATE: &[(&str, Shape)] = &[
    ("approve", Shape::Leaf),
    ("rework", Shape::Leaf),
    ("max_rework", Shape::Leaf),
    ("merge", Shape::Leaf),
    ("merge_failure", Shape::Leaf),
    ("checks", Shape::Leaf),
    ("checks_timeout", Shape::Leaf),
    ("reviews", Shape::Leaf),
    ("reviewers", Shape::Leaf),
];

pub(crate) const STATE_KINDS: &[(&str, &[(&str, Shape)])] = &[
    ("agent", STATE_AGENT),
    ("gate", STATE_GATE),
    ("terminal", &[]),
];

/// Reports every key of `value` that `shape` does not allow, and removes it.
pub(crate) fn strip_unknown(value: &mut Value, shape: &Shape, path: &str, errors: &mut Errors) {
    match shape {
        Shape::Leaf => {}
        Shape::Fields(fields) => walk_fields(value, fields, &[], path, errors, |_| None),
        Shape::Dict(inner) => {
            if let Value::Mapping(map) = value {
                for (k, v) in map.iter_mut() {
                    let key = key_name(k);
                    strip_unknown(v, inner, &join(path, &key), errors);
                }
            }
        }
        Shape::State => walk_state(value, path, errors),
    }
}

fn walk_state(value: &mut Value, path: &str, errors: &mut Errors) {
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .and_then(|k| STATE_KINDS.iter().find(|(name, _)| *name == k))
        .map(|(name, fields)| (*name, *fields));
    match kind {
        Some((name, fields)) => {
            walk_fields(value, STATE_COMMON, fields, path, errors, |key| {
                STATE_KINDS
                .iter()
                .find(|(_, fs)| fs.iter().any(|(k, _)| *k == key))
                .map(|(other, _)| {
                    format!("`{key}` does not apply to {name} states (it is a key of {other} states)")
                })
            })
        }
        // Unknown or missing kind: accept any state key; `validate` reports the kind.
        None => {
            let all: Vec<(&str, &Shape)> = STATE_COMMON
                .iter()
                .chain(STATE_KINDS.iter().flat_map(|(_, fs)| fs.iter()))
                .map(|(k, s)| (*k, s))
                .collect();
            walk_map(value, &all, path, errors, |_| None);
        }
    }
}

fn walk_fields(
    value: &mut Value,
    fields: &'static [(&'static str, Shape)],
    extra: &'static [(&'static str, Shape)],
    path: &str,
    errors: &mut Errors,
    misplaced: impl Fn(&str) -> Option<String>,
) {
    let all: Vec<(&str, &Shape)> = fields
        .iter()
        .chain(extra.iter())
        .map(|(k, s)| (*k, s))
        .collect();
    walk_map(value, &all, path, errors, misplaced);
}

fn walk_map(
    value: &mut Value,
    allowed: &[(&str, &Shape)],
    path: &str,
    errors: &mut Errors,
    misplaced: impl Fn(&str) -> Option<String>,
) {
    let Value::Mapping(map) = value else {
        return;
    };
    let mut unknown = Vec::new();
    for (k, v) in map.iter_mut() {
        let key = key_name(k);
        match allowed.iter().find(|(name, _)| *name == key) {
            Some((_, shape)) => strip_unknown(v, shape, &join(path, &key), errors),
            None => {
                let message = misplaced(&key).unwrap_or_else(|| {
                    format!(
                        "unknown key{}",
                        suggest::hint(&key, allowed.iter().map(|(n, _)| *n))
                    )
                });
                errors.push(join(path, &key), message);
                unknown.push(k.clone());
            }
        }
    }
    for k in unknown {
        map.shift_remove(&k);
    }
}

fn key_name(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => yaml_serde::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}
