//! Validation of `runners:` and `states:`: the runner profiles, each state's kind-specific
//! keys, its edges, its column, and the per-state overrides merged over the profile.
//!
//! Edges are checked here against every declared state name (even ones whose own body
//! is broken) so that a typo in `next:` gets a "did you mean" instead of a cascade of
//! unreachable-state errors.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use super::expand;
use super::raw::{RawRunner, RawRunnerSettings, RawState, RawWorkflow};
use super::schema::join;
use super::secret::{RawEnvValue, Secret};
use super::suggest;
use super::validate::Ctx;
use super::workflow::*;
use crate::domain::{Columns, MergePolicy, Review, StateKind, StateSpec};

/// The upper bound for `max_turns` anywhere.
pub(crate) const MAX_TURNS: i64 = 10_000;

/// The kinds of runner (`runners.<name>.kind`).
pub(crate) const RUNNER_KINDS: [&str; 4] = ["command", "claude", "codex", "gemini"];

/// The kinds of state (`states.<name>.kind`).
pub(crate) const STATE_KINDS: [&str; 3] = ["agent", "gate", "terminal"];

/// The values of an agent state's `session` (default `fresh`).
pub(crate) const SESSIONS: [&str; 2] = ["fresh", "inherit"];

/// The values of an agent state's `pull_request`.
pub(crate) const PULL_REQUEST: [&str; 1] = ["open"];

/// The values of a gate's `merge`.
pub(crate) const MERGE_METHODS: [&str; 3] = ["merge", "squash", "rebase"];

/// The values of a gate's `merge_failure` (default `escalate`).
pub(crate) const MERGE_FAILURES: [&str; 2] = ["escalate", "rework"];

/// Every runner profile by name; `None` for a profile with errors (already reported),
/// so states naming it are not also told it does not exist.
pub(crate) fn runners(cx: &mut Ctx, raw: &RawWorkflow) -> IndexMap<String, Option<RunnerConfig>> {
    raw.runners
        .iter()
        .map(|(name, r)| (name.clone(), runner(cx, name, r)))
        .collect()
}

fn runner(cx: &mut Ctx, name: &str, r: &RawRunner) -> Option<RunnerConfig> {
    let base = join("runners", name);
    let before = cx.errors.count();
    let kind = match r.kind.as_deref() {
        Some("command") => Some(RunnerKind::Command),
        Some("claude") => Some(RunnerKind::Claude),
        Some("codex") => Some(RunnerKind::Codex),
        Some("gemini") => Some(RunnerKind::Gemini),
        Some(k) => {
            cx.errors.push(
                join(&base, "kind"),
                format!(
                    "unknown runner kind `{k}`; expected one of {}{}",
                    RUNNER_KINDS.join(", "),
                    suggest::hint(k, RUNNER_KINDS)
                ),
            );
            None
        }
        None => {
            cx.errors.push(
                join(&base, "kind"),
                format!("missing key: one of {}", RUNNER_KINDS.join(", ")),
            );
            None
        }
    };
    let command = super::command::command(cx, &base, kind, r.command.as_ref());
    let env = env_map(cx, &join(&base, "env"), r.env.as_ref());
    let inherit_env = inherit(cx, &join(&base, "inherit_env"), r.inherit_env.as_ref());
    let stall_timeout = cx.opt_duration(&join(&base, "stall_timeout"), r.stall_timeout.as_ref());
    let turn_timeout = cx.opt_duration(&join(&base, "turn_timeout"), r.turn_timeout.as_ref());
    let max_turns = opt_turns(cx, &join(&base, "max_turns"), r.max_turns);
    let kind = kind?;
    let adapters = cx.adapters;
    let cli = adapters.runner_cli(&base, kind, r, &mut cx.section());
    (cx.errors.count() == before).then(|| RunnerConfig {
        name: name.to_string(),
        kind,
        command,
        env,
        inherit_env,
        model: r.model.clone(),
        stall_timeout,
        turn_timeout,
        max_turns,
        cli,
    })
}

