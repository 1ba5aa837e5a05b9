//! Loading tests: one per kind of configuration error (asserting the message, the key
//! path and, where it matters, the line), plus the happy paths and the shipped example.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{load, load_str_with_env};
use crate::config::*;
use crate::domain::StateSpec;

mod adapters;
mod command;
mod forge;
mod gate_watch;
mod json_schema;
mod notify;
mod review;
mod store;

const BASE: &str = "\
tracker:
  kind: local
  dir: ./tickets
workspace:
  repo: ./repo
runners:
  demo:
    kind: command
    command: ./agent.sh
    env: { TOKEN: $DEMO_TOKEN }
states:
  implement:
    kind: agent
    runner: demo
    prompt: prompts/implement.md
    next: review
  review:
    kind: gate
    approve: done
    rework: implement
  done:
    kind: terminal
";

fn env(name: &str) -> Option<String> {
    match name {
        "DEMO_TOKEN" => Some("tok-123".into()),
        "HOOK_URL" => Some("https://hooks.example.com/services/T0/B0/xyz".into()),
        "EMPTY_TOKEN" => Some(String::new()),
        "HOME" => Some("/home/ada".into()),
        _ => None,
    }
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("prompts")).unwrap();
        let f = Fixture { dir };
        f.write("prompts/implement.md", "Do {{ issue.title }}.\n");
        f.write("prompts/global.md", "Be careful.\n");
        f
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.dir.path().join(rel), text).unwrap();
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("workflow.yaml")
    }

    fn load(&self, yaml: &str) -> Result<Workflow, ConfigErrors> {
        load_str_with_env(yaml, &self.path(), &env)
    }

    fn errors(&self, yaml: &str) -> Vec<ConfigError> {
        match self.load(yaml) {
            Ok(_) => panic!("expected errors for:\n{yaml}"),
            Err(e) => e.0,
        }
    }

    /// The single error at `key`, asserting there is exactly one there.
    fn error_at(&self, yaml: &str, key: &str) -> ConfigError {
        let all = self.errors(yaml);
        let at: Vec<_> = all.iter().filter(|e| e.key == key).collect();
        assert_eq!(at.len(), 1, "expected one error at `{key}`, got: {all:#?}");
        at[0].clone()
    }
}

fn with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE lacks {from:?}");
    BASE.replacen(from, to, 1)
}

#[test]
fn base_workflow_loads_with_defaults() {
    let f = Fixture::new();
    let wf = f.load(BASE).unwrap();
    let base = std::path::absolute(f.dir.path()).unwrap();
    assert_eq!(wf.base_dir, base);
    let Some(t) = wf
        .tracker
        .get::<crate::tracker::local::config::LocalTrackerConfig>()
    else {
        panic!("expected a local tracker")
    };
    assert_eq!(t.dir, base.join("tickets"));
    assert_eq!(wf.workspace.repo, base.join("repo").display().to_string());
    assert_eq!(wf.workspace.root, base.join(".karajan/workspaces"));
    assert_eq!(wf.workspace.branch, DEFAULT_BRANCH);
    assert_eq!(wf.store.path, base.join(".karajan/karajan.db"));
    assert_eq!(wf.store.checkpoints, base.join(".karajan/checkpoints"));
    assert_eq!(wf.store.logs, base.join(".karajan/logs"));
    assert_eq!(wf.polling.interval, Duration::from_secs(30));
    assert_eq!(wf.hooks.timeout, Duration::from_secs(60));
    assert_eq!(wf.agent.max_concurrent, 4);
    assert_eq!(wf.agent.max_attempts, 5);
    assert_eq!(wf.agent.kill_grace, Duration::from_secs(5));

    let m = &wf.machine;
    assert_eq!(m.entry, "implement");
    assert_eq!(m.max_attempts, 5);
    assert_eq!(m.columns.todo, "Todo");
    assert_eq!(
        m.state("implement"),
        Some(&StateSpec::Agent {
            next: "review".into(),
            column: "In Progress".into(),
            review: None,
        })
    );
    assert_eq!(
        m.state("review"),
        Some(&StateSpec::Gate {
            approve: "done".into(),
            rework: "implement".into(),
            max_rework: 3,
            column: "Human Review".into(),
            merge: None,
            watch: None,
        })
    );
    assert_eq!(
        m.state("done"),
        Some(&StateSpec::Terminal {
            column: "Done".into()
        })
    );

    let a = wf.agent_state("implement").unwrap();
    // A single word is the program's path, beside the workflow.
    assert_eq!(
        a.runner.command,
        [base.join("agent.sh").display().to_string()]
    );
    assert_eq!(a.runner.env["TOKEN"].expose(), "tok-123");
    assert_eq!(a.session, SessionMode::Fresh);
    assert_eq!(a.prompt.source, "Do {{ issue.title }}.\n");
    assert_eq!(a.prompt.path, base.join("prompts/implement.md"));
    assert!(matches!(wf.states["review"], StateConfig::Gate));
    assert_eq!(wf.digest.len(), 64);
}

