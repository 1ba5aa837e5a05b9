//! Gemini CLI against the fake Gemini API, over a fresh run and a resumed one: each run
//! records its own prompt (uncached and cached apart) and its output with the thinking
//! tokens, and is priced by the table. A run karajan stops before Gemini's only usage
//! report has unknown usage, not zero.

use std::path::Path;

use karajan::agent::settings::price_for;
use karajan::config::RunnerKind;
use karajan::domain::TokenUsage;
use serde_json::json;

use super::google::{Google, TURNS, Usage};
use super::{
    FakeApi, RESUMED, STOPPED, assert_cost, assert_resume_fell_back,
    assert_stopped_with_unknown_usage, finished, once, once_exiting, real_cli, recorded, scratch,
};

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

/// The `runners:` block: the real CLI, pointed at `api`, with API-key auth selected in
/// the settings under `home`.
fn runner(cli: &Path, api: &FakeApi, home: &Path) -> String {
    let settings = home.join(".gemini");
    std::fs::create_dir_all(&settings).unwrap();
    std::fs::write(
        settings.join("settings.json"),
        r#"{"security": {"auth": {"selectedType": "gemini-api-key"}}}"#,
    )
    .unwrap();
    format!(
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
        home = home.display(),
    )
}

#[test]
fn real_gemini_records_the_usage_the_api_served() {
    let Some(cli) = real_cli("KARAJAN_REAL_GEMINI") else {
        return;
    };
    let api = FakeApi::start(Google::default());
    let home = tempfile::tempdir().unwrap();
    let s = scratch(&runner(&cli, &api, home.path()), RESUMED);
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

/// The model stalls before the chunk with `usageMetadata`; karajan stops the run at the
/// stall timeout. Gemini CLI reports usage only in its `result`, so the run's usage is
/// unknown (not 0 tokens and $0), and so is its cost.
#[test]
fn real_gemini_stopped_by_karajan_has_unknown_usage() {
    let Some(cli) = real_cli("KARAJAN_REAL_GEMINI") else {
        return;
    };
    let api = FakeApi::start(Google::stalling());
    let home = tempfile::tempdir().unwrap();
    let runner = format!(
        "{}\n    stall_timeout: 10s",
        runner(&cli, &api, home.path())
    );
    let s = scratch(&runner, STOPPED);
    once_exiting(&s, &api, 6);

    assert_eq!(
        api.served(":streamGenerateContent").len(),
        1,
        "{}",
        api.report()
    );
    assert_stopped_with_unknown_usage(&s, "stalled");
}

/// The CLI lost the session between the two runs (its `tmp` folder of chats was removed): the
/// resumed run falls back to a fresh session, says so (`resume_fallback`), and
/// records that fresh session's usage as it was served, nothing subtracted.
#[test]
fn real_gemini_resume_of_a_lost_session_falls_back_and_says_so() {
    let Some(cli) = real_cli("KARAJAN_REAL_GEMINI") else {
        return;
    };
    let api = FakeApi::start(Google::default());
    let home = tempfile::tempdir().unwrap();
    let s = scratch(&runner(&cli, &api, home.path()), RESUMED);
    once(&s, &api);
    std::fs::remove_dir_all(home.path().join(".gemini/tmp")).unwrap();
    once(&s, &api);

    assert_eq!(
        api.served("streamGenerateContent").len(),
        2,
        "{}",
        api.report()
    );
    assert_resume_fell_back(&s, tokens(&TURNS[1]));
}
