//! Codex against the fake Responses API, over two runs of one thread: the first run
//! records what its turn was served; the second (`codex exec resume`, which reports the
//! whole thread's usage) records only its own turn's share and keeps the thread total.
//! Costs are the price table's for the tokens served. A run karajan stops before
//! Codex's only usage report has unknown usage, not zero.

use std::path::Path;

use karajan::agent::settings::price_for;
use karajan::config::RunnerKind;
use karajan::domain::TokenUsage;
use serde_json::json;

use super::openai::{OpenAi, TURNS, Usage};
use super::{
    FakeApi, RESUMED, STOPPED, assert_cost, assert_resume_fell_back,
    assert_stopped_with_unknown_usage, finished, once, once_exiting, real_cli, recorded, scratch,
    scratch_with,
};

const MODEL: &str = "gpt-5-codex";

/// karajan's terms: `input` is the uncached input.
fn tokens(u: &Usage) -> TokenUsage {
    TokenUsage {
        input: u.input - u.cached,
        output: u.output,
        cache_read: u.cached,
        cache_write: 0,
    }
}

/// The `runners:` block: the real CLI, with a `CODEX_HOME` under `home` whose model
/// provider is `api`.
fn runner(cli: &Path, api: &FakeApi, home: &Path) -> String {
    let codex_home = home.join("codex");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(
        codex_home.join("config.toml"),
        format!(
            r#"model_provider = "fake"

[model_providers.fake]
name = "fake"
base_url = "{}/v1"
env_key = "FAKE_OPENAI_API_KEY"
wire_api = "responses"
"#,
            api.url()
        ),
    )
    .unwrap();
    format!(
        r#"  agent:
    kind: codex
    command: ["{cli}"]
    model: {MODEL}
    sandbox: bypass
    env:
      CODEX_HOME: "{codex_home}"
      HOME: "{home}"
      FAKE_OPENAI_API_KEY: test-key"#,
        cli = cli.display(),
        codex_home = codex_home.display(),
        home = home.display(),
    )
}

#[test]
fn real_codex_records_each_runs_own_share_of_the_thread() {
    let Some(cli) = real_cli("KARAJAN_REAL_CODEX") else {
        return;
    };
    let api = FakeApi::start(OpenAi::default());
    let home = tempfile::tempdir().unwrap();
    let s = scratch(&runner(&cli, &api, home.path()), RESUMED);
    once(&s, &api);
    once(&s, &api);

    let responses = api.served("/v1/responses");
    assert_eq!(responses.len(), 2, "requests:\n{}", api.report());
    assert!(responses.iter().all(|r| r.body["model"] == json!(MODEL)));

    let runs = finished(&s);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r["status"] == "succeeded"), "{runs:?}");
    let thread = runs[0]["session_id"].as_str().expect("a thread id");
    assert_eq!(
        runs[1]["session_id"],
        json!(thread),
        "the second run resumed"
    );

    let price = price_for(RunnerKind::Codex, Some(MODEL), None).unwrap();
    for (i, run) in runs.iter().enumerate() {
        let served = tokens(&TURNS[i]);
        assert_eq!(recorded(&run["tokens"]), served, "run {}: {run}", i + 1);
        assert_eq!(run["accounting"]["usage"], "reported", "{run}");
        assert_eq!(run["accounting"]["cost"], "priced", "{run}");
        assert_cost(
            &run["cost_usd"],
            price.cost(&served),
            &format!("run {}", i + 1),
        );
    }
    // The thread's total, as Codex reported it on resume, is kept beside the share.
    let mut total = tokens(&TURNS[0]);
    total.add(&tokens(&TURNS[1]));
    assert_eq!(
        recorded(&runs[1]["accounting"]["thread_tokens"]),
        total,
        "{}",
        runs[1]
    );
}

/// The model stalls before `response.completed`; karajan stops the run at the stall
/// timeout. Codex reports usage only in `turn.completed`, so the run's usage is
/// unknown (not 0 tokens and $0), and so is its cost.
#[test]
fn real_codex_stopped_by_karajan_has_unknown_usage() {
    let Some(cli) = real_cli("KARAJAN_REAL_CODEX") else {
        return;
    };
    let api = FakeApi::start(OpenAi::stalling());
    let home = tempfile::tempdir().unwrap();
    let runner = format!(
        "{}\n    stall_timeout: 10s",
        runner(&cli, &api, home.path())
    );
    let s = scratch(&runner, STOPPED);
    once_exiting(&s, &api, 6);

    assert_eq!(api.served("/v1/responses").len(), 1, "{}", api.report());
    assert_stopped_with_unknown_usage(&s, "stalled");
}

/// The CLI lost the session between the two runs (its `sessions` folder was removed): the
/// resumed run falls back to a fresh session, says so (`resume_fallback`), and
/// records that fresh session's usage as it was served, nothing subtracted.
#[test]
fn real_codex_resume_of_a_lost_session_falls_back_and_says_so() {
    let Some(cli) = real_cli("KARAJAN_REAL_CODEX") else {
        return;
    };
    let api = FakeApi::start(OpenAi::default());
    let home = tempfile::tempdir().unwrap();
    let s = scratch(&runner(&cli, &api, home.path()), RESUMED);
    once(&s, &api);
    std::fs::remove_dir_all(home.path().join("codex/sessions")).unwrap();
    once(&s, &api);

    assert_eq!(api.served("/v1/responses").len(), 2, "{}", api.report());
    assert_resume_fell_back(&s, tokens(&TURNS[1]));
}

/// Karajan stops Codex at the turn limit while the model keeps calling tools: each
/// call was served with usage, but Codex reports usage only at the end of the turn, so
/// the run's usage is unknown, and the run counts at its cap for the budgets.
#[test]
fn real_codex_stopped_at_the_turn_limit_counts_at_its_cap() {
    let Some(cli) = real_cli("KARAJAN_REAL_CODEX") else {
        return;
    };
    let api = FakeApi::start(OpenAi::with_tool_calls(10));
    let home = tempfile::tempdir().unwrap();
    let runner = format!("{}\n    max_turns: 2", runner(&cli, &api, home.path()));
    let s = scratch_with(&runner, STOPPED, "budget:\n  per_run_usd: 0.5");
    once_exiting(&s, &api, 6);

    assert!(api.served("/v1/responses").len() >= 2, "{}", api.report());
    let runs = finished(&s);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run["status"], "max_turns", "{run}");
    assert_eq!(run["accounting"]["usage"], "unknown", "{run}");
    assert_eq!(run["accounting"]["counted_at_cap"], true, "{run}");
    assert_cost(&run["cost_usd"], 0.5, "codex run stopped at the turn limit");
}