#[test]
fn state_overrides_merge_over_runner_and_hooks() {
    let f = Fixture::new();
    let yaml = BASE
        .replace(
            "    env: { TOKEN: $DEMO_TOKEN }\n",
            "    env: { TOKEN: $DEMO_TOKEN, A: one }\n    inherit_env: [SSH_AUTH_SOCK]\n    model: base\n    stall_timeout: 5m\n",
        )
        .replace(
            "    next: review\n",
            "    next: review\n    session: inherit\n    runner_settings:\n      model: big\n      env: { A: two, B: \"x-${DEMO_TOKEN}\" }\n      inherit_env: [GH_TOKEN]\n      max_turns: 7\n    hooks:\n      before_run: stage-before\n",
        )
        + "hooks:\n  before_run: global-before\n  after_run: global-after\n  timeout: 2m\n";
    let wf = f.load(&yaml).unwrap();
    let a = wf.agent_state("implement").unwrap();
    assert_eq!(a.session, SessionMode::Inherit);
    assert_eq!(a.runner.model.as_deref(), Some("big"));
    assert_eq!(a.runner.env["TOKEN"].expose(), "tok-123");
    assert_eq!(a.runner.env["A"].expose(), "two");
    assert_eq!(a.runner.env["B"].expose(), "x-tok-123");
    assert_eq!(a.runner.inherit_env, ["SSH_AUTH_SOCK", "GH_TOKEN"]);
    assert_eq!(a.runner.max_turns, Some(7));
    assert_eq!(a.runner.stall_timeout, Some(Duration::from_secs(300)));
    assert_eq!(a.hooks.before_run.as_deref(), Some("stage-before"));
    assert_eq!(a.hooks.after_run.as_deref(), Some("global-after"));
    assert_eq!(wf.hooks.timeout, Duration::from_secs(120));
    // The profile itself is untouched.
    assert_eq!(wf.runners["demo"].model.as_deref(), Some("base"));
    assert_eq!(wf.runners["demo"].env["A"].expose(), "one");
}

#[test]
fn unknown_key_names_path_line_and_suggestion() {
    let f = Fixture::new();
    let yaml = with(
        "    prompt: prompts/implement.md\n",
        "    promt: prompts/implement.md\n",
    );
    let e = f.error_at(&yaml, "states.implement.promt");
    assert_eq!(e.message, "unknown key; did you mean `prompt`?");
    assert_eq!(e.line, Some(15));
    assert_eq!(e.file, f.path());
    assert_eq!(
        e.to_string(),
        format!(
            "{}:15: states.implement.promt: unknown key; did you mean `prompt`?",
            f.path().display()
        )
    );
    // The stripped key leaves the state without a prompt, which is reported too.
    let m = f.error_at(&yaml, "states.implement.prompt");
    assert!(
        m.message.starts_with("missing key `prompt`"),
        "{}",
        m.message
    );
}

#[test]
fn unknown_keys_everywhere_are_all_reported() {
    let f = Fixture::new();
    let yaml = with("  dir: ./tickets\n", "  dri: ./tickets\n")
        + "polling:\n  intervall: 5s\nstatez: {}\n";
    let errs = f.errors(&yaml);
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert!(keys.contains(&"tracker.dri"), "{keys:?}");
    assert!(keys.contains(&"polling.intervall"), "{keys:?}");
    assert!(keys.contains(&"statez"), "{keys:?}");
    let top = errs.iter().find(|e| e.key == "statez").unwrap();
    assert_eq!(top.message, "unknown key; did you mean `states`?");
}

#[test]
fn key_of_another_state_kind_is_explained() {
    let f = Fixture::new();
    let yaml = with(
        "    next: review\n",
        "    next: review\n    approve: done\n",
    );
    let e = f.error_at(&yaml, "states.implement.approve");
    assert_eq!(
        e.message,
        "`approve` does not apply to agent states (it is a key of gate states)"
    );
}

