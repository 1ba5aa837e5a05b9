//! Claude Code against the fake Anthropic API: the run records the usage served, and
//! its cost (Claude Code's own `total_cost_usd`) agrees with the price table.

use karajan::agent::settings::price_for;
use karajan::config::RunnerKind;
use karajan::domain::TokenUsage;
use serde_json::json;

use super::anthropic::{self, Anthropic};
use super::{FakeApi, assert_cost, finished, n, once, real_cli, scratch};

const MODEL: &str = "claude-sonnet-4-5";

#[test]
fn real_claude_records_the_usage_the_api_served() {
    let Some(cli) = real_cli("KARAJAN_REAL_CLAUDE") else {
        return;
    };
    let api = FakeApi::start(Anthropic);
    let home = tempfile::tempdir().unwrap();
    let runner = format!(
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
        home = home.path().display(),
    );
    let states = r#"  implement:
    kind: agent
    runner: agent
    prompt: prompts/implement.md
    next: review"#;
    let s = scratch(&runner, states);
    once(&s, &api);

    let messages = api.served("/v1/messages");
    assert_eq!(messages.len(), 1, "requests:\n{}", api.report());
    assert_eq!(messages[0].body["stream"], json!(true));
    assert_eq!(messages[0].body["model"], json!(MODEL));

    let runs = finished(&s);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run["status"], "succeeded", "{run}");
    let served = TokenUsage {
        input: anthropic::INPUT,
        output: anthropic::OUTPUT,
        cache_read: anthropic::CACHE_READ,
        cache_write: anthropic::CACHE_CREATION,
    };
    let t = &run["tokens"];
    let recorded = TokenUsage {
        input: n(t, "input"),
        output: n(t, "output"),
        cache_read: n(t, "cache_read"),
        cache_write: n(t, "cache_write"),
    };
    assert_eq!(recorded, served, "{run}");
    assert_eq!(run["turns"], 1, "{run}");
    assert!(run["session_id"].as_str().is_some_and(|id| id.len() == 36), "{run}");
    // Claude Code prices the run itself; its figure wins, and agrees with the table.
    assert_eq!(run["accounting"]["cost"], "reported", "{run}");
    assert_eq!(run["accounting"]["usage"], "reported", "{run}");
    let table = price_for(RunnerKind::Claude, Some(MODEL), None)
        .unwrap()
        .cost(&served);
    assert_cost(&run["cost_usd"], table, "claude run");
}
