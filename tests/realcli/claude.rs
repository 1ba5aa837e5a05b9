//! Claude Code against the fake Anthropic API, over a fresh run and a resumed one: each
//! run records the usage its own API call was served (Claude Code reports per
//! invocation, so nothing is subtracted on resume), and its cost (Claude Code's own
//! `total_cost_usd`) agrees with the price table. A run karajan stops (stalled) keeps
//! the usage its stream had reported, and one Claude Code stops at its budget has the
//! usage of all its API calls.

use std::path::Path;

use karajan::agent::settings::price_for;
use karajan::config::RunnerKind;
use karajan::domain::TokenUsage;
use serde_json::json;

use super::anthropic::{Anthropic, TURNS, Usage};
use super::{
    FakeApi, RESUMED, STOPPED, assert_cost, assert_resume_fell_back, finished, once, once_exiting,
    real_cli, recorded, scratch, scratch_with,
};

const MODEL: &str = "claude-sonnet-4-5";

/// karajan's terms for what was served.
fn tokens(u: &Usage) -> TokenUsage {
    TokenUsage {
        input: u.input,
        output: u.output,
        cache_read: u.cache_read,
        cache_write: u.cache_creation,
    }
}

/// The `runners:` block: the real CLI, pointed at `api`, its state under `home`.
fn runner(cli: &Path, api: &FakeApi, home: &Path) -> String {
    format!(
        r#"  agent:
    kind: claude
    command: ["{cli}"]
    model: {MODEL}
    permission_mode: skip
    env:
      ANTHROPIC_BASE_URL: "{url}"
      ANTHROPIC_API_KEY: test-key
      CLAUDE_CONFIG_DIR: "{home}/claude"
      HOME: "{home}"
      IS_SANDBOX: "1"
      DISABLE_TELEMETRY: "1"
      DISABLE_AUTOUPDATER: "1"
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1""#,
        cli = cli.display(),
        url = api.url(),
        home = home.display(),
    )
}

#[test]
fn real_claude_records_the_usage_the_api_served() {
    let Some(cli) = real_cli("KARAJAN_REAL_CLAUDE") else {
        return;
    };
    let api = FakeApi::start(Anthropic::default());
    let home = tempfile::tempdir().unwrap();
    let s = scratch(&runner(&cli, &api, home.path()), RESUMED);
    once(&s, &api);
    once(&s, &api);

    let messages = api.served("/v1/messages");
    assert_eq!(messages.len(), 2, "requests:\n{}", api.report());
    assert!(messages.iter().all(|m| m.body["stream"] == json!(true)));
    assert!(messages.iter().all(|m| m.body["model"] == json!(MODEL)));

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

    let price = price_for(RunnerKind::Claude, Some(MODEL), None).unwrap();
    for (i, run) in runs.iter().enumerate() {
        let served = tokens(&TURNS[i]);
        assert_eq!(recorded(&run["tokens"]), served, "run {}: {run}", i + 1);
        assert_eq!(run["turns"], 1, "{run}");
        // Claude Code prices the run itself; its figure wins, and agrees with the table.
        assert_eq!(run["accounting"]["usage"], "reported", "{run}");
        assert_eq!(run["accounting"]["cost"], "reported", "{run}");
        assert_cost(
            &run["cost_usd"],
            price.cost(&served),
            &format!("run {}", i + 1),
        );
    }
}

/// The model stalls after its text block; karajan stops the run at the stall timeout.
/// Claude Code had printed the assistant message with the usage of `message_start`
/// (the full input, and the output so far), so the run keeps it, marked partial.
#[test]
fn real_claude_stopped_by_karajan_keeps_the_usage_reported_so_far() {
    let Some(cli) = real_cli("KARAJAN_REAL_CLAUDE") else {
        return;
    };
    let api = FakeApi::start(Anthropic::stalling());
    let home = tempfile::tempdir().unwrap();
    let runner = format!(
        "{}\n    stall_timeout: 10s",
        runner(&cli, &api, home.path())
    );
    let s = scratch(&runner, STOPPED);
    once_exiting(&s, &api, 6);

    assert_eq!(api.served("/v1/messages").len(), 1, "{}", api.report());
    let runs = finished(&s);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run["status"], "stalled", "{run}");
    // `message_start` carried the output count so far: 1.
    let so_far = TokenUsage {
        output: 1,
        ..tokens(&TURNS[0])
    };
    assert_eq!(recorded(&run["tokens"]), so_far, "{run}");
    assert_eq!(run["accounting"]["usage"], "partial", "{run}");
    assert_eq!(run["accounting"]["cost"], "priced", "{run}");
    let price = price_for(RunnerKind::Claude, Some(MODEL), None).unwrap();
    assert_cost(&run["cost_usd"], price.cost(&so_far), "stalled claude run");
}

/// Claude Code's own budget stop (`--max-budget-usd`, from `budget.per_run_usd`) after
/// two API calls: `result.usage` covers only the first, `modelUsage` both; the run
/// records both calls and Claude Code's cost of them.
#[test]
fn real_claude_budget_stop_records_every_api_call() {
    let Some(cli) = real_cli("KARAJAN_REAL_CLAUDE") else {
        return;
    };
    let api = FakeApi::start(Anthropic::with_tool_calls(3));
    let home = tempfile::tempdir().unwrap();
    let price = price_for(RunnerKind::Claude, Some(MODEL), None).unwrap();
    let first = price.cost(&tokens(&TURNS[0]));
    let both = first + price.cost(&tokens(&TURNS[1]));
    // A cap the first call stays under and the second goes over.
    let cap = (first + both) / 2.0;
    let budget = format!("budget:\n  per_run_usd: {cap:.6}");
    let s = scratch_with(&runner(&cli, &api, home.path()), STOPPED, &budget);
    once_exiting(&s, &api, 6);

    assert_eq!(api.served("/v1/messages").len(), 2, "{}", api.report());
    let runs = finished(&s);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run["status"], "budget_exceeded", "{run}");
    let mut served = tokens(&TURNS[0]);
    served.add(&tokens(&TURNS[1]));
    assert_eq!(recorded(&run["tokens"]), served, "{run}");
    assert_eq!(run["turns"], 2, "{run}");
    assert_eq!(run["accounting"]["cost"], "reported", "{run}");
    assert_cost(&run["cost_usd"], both, "budget-stopped claude run");
}

/// The CLI lost the session between the two runs (its `projects` folder was removed): the
/// resumed run falls back to a fresh session, says so (`resume_fallback`), and
/// records that fresh session's usage as it was served, nothing subtracted.
#[test]
fn real_claude_resume_of_a_lost_session_falls_back_and_says_so() {
    let Some(cli) = real_cli("KARAJAN_REAL_CLAUDE") else {
        return;
    };
    let api = FakeApi::start(Anthropic::default());
    let home = tempfile::tempdir().unwrap();
    let s = scratch(&runner(&cli, &api, home.path()), RESUMED);
    once(&s, &api);
    std::fs::remove_dir_all(home.path().join("claude/projects")).unwrap();
    once(&s, &api);

    assert_eq!(api.served("/v1/messages").len(), 2, "{}", api.report());
    assert_resume_fell_back(&s, tokens(&TURNS[1]));
}