#[test]
fn missing_entry_state() {
    let f = Fixture::new();
    let e = f.error_at(&(BASE.to_string() + "entry: implemnt\n"), "entry");
    assert_eq!(
        e.message,
        "entry state `implemnt` does not exist; did you mean `implement`?"
    );
}

#[test]
fn explicit_entry_is_used() {
    let f = Fixture::new();
    // `review` → `implement` (rework) → `done`: everything is reachable from `review`.
    let yaml = with("    next: review\n", "    next: done\n") + "entry: review\n";
    let wf = f.load(&yaml).unwrap();
    assert_eq!(wf.machine.entry, "review");
}

#[test]
fn bad_targets_are_reported_with_hints() {
    let f = Fixture::new();
    let yaml = with("    next: review\n", "    next: reviw\n")
        .replace("    approve: done\n", "    approve: shipped\n");
    let e = f.error_at(&yaml, "states.implement.next");
    assert_eq!(e.message, "no state named `reviw`; did you mean `review`?");
    let e = f.error_at(&yaml, "states.review.approve");
    assert_eq!(e.message, "no state named `shipped`");
    // No cascade of unreachable-state errors when an edge is broken.
    let errs = f.errors(&yaml);
    assert!(
        errs.iter().all(|e| !e.message.contains("unreachable")),
        "{errs:#?}"
    );
}

#[test]
fn missing_agent_and_gate_keys() {
    let f = Fixture::new();
    let yaml = with("    runner: demo\n", "")
        .replace("    next: review\n", "")
        .replace("    rework: implement\n", "");
    assert!(
        f.error_at(&yaml, "states.implement.runner")
            .message
            .starts_with("missing key `runner`")
    );
    assert!(
        f.error_at(&yaml, "states.implement.next")
            .message
            .starts_with("missing key `next`")
    );
    assert!(
        f.error_at(&yaml, "states.review.rework")
            .message
            .starts_with("missing key `rework`")
    );
}

#[test]
fn unreachable_state() {
    let f = Fixture::new();
    let yaml = BASE.to_string()
        + "  orphan:\n    kind: agent\n    runner: demo\n    prompt: prompts/implement.md\n    next: done\n  abandoned:\n    kind: terminal\n";
    let e = f.error_at(&yaml, "states.orphan");
    assert_eq!(
        e.message,
        "state `orphan` is unreachable from the entry state `implement`"
    );
    assert_eq!(e.line, Some(23));
    // Terminal states are reachable by a human moving the ticket: not an error.
    assert!(f.errors(&yaml).iter().all(|e| e.key != "states.abandoned"));
}

#[test]
fn no_terminal_state() {
    let f = Fixture::new();
    let yaml = with("    approve: done\n", "    approve: implement\n")
        .replace("  done:\n    kind: terminal\n", "");
    let e = f.error_at(&yaml, "states");
    assert_eq!(
        e.message,
        "no terminal state: add one (`kind: terminal`) so tickets can finish"
    );
}

#[test]
fn unknown_runner_name_and_unknown_runner_kind() {
    let f = Fixture::new();
    let yaml = with("    runner: demo\n", "    runner: dmeo\n");
    let e = f.error_at(&yaml, "states.implement.runner");
    assert_eq!(e.message, "no runner named `dmeo`; did you mean `demo`?");

    let yaml = with("    kind: command\n", "    kind: cluade\n");
    let e = f.error_at(&yaml, "runners.demo.kind");
    assert!(
        e.message.starts_with("unknown runner kind `cluade`"),
        "{}",
        e.message
    );
    // The state using it is not also told the runner does not exist.
    assert!(
        f.errors(&yaml)
            .iter()
            .all(|e| e.key != "states.implement.runner")
    );
}

#[test]
fn prompt_file_missing() {
    let f = Fixture::new();
    let yaml = with("prompts/implement.md", "prompts/nope.md");
    let e = f.error_at(&yaml, "states.implement.prompt");
    let expected = std::path::absolute(f.dir.path().join("prompts/nope.md")).unwrap();
    assert_eq!(
        e.message,
        format!("prompt file `{}`: not found", expected.display())
    );
}

