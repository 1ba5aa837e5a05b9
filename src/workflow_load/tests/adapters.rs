//! Loading the settings that belong to adapters: agent CLI runners, the Linear and
//! GitHub trackers, and reviewer independence.

use super::*;

#[test]
fn agent_cli_runners_and_their_settings() {
    use crate::agent::settings::{ClaudeMode, ClaudePermission, CodexSandbox};
    let f = Fixture::new();
    let yaml = with(
        "    kind: command\n",
        "    kind: claude\n    model: claude-sonnet-4-5\n    permission_mode: acceptEdits\n    \
         allowed_tools: [Edit, \"Bash(git *)\"]\n    append_system_prompt: Be brief.\n    \
         extra_args: [--verbose]\n    family: anthropic\n    price: { input: 1, output: 2 }\n",
    );
    let wf = f.load(&yaml).unwrap();
    let r = &wf.runners["demo"];
    assert_eq!(r.kind, RunnerKind::Claude);
    assert_eq!(
        r.cli.permission_mode,
        Some(ClaudePermission::Mode(ClaudeMode::AcceptEdits))
    );
    assert_eq!(r.cli.allowed_tools, ["Edit", "Bash(git *)"]);
    assert_eq!(r.cli.family.as_deref(), Some("anthropic"));
    let price = r.cli.price.expect("price");
    assert_eq!(
        (price.input, price.output, price.cache_read),
        (1.0, 2.0, 0.0)
    );

    let yaml = with(
        "    kind: command\n",
        "    kind: codex\n    sandbox: workspace-write\n",
    );
    let wf = f.load(&yaml).unwrap();
    assert_eq!(
        wf.runners["demo"].cli.sandbox,
        Some(CodexSandbox::WorkspaceWrite)
    );

    // Bad choices, a key of another CLI, and a Claude model on Codex: all reported.
    let yaml = with(
        "    kind: command\n",
        "    kind: codex\n    model: claude-opus-4-1\n    sandbox: full-auto\n    \
         permission_mode: skip\n",
    );
    let errors = f.errors(&yaml);
    let at = |k: &str| {
        errors
            .iter()
            .find(|e| e.key == k)
            .map(|e| e.message.clone())
            .unwrap_or_else(|| panic!("no error at {k}: {errors:#?}"))
    };
    assert!(at("runners.demo.sandbox").contains("full-auto"));
    assert!(at("runners.demo.permission_mode").contains("`claude` runners only"));
    assert!(at("runners.demo.model").contains("Anthropic"));
}

#[test]
fn linear_tracker_is_loaded_with_its_key_from_the_environment() {
    let f = Fixture::new();
    let yaml = with(
        "  kind: local\n  dir: ./tickets\n",
        "  kind: linear\n  api_key: $DEMO_TOKEN\n  project: abc123\n  terminal_sweep: 2m\n",
    );
    let wf = f.load(&yaml).unwrap();
    let Some(c) = wf
        .tracker
        .get::<crate::tracker::linear::config::LinearConfig>()
    else {
        panic!("a linear tracker");
    };
    assert_eq!(c.project.as_deref(), Some("abc123"));
    assert_eq!(c.terminal_sweep, std::time::Duration::from_secs(120));
    assert_eq!(c.api_key.expose(), "tok-123");
    assert!(!c.pass_api_key_to_agents);
    assert!(
        !wf.runners["demo"].env.contains_key("LINEAR_API_KEY"),
        "agents do not get the key without the opt-in"
    );
    let opted = yaml.replace(
        "  project: abc123\n",
        "  project: abc123\n  pass_api_key_to_agents: true\n",
    );
    let wf = f.load(&opted).unwrap();
    assert_eq!(wf.runners["demo"].env["LINEAR_API_KEY"].expose(), "tok-123");
    for (name, state) in &wf.states {
        if let StateConfig::Agent(a) = state {
            assert_eq!(a.runner.env["LINEAR_API_KEY"].expose(), "tok-123", "{name}");
        }
    }
}

#[test]
fn linear_tracker_problems_are_reported_at_their_keys() {
    let f = Fixture::new();
    let yaml = with(
        "  kind: local\n  dir: ./tickets\n",
        "  kind: linear\n  api_key: lin_api_literal\n",
    );
    let key = f.error_at(&yaml, "tracker.api_key");
    assert!(
        key.message.contains("environment variable"),
        "{}",
        key.message
    );
    assert!(!key.message.contains("lin_api_literal"));
    let scope = f.error_at(&yaml, "tracker");
    assert!(scope.message.contains("`project`"), "{}", scope.message);
}

#[test]
fn github_tracker_section_is_validated_by_its_adapter() {
    let f = Fixture::new();
    let ok = with(
        "  kind: local\n  dir: ./tickets\n",
        "  kind: github\n  repo: acme/app\n  mode: labels\n  token: literal-token\n",
    );
    let wf = f.load(&ok).expect("a github tracker loads");
    let Some(gh) = wf.tracker.get::<crate::tracker::github::GithubConfig>() else {
        panic!("expected github")
    };
    assert_eq!(gh.repo_full_name(), "acme/app");
    // A key of another tracker kind is refused, and a bad repo is named.
    let bad = with(
        "  kind: local\n  dir: ./tickets\n",
        "  kind: github\n  repo: nope\n  dir: ./tickets\n",
    );
    let errors = f.load(&bad).unwrap_err().to_string();
    assert!(errors.contains("dir"), "{errors}");
}

