//! Codex against the fake Responses API, over two runs of one thread: the first run
//! records what its turn was served; the second (`codex exec resume`, which reports the
//! whole thread's usage) records only its own turn's share and keeps the thread total.
//! Costs are the price table's for the tokens served.

use karajan::agent::settings::price_for;
use karajan::config::RunnerKind;
use karajan::domain::TokenUsage;
use serde_json::json;

use super::openai::{OpenAi, TURNS, Usage};
use super::{FakeApi, RESUMED, assert_cost, finished, once, real_cli, recorded, scratch};

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

#[test]
fn real_codex_records_each_runs_own_share_of_the_thread() {
    let Some(cli) = real_cli("KARAJAN_REAL_CODEX") else {
        return;
    };
    let api = FakeApi::start(OpenAi::default());
    let home = tempfile::tempdir().unwrap();
    let codex_home = home.path().join("codex");
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
    let runner = format!(
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
        home = home.path().display(),
    );
    let s = scratch(&runner, RESUMED);
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