#[test]
fn prompt_syntax_error_names_file_and_line() {
    let f = Fixture::new();
    f.write(
        "prompts/implement.md",
        "line one\n{% if issue.title %}\nunclosed\n",
    );
    let e = f.error_at(BASE, "states.implement.prompt");
    assert!(e.file.ends_with("prompts/implement.md"), "{e:?}");
    assert!(e.line.is_some_and(|l| l >= 2), "{e:?}");
    assert_eq!(
        e.message,
        "syntax error: unexpected end of input, expected end of block"
    );
    let shown = e.to_string();
    assert!(
        shown.contains("prompts/implement.md:")
            && shown.contains(": states.implement.prompt: syntax error"),
        "{shown}"
    );
}

#[test]
fn global_prompt_is_loaded_and_checked() {
    let f = Fixture::new();
    let yaml = BASE.to_string() + "prompts:\n  global: prompts/global.md\n";
    let wf = f.load(&yaml).unwrap();
    assert_eq!(wf.prompts.global.unwrap().source, "Be careful.\n");
    f.write("prompts/global.md", "{{ oops");
    let e = f.error_at(&yaml, "prompts.global");
    assert!(e.message.contains("syntax error"), "{}", e.message);
}

#[test]
fn out_of_range_numbers() {
    let f = Fixture::new();
    let yaml =
        BASE.to_string() + "agent:\n  max_concurrent: 0\n  max_attempts: 101\n  max_turns: 0\n";
    let yaml = yaml.replace(
        "    rework: implement\n",
        "    rework: implement\n    max_rework: 101\n",
    );
    assert_eq!(
        f.error_at(&yaml, "agent.max_concurrent").message,
        "0 is out of range: must be between 1 and 1000"
    );
    assert_eq!(
        f.error_at(&yaml, "agent.max_attempts").message,
        "101 is out of range: must be between 1 and 100"
    );
    assert_eq!(
        f.error_at(&yaml, "agent.max_turns").message,
        "0 is out of range: must be between 1 and 10000"
    );
    assert_eq!(
        f.error_at(&yaml, "states.review.max_rework").message,
        "101 is out of range: must be between 0 and 100"
    );
}

#[test]
fn per_state_caps_are_keyed_by_agent_states_within_the_limit() {
    let f = Fixture::new();
    let ok = BASE.to_string()
        + "agent:\n  max_concurrent: 3\n  max_concurrent_by_state: { implement: 2 }\n";
    assert_eq!(
        f.load(&ok).unwrap().agent.max_concurrent_by_state["implement"],
        2
    );

    let yaml = BASE.to_string()
        + "agent:\n  max_concurrent: 3\n  max_concurrent_by_state:\n    implement: 4\n    review: 1\n    implment: 1\n";
    assert_eq!(
        f.error_at(&yaml, "agent.max_concurrent_by_state.implement")
            .message,
        "4 is out of range: must be between 1 and 3"
    );
    assert_eq!(
        f.error_at(&yaml, "agent.max_concurrent_by_state.review")
            .message,
        "`review` is not an agent state; only agent states run agents"
    );
    assert_eq!(
        f.error_at(&yaml, "agent.max_concurrent_by_state.implment")
            .message,
        "no state named `implment`; did you mean `implement`?"
    );
}

#[test]
fn bad_durations_name_key_and_value() {
    let f = Fixture::new();
    let yaml = BASE.to_string()
        + "polling:\n  interval: 30\nagent:\n  stall_timeout: soon\n  kill_grace: 0s\n";
    let e = f.error_at(&yaml, "polling.interval");
    assert!(
        e.message.starts_with("invalid duration `30`: "),
        "{}",
        e.message
    );
    assert!(
        e.message.ends_with("(write e.g. `30s`, `5m`, `1h30m`)"),
        "{}",
        e.message
    );
    let e = f.error_at(&yaml, "agent.stall_timeout");
    assert!(
        e.message.starts_with("invalid duration `soon`"),
        "{}",
        e.message
    );
    assert_eq!(
        f.error_at(&yaml, "agent.kill_grace").message,
        "duration `0s` must be greater than zero"
    );
    let yaml = BASE.to_string() + "polling:\n  interval: 500ms\n";
    assert_eq!(
        f.error_at(&yaml, "polling.interval").message,
        "must be at least 1s (got 500ms)"
    );
}