fn opt_turns(cx: &mut Ctx, key: &str, raw: Option<i64>) -> Option<u32> {
    raw.map(|v| u32::try_from(cx.int(key, Some(v), 1, 1, MAX_TURNS)).unwrap_or(1))
}

/// Environment values: `$VAR` expanded (unset or empty is an error); those from the
/// environment or marked `{secret: …}` are sensitive (see `expand_env_value`).
fn env_map(
    cx: &mut Ctx,
    key: &str,
    raw: Option<&IndexMap<String, RawEnvValue>>,
) -> BTreeMap<String, Secret> {
    let mut out = BTreeMap::new();
    for (name, value) in raw.into_iter().flatten() {
        let k = join(key, name);
        if !valid_env_name(name) {
            cx.errors.push(
                &k,
                format!("`{name}` is not a valid environment variable name"),
            );
            continue;
        }
        match expand::expand_env_value(value, cx.env) {
            Ok(s) if s.is_empty() => cx.errors.push(&k, "missing secret: the value is empty"),
            Ok(s) => {
                out.insert(name.clone(), s);
            }
            Err(e) => cx.errors.push(&k, format!("missing secret: {e}")),
        }
    }
    out
}

fn inherit(cx: &mut Ctx, key: &str, raw: Option<&Vec<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for name in raw.into_iter().flatten() {
        if valid_env_name(name) {
            out.push(name.clone());
        } else {
            cx.errors.push(
                key,
                format!("`{name}` is not a valid environment variable name"),
            );
        }
    }
    out
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The runner profile with a state's `runner_settings` merged over it: scalars replace,
/// `env` is merged key-wise, `inherit_env` is the union.
fn merged(cx: &mut Ctx, key: &str, base: &RunnerConfig, s: &RawRunnerSettings) -> RunnerConfig {
    let mut r = base.clone();
    if let Some(model) = &s.model {
        if !cx.adapters.model_fits(r.kind, model) {
            cx.errors.push(
                join(key, "model"),
                format!(
                    "model `{model}` belongs to another vendor; runner `{}` is a `{}` runner",
                    r.name,
                    r.kind.as_str()
                ),
            );
        }
        r.model = s.model.clone();
    }
    r.env.extend(env_map(cx, &join(key, "env"), s.env.as_ref()));
    for name in inherit(cx, &join(key, "inherit_env"), s.inherit_env.as_ref()) {
        if !r.inherit_env.contains(&name) {
            r.inherit_env.push(name);
        }
    }
    if let Some(d) = cx.opt_duration(&join(key, "stall_timeout"), s.stall_timeout.as_ref()) {
        r.stall_timeout = Some(d);
    }
    if let Some(d) = cx.opt_duration(&join(key, "turn_timeout"), s.turn_timeout.as_ref()) {
        r.turn_timeout = Some(d);
    }
    if let Some(t) = opt_turns(cx, &join(key, "max_turns"), s.max_turns) {
        r.max_turns = Some(t);
    }
    r
}

/// The states, compiled: machine specs for those whose edges resolve, settings for those
/// that are entirely valid.
pub(crate) struct BuiltStates {
    pub specs: IndexMap<String, StateSpec>,
    pub configs: IndexMap<String, StateConfig>,
    /// Every state has a valid kind and edges to existing states (so reachability
    /// analysis is meaningful).
    pub graph_complete: bool,
}

pub(crate) fn states(
    cx: &mut Ctx,
    raw: &RawWorkflow,
    runners: &IndexMap<String, Option<RunnerConfig>>,
    columns: &Columns,
    hooks: &HookSet,
) -> BuiltStates {
    let names: Vec<&str> = raw
        .states
        .keys()
        .chain(raw.broken_states.iter())
        .map(String::as_str)
        .collect();
    let mut out = BuiltStates {
        specs: IndexMap::new(),
        configs: IndexMap::new(),
        graph_complete: raw.broken_states.is_empty(),
    };
    if names.is_empty() {
        cx.errors.push(
            "states",
            "no states declared: add at least an agent state and a terminal state",
        );
        out.graph_complete = false;
        return out;
    }
    let mut has_terminal = false;
    for (name, s) in &raw.states {
        let base = join("states", name);
        match kind_of(cx, &base, s) {
            Some(StateKind::Agent) => {
                let (next, review) = match &s.verdicts {
                    None => {
                        if s.max_rounds.is_some() {
                            cx.errors.push(
                                join(&base, "max_rounds"),
                                "`max_rounds` applies only to a review state (`verdicts:`)",
                            );
                        }
                        (
                            target(cx, &names, &base, "next", s.next.as_ref()),
                            Some(None),
                        )
                    }
                    Some(v) => review(cx, &names, &base, s, v),
                };
                let column = state_column(cx, &base, s, StateKind::Agent, columns);
                let config = agent_config(cx, &base, s, runners, hooks);
                match (next, review) {
                    (Some(next), Some(review)) => {
                        out.specs.insert(
                            name.clone(),
                            StateSpec::Agent {
                                next,
                                column,
                                review,
                            },
                        );
                    }
                    _ => out.graph_complete = false,
                }
                if let Some(c) = config {
                    out.configs
                        .insert(name.clone(), StateConfig::Agent(Box::new(c)));
                }
            }
            Some(StateKind::Gate) => {
                let approve = target(cx, &names, &base, "approve", s.approve.as_ref());
                let rework = target(cx, &names, &base, "rework", s.rework.as_ref());
                let max_rework = cx.int(&join(&base, "max_rework"), s.max_rework, 3, 0, 100);
                let column = state_column(cx, &base, s, StateKind::Gate, columns);
                let merge = merge_policy(cx, &base, s);
                let watch = super::gate_watch::watch(cx, &base, s);
                match (approve, rework) {
                    (Some(approve), Some(rework)) => {
                        out.specs.insert(
                            name.clone(),
                            StateSpec::Gate {
                                approve,
                                rework,
                                max_rework: u32::try_from(max_rework).unwrap_or(0),
                                column,
                                merge,
                                watch,
                            },
                        );
                    }
                    _ => out.graph_complete = false,
                }
                out.configs.insert(name.clone(), StateConfig::Gate);
            }
            Some(StateKind::Terminal) => {
                has_terminal = true;
                let column = state_column(cx, &base, s, StateKind::Terminal, columns);
                out.specs
                    .insert(name.clone(), StateSpec::Terminal { column });
                out.configs.insert(name.clone(), StateConfig::Terminal);
            }
            None => out.graph_complete = false,
        }
    }
    if !has_terminal {
        cx.errors.push(
            "states",
            "no terminal state: add one (`kind: terminal`) so tickets can finish",
        );
    }
    independence(cx, raw, &names, &out.configs);
    out
}

/// `independent_of: <state>`: a reviewer must not run the same model family as the
/// state it reviews. A runner's family is its `family` key, else its kind; two runners
/// are of one family when their families are equal, or when they are the same CLI kind
/// (two `command` runners are told apart by `family` only). `allow_same_family: true`
/// on the reviewing state is the explicit opt-out.
fn independence(
    cx: &mut Ctx,
    raw: &RawWorkflow,
    names: &[&str],
    configs: &IndexMap<String, StateConfig>,
) {
    for (name, s) in &raw.states {
        let base = join("states", name);
        let Some(other) = &s.independent_of else {
            if s.allow_same_family.is_some() {
                cx.errors.push(
                    join(&base, "allow_same_family"),
                    "`allow_same_family` only means something with `independent_of`",
                );
            }
            continue;
        };
        let Some(other) = target(cx, names, &base, "independent_of", Some(other)) else {
            continue;
        };
        let key = join(&base, "independent_of");
        if other == *name {
            cx.errors
                .push(key, "a state cannot be independent of itself");
            continue;
        }
        let (Some(StateConfig::Agent(me)), Some(them)) = (configs.get(name), configs.get(&other))
        else {
            continue; // this state's own errors are already reported
        };
        let StateConfig::Agent(them) = them else {
            cx.errors.push(
                key,
                format!("`{other}` is not an agent state; only agent states have a runner"),
            );
            continue;
        };
        if s.allow_same_family == Some(true) {
            continue; // the user chose a reviewer of the same family, knowingly
        }
        let (a, b) = (&me.runner, &them.runner);
        let (fa, fb) = (a.cli.family_of(a.kind), b.cli.family_of(b.kind));
        let same_cli = a.kind == b.kind && a.kind != RunnerKind::Command;
        if fa == fb || same_cli {
            let why = if fa == fb {
                format!("both runners are of the `{fa}` family")
            } else {
                format!("both runners are `{}` CLIs", a.kind.as_str())
            };
            cx.errors.push(
                key,
                format!(
                    "state `{name}` must be independent of `{other}`, but {why} (runners `{}` and `{}`): use a runner of another family (or set `allow_same_family: true` to accept it)",
                    a.name, b.name
                ),
            );
        }
    }
}

fn kind_of(cx: &mut Ctx, base: &str, s: &RawState) -> Option<StateKind> {
    let kinds = STATE_KINDS;
    match s.kind.as_deref() {
        Some("agent") => Some(StateKind::Agent),
        Some("gate") => Some(StateKind::Gate),
        Some("terminal") => Some(StateKind::Terminal),
        Some(k) => {
            cx.errors.push(
                join(base, "kind"),
                format!(
                    "unknown state kind `{k}`; expected one of agent, gate, terminal{}",
                    suggest::hint(k, kinds)
                ),
            );
            None
        }
        None => {
            cx.errors.push(
                join(base, "kind"),
                "missing key: one of agent, gate, terminal",
            );
            None
        }
    }
}

/// An edge to another state: required, and the state must exist.
/// `verdicts:` (instead of `next:`): the approve target as the state's `next`, and the
/// review's routing; `None`s where a target is missing or unknown (reported).
fn review(
    cx: &mut Ctx,
    names: &[&str],
    base: &str,
    s: &RawState,
    v: &super::raw::RawVerdicts,
) -> (Option<String>, Option<Option<Review>>) {
    if s.next.is_some() {
        cx.errors.push(
            join(base, "next"),
            "a review state routes by its verdicts: give `verdicts.approve` instead of `next`",
        );
    }
    if s.independent_of.is_none() {
        cx.errors.push(
            join(base, "independent_of"),
            "a review state names the agent state whose work it reviews (`independent_of: <state>`), so that a runner of another family reviews it",
        );
    }
    let key = join(base, "verdicts");
    let approve = target(cx, names, &key, "approve", v.approve.as_ref());
    let revise = target(cx, names, &key, "needs_revision", v.needs_revision.as_ref());
    let max_rounds = cx.int(&join(base, "max_rounds"), s.max_rounds, 3, 0, 100);
    let review = revise.map(|needs_revision| {
        Some(Review {
            needs_revision,
            max_rounds: u32::try_from(max_rounds).unwrap_or(0),
        })
    });
    (approve, review)
}

fn target(
    cx: &mut Ctx,
    names: &[&str],
    base: &str,
    key: &str,
    value: Option<&String>,
) -> Option<String> {
    let k = join(base, key);
    match value {
        None => {
            cx.errors
                .push(k, format!("missing key `{key}`: the state to go to"));
            None
        }
        Some(t) if names.contains(&t.as_str()) => Some(t.clone()),
        Some(t) => {
            cx.errors.push(
                k,
                format!(
                    "no state named `{t}`{}",
                    suggest::hint(t, names.iter().copied())
                ),
            );
            None
        }
    }
}

/// The state's column (defaulted by kind), checked against the column rules.
fn state_column(
    cx: &mut Ctx,
    base: &str,
    s: &RawState,
    kind: StateKind,
    columns: &Columns,
) -> String {
    let (default, role) = match kind {
        StateKind::Agent => (&columns.active, "columns.active"),
        StateKind::Gate => (&columns.review, "columns.review"),
        StateKind::Terminal => (&columns.done, "columns.done"),
    };
    let (column, key, origin) = match &s.column {
        Some(c) => (c.clone(), join(base, "column"), String::new()),
        None => (
            default.clone(),
            base.to_string(),
            format!(" (the default, from `{role}`)"),
        ),
    };
    if column == columns.todo {
        cx.errors.push(
            &key,
            format!(
                "column `{column}`{origin} is the todo column (`columns.todo`): tickets wait there to be picked up, no state may live in it"
            ),
        );
    } else if kind != StateKind::Terminal && columns.is_terminal(&column) {
        let what = if kind == StateKind::Agent {
            "an agent"
        } else {
            "a gate"
        };
        cx.errors.push(
            &key,
            format!(
                "column `{column}`{origin} is a terminal column; {what} state cannot live in it"
            ),
        );
    } else if kind == StateKind::Terminal && !columns.is_terminal(&column) {
        cx.errors.push(
            &key,
            format!(
                "terminal state column `{column}` must be `columns.done` (`{}`) or listed in `columns.terminal`",
                columns.done
            ),
        );
    }
    column
}

fn agent_config(
    cx: &mut Ctx,
    base: &str,
    s: &RawState,
    runners: &IndexMap<String, Option<RunnerConfig>>,
    hooks: &HookSet,
) -> Option<AgentState> {
    let runner = match s.runner.as_deref() {
        None => {
            cx.errors.push(
                join(base, "runner"),
                "missing key `runner`: the runner profile (under `runners:`) this state uses",
            );
            None
        }
        Some(r) => match runners.get(r) {
            Some(Some(cfg)) => Some(cfg.clone()),
            // The profile has its own errors, already reported.
            Some(None) => None,
            None => {
                let hint = if runners.is_empty() {
                    "; declare it under `runners:`".to_string()
                } else {
                    suggest::hint(r, runners.keys().map(String::as_str))
                };
                cx.errors
                    .push(join(base, "runner"), format!("no runner named `{r}`{hint}"));
                None
            }
        },
    };
    let runner = match (&runner, &s.runner_settings) {
        (Some(r), Some(settings)) => Some(merged(cx, &join(base, "runner_settings"), r, settings)),
        _ => runner,
    };
    let prompt = match s.prompt.as_deref() {
        None => {
            cx.errors.push(
                join(base, "prompt"),
                "missing key `prompt`: the prompt template file for this stage",
            );
            None
        }
        Some(p) => cx.prompt_file(&join(base, "prompt"), p),
    };
    let session = match s.session.as_deref() {
        None | Some("fresh") => SessionMode::Fresh,
        Some("inherit") => SessionMode::Inherit,
        Some(other) => {
            cx.errors.push(
                join(base, "session"),
                format!(
                    "unknown session mode `{other}`; expected `fresh` or `inherit`{}",
                    suggest::hint(other, SESSIONS)
                ),
            );
            SessionMode::Fresh
        }
    };
    let over = s
        .hooks
        .as_ref()
        .map(|h| HookSet {
            after_create: h.after_create.clone(),
            before_run: h.before_run.clone(),
            after_run: h.after_run.clone(),
            before_remove: h.before_remove.clone(),
            on_stage_enter: h.on_stage_enter.clone(),
        })
        .unwrap_or_default();
    if s.after_run_must_pass == Some(true) && hooks.overridden_by(&over).after_run.is_none() {
        cx.errors.push(
            join(base, "after_run_must_pass"),
            "there is no `after_run` hook to pass: set `hooks.after_run` (globally or on this state)",
        );
    }
    let pull_request = match s.pull_request.as_deref() {
        None => false,
        Some("open") => true,
        Some(other) => {
            cx.errors.push(
                join(base, "pull_request"),
                format!(
                    "unknown value `{other}`; expected `open` (after a successful run the ticket's branch is pushed and its pull request opened, or updated){}",
                    suggest::hint(other, PULL_REQUEST)
                ),
            );
            false
        }
    };
    Some(AgentState {
        runner: runner?,
        prompt: prompt?,
        session,
        hooks: hooks.overridden_by(&over),
        pull_request,
        after_run_must_pass: s.after_run_must_pass.unwrap_or(false),
    })
}

/// `merge:` and `merge_failure:` of a gate.
fn merge_policy(cx: &mut Ctx, base: &str, s: &RawState) -> Option<MergePolicy> {
    let method = match s.merge.as_deref() {
        None => {
            if s.merge_failure.is_some() {
                cx.errors.push(
                    join(base, "merge_failure"),
                    "`merge_failure` applies only with `merge:` (merge, squash or rebase)",
                );
            }
            return None;
        }
        Some(m) if MERGE_METHODS.contains(&m) => m.to_string(),
        Some(m) => {
            cx.errors.push(
                join(base, "merge"),
                format!(
                    "unknown merge method `{m}`; expected one of {}{}",
                    MERGE_METHODS.join(", "),
                    suggest::hint(m, MERGE_METHODS)
                ),
            );
            return None;
        }
    };
    let rework_on_failure = match s.merge_failure.as_deref() {
        None | Some("escalate") => false,
        Some("rework") => true,
        Some(other) => {
            cx.errors.push(
                join(base, "merge_failure"),
                format!(
                    "unknown value `{other}`; expected `escalate` (a human decides) or `rework` (the gate's rework target resolves it){}",
                    suggest::hint(other, MERGE_FAILURES)
                ),
            );
            false
        }
    };
    Some(MergePolicy {
        method,
        rework_on_failure,
    })
}

/// `forge.pull_request.ready_in` names a state of the workflow.
pub(crate) fn ready_in_is_a_state(cx: &mut Ctx, raw: &RawWorkflow, forge: Option<&ForgeConfig>) {
    let Some(state) = forge
        .and_then(|f| f.github())
        .and_then(|g| g.pull_request.ready_in.as_deref())
    else {
        return;
    };
    let names = || raw.states.keys().chain(raw.broken_states.iter());
    if !names().any(|n| n == state) {
        cx.errors.push(
            "forge.pull_request.ready_in",
            format!(
                "no state named `{state}`{}",
                suggest::hint(state, names().map(String::as_str))
            ),
        );
    }
}

/// `pull_request: open`, `merge:`, `checks:` and PR `reviews:` need a forge that has pull
/// requests (`forge: {kind: github}`); a gate that merges or reads the pull request also
/// needs some state that opens it (karajan only knows the pull requests it opened).
pub(crate) fn pull_requests_need_a_forge(
    cx: &mut Ctx,
    raw: &RawWorkflow,
    forge: Option<&ForgeConfig>,
) {
    let has_prs = forge.is_some_and(|f| f.github().is_some());
    let opens = raw.states.values().any(|s| s.pull_request.is_some());
    let why = match forge {
        None => "there is no `forge:` section; add `forge: {kind: github, repo: owner/name}`",
        Some(_) => "`forge.kind` is `git`, which has no pull requests; use `kind: github`",
    };
    for (name, s) in &raw.states {
        let base = join("states", name);
        let reads = [
            ("merge", s.merge.is_some(), "merging a pull request"),
            (
                super::gate_watch::pr_key(s).unwrap_or("checks"),
                super::gate_watch::pr_key(s).is_some(),
                "a gate that reads its pull request",
            ),
        ];
        for (key, used, what) in reads {
            if !used {
                continue;
            }
            if !has_prs {
                cx.errors.push(
                    join(&base, key),
                    format!("{what} needs a forge that has them: {why}"),
                );
            } else if !opens {
                cx.errors.push(
                    join(&base, key),
                    format!("{what} needs a state that opens it: add `pull_request: open` to the agent state whose work it is"),
                );
            }
        }
        if s.pull_request.is_some() && !has_prs {
            cx.errors.push(
                join(&base, "pull_request"),
                format!("a pull request needs a forge that has them: {why}"),
            );
        }
    }
}

/// The entry state: `entry:` or the first declared state; it must exist.
pub(crate) fn entry(cx: &mut Ctx, raw: &RawWorkflow) -> Option<String> {
    let names = || raw.states.keys().chain(raw.broken_states.iter());
    match &raw.entry {
        Some(e) if names().any(|n| n == e) => Some(e.clone()),
        Some(e) => {
            cx.errors.push(
                "entry",
                format!(
                    "entry state `{e}` does not exist{}",
                    suggest::hint(e, names().map(String::as_str))
                ),
            );
            None
        }
        None => names().next().cloned(),
    }
}
