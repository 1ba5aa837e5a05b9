//! Gemini CLI against the fake Gemini API: the run records the prompt (uncached and
//! cached apart) and the output with its thinking tokens, and is priced by the table.

use karajan::agent::settings::price_for;
use karajan::config::RunnerKind;
use karajan::domain::TokenUsage;

use super::google::{self, Google};
use super::{FakeApi, assert_cost, finished, n, once, real_cli, scratch};

const MODEL: &str = "gemini-2.5-pro";

#[test]
fn real_gemini_records_the_usage_the_api_served() {
    let Some(cli) = real_cli("KARAJAN_REAL_GEMINI") else {
        return;
    };
    let api = FakeApi::start(Google);
    let home = tempfile::tempdir().unwrap();
    let settings = home.path().join(".gemini");
    std::fs::create_dir_all(&settings).unwrap();
    std::fs::write(
        settings.join("settings.json"),
        r#"{"security": {"auth": {"selectedType": "gemini-api-key"}}}"#,
    )
    .unwrap();
    let runner = format!(
        r#"  agent:
    kind: gemini
    command: ["{cli}"]
    model: {MODEL}
    approval_mode: yolo
    env:
      GOOGLE_GEMINI_BASE_URL: "{url}"
      GEMINI_API_KEY: test-key
      GEMINI_CLI_HOME: "{home}"
      GEMINI_CLI_TRUST_WORKSPACE: "true"
      HOME: "{home}""#,
        cli = cli.display(),
        url = api.url(),
        home = home.path().display(),
    );
    let states = r#"  implement:
    kind: agent
    runner: agent
    prompt: prompts/implement.md
    next: review"#;
    let s = scratch(&runner, states);
    once(&s, &api);

    let calls = api.served(":streamGenerateContent");
    assert_eq!(calls.len(), 1, "requests:\n{}", api.report());
    assert!(calls[0].uri.contains(MODEL), "{}", calls[0].uri);

    let runs = finished(&s);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run["status"], "succeeded", "{run}");
    let served = TokenUsage {
        input: google::PROMPT - google::CACHED,
        output: google::CANDIDATES + google::THOUGHTS,
        cache_read: google::CACHED,
        cache_write: 0,
    };
    let t = &run["tokens"];
    let recorded = TokenUsage {
        input: n(t, "input"),
        output: n(t, "output"),
        cache_read: n(t, "cache_read"),
        cache_write: n(t, "cache_write"),
    };
    assert_eq!(recorded, served, "{run}");
    assert_eq!(run["accounting"]["usage"], "reported", "{run}");
    assert_eq!(run["accounting"]["cost"], "priced", "{run}");
    let price = price_for(RunnerKind::Gemini, Some(MODEL), None).unwrap();
    assert_cost(&run["cost_usd"], price.cost(&served), "gemini run");
}