#[test]
fn empty_or_unset_secret() {
    let f = Fixture::new();
    let yaml = with("$DEMO_TOKEN", "$EMPTY_TOKEN");
    assert_eq!(
        f.error_at(&yaml, "runners.demo.env.TOKEN").message,
        "missing secret: environment variable `EMPTY_TOKEN` is empty"
    );
    let yaml = with("$DEMO_TOKEN", "\"${KARAJAN_TEST_UNSET_VAR}\"");
    assert_eq!(
        f.error_at(&yaml, "runners.demo.env.TOKEN").message,
        "missing secret: environment variable `KARAJAN_TEST_UNSET_VAR` is not set"
    );
    let yaml = with("$DEMO_TOKEN", "''");
    assert_eq!(
        f.error_at(&yaml, "runners.demo.env.TOKEN").message,
        "missing secret: the value is empty"
    );
}

#[test]
fn paths_expand_tilde_and_vars() {
    let f = Fixture::new();
    let yaml = with("  dir: ./tickets\n", "  dir: ~/tickets\n")
        .replace("  repo: ./repo\n", "  repo: git@github.com:o/r.git\n");
    let wf = f.load(&yaml).unwrap();
    let Some(t) = wf
        .tracker
        .get::<crate::tracker::local::config::LocalTrackerConfig>()
    else {
        panic!("expected a local tracker")
    };
    assert_eq!(t.dir, PathBuf::from("/home/ada/tickets"));
    assert_eq!(wf.workspace.repo, "git@github.com:o/r.git");
    let yaml = with("  dir: ./tickets\n", "  dir: $NO_SUCH_DIR_VAR/t\n");
    assert_eq!(
        f.error_at(&yaml, "tracker.dir").message,
        "cannot expand `$NO_SUCH_DIR_VAR/t`: environment variable `NO_SUCH_DIR_VAR` is not set"
    );
}

#[test]
fn column_rules() {
    let f = Fixture::new();
    let cols = "columns:\n  terminal: [Canceled]\n";
    // An agent state in the todo column.
    let yaml = with("    next: review\n", "    next: review\n    column: Todo\n") + cols;
    assert_eq!(
        f.error_at(&yaml, "states.implement.column").message,
        "column `Todo` is the todo column (`columns.todo`): tickets wait there to be picked up, no state may live in it"
    );
    // A gate in a terminal column.
    let yaml = with(
        "    rework: implement\n",
        "    rework: implement\n    column: Canceled\n",
    ) + cols;
    assert_eq!(
        f.error_at(&yaml, "states.review.column").message,
        "column `Canceled` is a terminal column; a gate state cannot live in it"
    );
    // A terminal state in a non-terminal column.
    let yaml = with(
        "  done:\n    kind: terminal\n",
        "  done:\n    kind: terminal\n    column: Shipped\n",
    ) + cols;
    assert_eq!(
        f.error_at(&yaml, "states.done.column").message,
        "terminal state column `Shipped` must be `columns.done` (`Done`) or listed in `columns.terminal`"
    );
    // Listed terminal columns are fine for terminal states.
    let yaml = with(
        "  done:\n    kind: terminal\n",
        "  done:\n    kind: terminal\n    column: Canceled\n",
    ) + cols;
    assert!(f.load(&yaml).is_ok());
    // A default column that breaks a rule is reported at the state, naming the default.
    let yaml = BASE.to_string() + "columns:\n  active: Todo\n";
    assert_eq!(
        f.error_at(&yaml, "states.implement").message,
        "column `Todo` (the default, from `columns.active`) is the todo column (`columns.todo`): tickets wait there to be picked up, no state may live in it"
    );
}

#[test]
fn type_errors_name_the_key() {
    let f = Fixture::new();
    let yaml = BASE.to_string() + "agent:\n  max_turns: many\n";
    let e = f.error_at(&yaml, "agent.max_turns");
    assert_eq!(
        e.message,
        "invalid type: string \"many\", expected an integer"
    );
    assert_eq!(e.line, Some(24));
}

#[test]
fn invalid_yaml_reports_the_line() {
    let f = Fixture::new();
    let errs = f.errors("tracker:\n  kind: local\n  dir: [unclosed\n");
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].message.starts_with("invalid YAML: "),
        "{}",
        errs[0].message
    );
    assert!(errs[0].line.is_some(), "{:?}", errs[0]);
    // The position is reported as the line, not repeated in the message.
    assert!(
        !errs[0].message.contains(" at line "),
        "{}",
        errs[0].message
    );
    assert_eq!(f.errors("")[0].message, "the workflow file is empty");
}