#[test]
fn a_local_tracker_refuses_the_keys_of_other_tracker_kinds() {
    let f = Fixture::new();
    let bad = with(
        "  kind: local\n  dir: ./tickets\n",
        "  kind: local\n  dir: ./tickets\n  repo: acme/app\n",
    );
    let e = f.error_at(&bad, "tracker");
    assert!(e.message.contains("unknown field `repo`"), "{}", e.message);
}

#[test]
fn the_github_token_reaches_agents_only_with_the_opt_in() {
    let f = Fixture::new();
    let section = "  kind: github\n  repo: acme/app\n  mode: labels\n  token: ghp-literal\n";
    let env_of = |yaml: &str| {
        let wf = f.load(yaml).expect("loads");
        wf.runners["demo"].env.clone()
    };
    let closed = env_of(&with("  kind: local\n  dir: ./tickets\n", section));
    assert!(!closed.contains_key("GITHUB_TOKEN"));
    let open = env_of(&with(
        "  kind: local\n  dir: ./tickets\n",
        &format!("{section}  pass_token_to_agents: true\n"),
    ));
    assert_eq!(open["GITHUB_TOKEN"].expose(), "ghp-literal");
}

/// BASE plus a second agent state `check` (after `implement`) on runner `other`, which
/// is declared with `other_runner` and whose state carries `extra`.
fn with_reviewer(other_runner: &str, extra: &str) -> String {
    with("    next: review\n", "    next: check\n")
        .replace(
            "states:\n",
            &format!("  other:\n{other_runner}states:\n  check:\n    kind: agent\n    runner: other\n    prompt: prompts/implement.md\n    next: review\n{extra}"),
        )
}

#[test]
fn independent_of_requires_another_family() {
    let f = Fixture::new();
    let claude = "    kind: claude\n";
    let codex = "    kind: codex\n";
    let indep = "    independent_of: implement\n";
    // implement runs `demo` (command); make it Claude for these cases.
    let claude_impl = |yaml: String| yaml.replacen("    kind: command\n", claude, 1);

    // Claude implements, Codex reviews: fine.
    f.load(&claude_impl(with_reviewer(codex, indep))).unwrap();
    // Claude and Claude: the same CLI.
    let e = f.error_at(
        &claude_impl(with_reviewer(claude, indep)),
        "states.check.independent_of",
    );
    assert!(
        e.message
            .contains("both runners are of the `claude` family"),
        "{}",
        e.message
    );
    // Same CLI even with different `family` keys.
    let e = f.error_at(
        &claude_impl(with_reviewer(
            &format!("{claude}    family: other\n"),
            indep,
        )),
        "states.check.independent_of",
    );
    assert!(
        e.message.contains("both runners are `claude` CLIs"),
        "{}",
        e.message
    );
    // Different CLIs declared to be one family.
    let e = f.error_at(
        &claude_impl(with_reviewer(
            &format!("{codex}    family: claude\n"),
            indep,
        )),
        "states.check.independent_of",
    );
    assert!(e.message.contains("`claude` family"), "{}", e.message);
    // Two `command` runners are told apart by `family` only.
    let cmd = "    kind: command\n    command: ./review.sh\n";
    let e = f.error_at(&with_reviewer(cmd, indep), "states.check.independent_of");
    assert!(e.message.contains("`command` family"), "{}", e.message);
    f.load(&with_reviewer(&format!("{cmd}    family: openai\n"), indep))
        .unwrap();
    // Unknown, gate, and self targets.
    let e = f.error_at(
        &with_reviewer(codex, "    independent_of: implemnt\n"),
        "states.check.independent_of",
    );
    assert!(
        e.message.contains("did you mean `implement`"),
        "{}",
        e.message
    );
    let e = f.error_at(
        &with_reviewer(codex, "    independent_of: review\n"),
        "states.check.independent_of",
    );
    assert!(e.message.contains("not an agent state"), "{}", e.message);
    let e = f.error_at(
        &with_reviewer(codex, "    independent_of: check\n"),
        "states.check.independent_of",
    );
    assert!(e.message.contains("itself"), "{}", e.message);
}

#[test]
fn a_same_family_reviewer_needs_an_explicit_opt_out() {
    let f = Fixture::new();
    let claude = "    kind: claude\n";
    let claude_impl = |yaml: String| yaml.replacen("    kind: command\n", claude, 1);
    let indep = "    independent_of: implement\n";
    let e = f.error_at(
        &claude_impl(with_reviewer(claude, indep)),
        "states.check.independent_of",
    );
    assert!(e.message.contains("allow_same_family"), "{}", e.message);
    f.load(&claude_impl(with_reviewer(
        claude,
        &format!("{indep}    allow_same_family: true\n"),
    )))
    .unwrap();
    // `false` is the default, said out loud.
    f.error_at(
        &claude_impl(with_reviewer(
            claude,
            &format!("{indep}    allow_same_family: false\n"),
        )),
        "states.check.independent_of",
    );
    // Without a state to be independent of, the opt-out means nothing.
    let e = f.error_at(
        &with_reviewer(claude, "    allow_same_family: true\n"),
        "states.check.allow_same_family",
    );
    assert!(e.message.contains("independent_of"), "{}", e.message);
}
