//! End to end with the real binary: one state runs Claude Code, the next runs Codex
//! (both the fakes), and the store's totals add up what each CLI reported.

use karajan::agent::settings::price_for;
use karajan::config::RunnerKind;
use karajan::domain::TokenUsage;

use super::QUICKSTART_HEAD;
use super::fake;
use crate::e2e::support::{Scratch, events};

fn workflow(claude: &str, codex: &str) -> String {
    format!(
        r#"{QUICKSTART_HEAD}runners:
  implementer:
    kind: claude
    command: ["{claude}"]
  reviewer:
    kind: codex
    command: ["{codex}"]
    model: gpt-5-codex
agent:
  max_concurrent: 3
  max_retry_backoff: 1m
  max_attempts: 1
  stall_timeout: 1m
  turn_timeout: 5m
  max_turns: 10
  kill_grace: 2s
prompts:
  global: prompts/global.md
states:
  implement:
    kind: agent
    runner: implementer
    prompt: prompts/implement.md
    next: check
  check:
    kind: agent
    runner: reviewer
    prompt: prompts/finalize.md
    next: review
  review:
    kind: gate
    approve: done
    rework: implement
    max_rework: 2
  done:
    kind: terminal
  canceled:
    kind: terminal
    column: Canceled
"#
    )
}

#[test]
fn claude_then_codex_with_token_and_cost_totals_in_the_store() {
    let s = Scratch::quickstart();
    let claude = fake(RunnerKind::Claude).display().to_string();
    let codex = fake(RunnerKind::Codex).display().to_string();
    std::fs::write(s.workflow(), workflow(&claude, &codex)).unwrap();
    // `--once` is one tick: the first dispatches `implement` (claude), the second
    // `check` (codex).
    s.once();
    s.once();
    for id in ["QS-1", "QS-2", "QS-3"] {
        assert_eq!(
            s.column(id),
            "Human Review",
            "{id} went through both agents"
        );
    }
    let all = events(&s.db());
    let finished: Vec<_> = all
        .iter()
        .filter(|(k, i, _)| k == "run_finished" && i.as_deref() == Some("QS-1"))
        .map(|(_, _, p)| p.clone())
        .collect();
    assert_eq!(finished.len(), 2, "{finished:?}");
    assert!(
        finished.iter().all(|p| p["status"] == "succeeded"),
        "{finished:?}"
    );

    let claude_tokens = TokenUsage {
        input: 1200,
        output: 250,
        cache_read: 4000,
        cache_write: 300,
    };
    let codex_tokens = TokenUsage {
        input: 15000,
        output: 300,
        cache_read: 5000,
        cache_write: 0,
    };
    let codex_cost = price_for(RunnerKind::Codex, Some("gpt-5-codex"), None)
        .unwrap()
        .cost(&codex_tokens);
    let mut want = claude_tokens;
    want.add(&codex_tokens);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let (totals, runs) = rt.block_on(async {
        let store = karajan::store::Store::open_read_only(&s.db())
            .await
            .unwrap()
            .unwrap();
        (
            store.totals_for("QS-1").await.unwrap(),
            store.runs_for("QS-1").await.unwrap(),
        )
    });
    assert_eq!(totals.tokens, want);
    let cost = totals.cost_usd;
    assert!((cost - (0.0421 + codex_cost)).abs() < 1e-9, "{cost}");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].runner, "claude");
    assert_eq!(runs[1].runner, "codex");
    assert_eq!(runs[0].cost_usd, Some(0.0421));
    assert_eq!(runs[1].tokens, codex_tokens);
    // Each run recorded the session its CLI announced (Claude's session, Codex's thread),
    // and its turns.
    let sessions: Vec<_> = finished.iter().map(|p| p["session_id"].clone()).collect();
    assert_eq!(
        sessions,
        [
            serde_json::json!("3f1c2a9e-1111-4c3b-9a55-0c1a0de5e001"),
            serde_json::json!("01a1fc93-0000-7000-8000-00000000c0de")
        ]
    );
    assert_eq!(finished[0]["turns"], 3);
    assert_eq!(finished[1]["turns"], 3);
}