#[test]
fn branch_template_must_compile() {
    let f = Fixture::new();
    let yaml = with(
        "  repo: ./repo\n",
        "  repo: ./repo\n  branch: \"k/{{ issue.identifier\"\n",
    );
    let e = f.error_at(&yaml, "workspace.branch");
    assert!(
        e.message.starts_with("invalid template: workspace.branch"),
        "{}",
        e.message
    );
}

#[test]
fn several_errors_are_reported_at_once() {
    let f = Fixture::new();
    let yaml = with("    next: review\n", "    next: reviw\n")
        .replace("    promt", "")
        .replace("    kind: command\n", "    kind: codx\n")
        + "polling:\n  interval: fast\nagent:\n  max_attempts: 0\nentry: nowhere\n";
    let err = f.load(&yaml).unwrap_err();
    let keys: Vec<&str> = err.iter().map(|e| e.key.as_str()).collect();
    let lines: Vec<usize> = err.iter().filter_map(|e| e.line).collect();
    assert!(lines.is_sorted(), "errors in file order: {lines:?}");
    for k in [
        "states.implement.next",
        "runners.demo.kind",
        "polling.interval",
        "agent.max_attempts",
        "entry",
    ] {
        assert!(keys.contains(&k), "missing {k} in {keys:?}");
    }
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("{} problems in the workflow:\n  - ", err.len())),
        "{shown}"
    );
    assert!(
        shown.contains("states.implement.next: no state named `reviw`"),
        "{shown}"
    );
    assert!(
        shown.contains("runners.demo.kind: unknown runner kind `codx`"),
        "{shown}"
    );
}

#[test]
fn digest_covers_workflow_and_prompts() {
    let f = Fixture::new();
    let a = f.load(BASE).unwrap().digest;
    assert_eq!(a, f.load(BASE).unwrap().digest);
    f.write("prompts/implement.md", "Do it differently.\n");
    let b = f.load(BASE).unwrap().digest;
    assert_ne!(a, b);
    let c = f.load(&(BASE.to_string() + "# comment\n")).unwrap().digest;
    assert_ne!(b, c);
}

#[test]
fn missing_file_is_an_error() {
    let err = load(Path::new("/definitely/not/here/workflow.yaml")).unwrap_err();
    assert_eq!(err.len(), 1);
    assert!(
        err.to_string().contains("cannot read the workflow file"),
        "{err}"
    );
}

#[test]
fn shipped_example_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflow.example.yaml");
    let wf = load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(wf.machine.entry, "implement");
    assert_eq!(wf.machine.columns.terminal, ["Canceled"]);
    assert_eq!(
        wf.states.keys().collect::<Vec<_>>(),
        ["implement", "self_review", "review", "done", "canceled"]
    );
    assert!(wf.prompts.global.is_some());
    let a = wf.agent_state("self_review").unwrap();
    assert_eq!(a.session, SessionMode::Inherit);
    let beside = path.parent().unwrap().join("agent.sh");
    assert_eq!(a.runner.command, [beside.display().to_string()]);
    assert_eq!(wf.agent.max_concurrent_by_state["implement"], 2);
    let i = wf.agent_state("implement").unwrap();
    assert_eq!(i.runner.env["KARAJAN_STAGE"].expose(), "implement");
    assert_eq!(i.hooks.after_run.as_deref(), Some("git status --short"));
}

#[test]
fn usage_limit_pause_defaults_to_15m_and_rejects_bad_values() {
    let f = Fixture::new();
    let wf = f.load(BASE).unwrap();
    assert_eq!(wf.agent.usage_limit_pause, Duration::from_secs(15 * 60));
    let wf = f
        .load(&(BASE.to_string() + "agent:\n  usage_limit_pause: 2s\n"))
        .unwrap();
    assert_eq!(wf.agent.usage_limit_pause, Duration::from_secs(2));
    for (value, message) in [
        ("0s", "duration `0s` must be greater than zero"),
        ("8d", "8days is longer than the longest plan window (7d)"),
    ] {
        let yaml = BASE.to_string() + &format!("agent:\n  usage_limit_pause: {value}\n");
        assert_eq!(
            f.error_at(&yaml, "agent.usage_limit_pause").message,
            message
        );
    }
    let yaml = BASE.to_string() + "agent:\n  usage_limit_pause: later\n";
    let e = f.error_at(&yaml, "agent.usage_limit_pause");
    assert!(
        e.message.starts_with("invalid duration `later`"),
        "{}",
        e.message
    );
}
