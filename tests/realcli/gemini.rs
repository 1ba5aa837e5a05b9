//! Gemini CLI against the fake Gemini API, over a fresh run and a resumed one: each run
//! records its own prompt (uncached and cached apart) and its output with the thinking
//! tokens, and is priced by the table.

use karajan::agent::settings::price_for;
use karajan::config::RunnerKind;
use karajan::domain::TokenUsage;
use serde_json::json;

use super::google::{Google, TURNS, Usage};
use super::{FakeApi, RESUMED, assert_cost, finished, once, real_cli, recorded, scratch};

const MODEL: &str = "gemini-2.5-pro";

/// karajan's terms for what was served: thinking is billed as output.
fn tokens(u: &Usage) -> TokenUsage {
    TokenUsage {
        input: u.prompt - u.cached,
        output: u.candidates + u.thoughts,
        cache_read: u.cached,
        cache_write: 0,
    }
}

#[test]
fn real_gemini_records_the_usage_the_api_served() {
    let Some(cli) = real_cli("KARAJAN_REAL_GEMINI") else {
        return;
    };
    let api = FakeApi::start(Google::default());
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
    let s = scratch(&runner, RESUMED);
    once(&s, &api);
    once(&s, &api);

    let calls = api.served(":streamGenerateContent");
    assert_eq!(calls.len(), 2, "requests:\n{}", api.report());
    assert!(
        calls.iter().all(|c| c.uri.contains(MODEL)),
        "{}",
        api.report()
    );

    let runs = finished(&s);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r["status"] == "succeeded"), "{runs:?}");
    let session = runs[0]["session_id"].as_str().expect("a session id");
    assert_eq!(
        runs[1]["session_id"],
        json!(session),
        "the second run resumed"
    );
    assert!(runs[1].get("resume_fallback").is_none(), "{}", runs[1]);

    let price = price_for(RunnerKind::Gemini, Some(MODEL), None).unwrap();
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
}
