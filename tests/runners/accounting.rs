//! Runner accounting off the happy path (issue 10, points 1–6): every recorded figure is
//! what the model API served, or is marked as not exact.
//!
//! The fakes (`fakes/`) print the stream shapes of the real CLIs: the Codex fake's
//! `turn.completed` on `exec resume` carries the thread's cumulative usage, as the real
//! Codex 0.169 does (`../shared/samples/codex/resume-turn2.jsonl`).

use karajan::agent::settings::{CliSettings, price_for};
use karajan::config::RunnerKind;
use karajan::domain::RunStatus;
use karajan::domain::TokenUsage;
use karajan::domain::run::{CostBasis, UsageBasis};

use super::{Fixture, QUICKSTART_HEAD, config, fake, run, runner};
use crate::e2e::support::{Scratch, events, stdout};

fn fake_runner(kind: RunnerKind) -> std::sync::Arc<dyn karajan::agent::AgentRunner> {
    runner(&config(
        kind,
        vec![fake(kind).display().to_string()],
        CliSettings::default(),
    ))
}

/// Point 2: `claude-opus-4-8` is priced as a current Opus (Opus 4.5 and later: $5 /
/// $25), not at the old Opus row ($15 / $75).
#[test]
fn claude_opus_4_8_has_current_opus_prices() {
    let p = price_for(RunnerKind::Claude, Some("claude-opus-4-8"), None).expect("price");
    assert_eq!((p.input, p.output), (5.0, 25.0));
    let p = price_for(RunnerKind::Claude, Some("claude-opus-4-1"), None).expect("price");
    assert_eq!((p.input, p.output), (15.0, 75.0));
}

/// Point 2: a model the table does not know is marked, never silently priced.
#[tokio::test]
async fn unknown_model_cost_is_marked_estimated() {
    let fx = Fixture::new();
    let mut cfg = config(
        RunnerKind::Codex,
        vec![fake(RunnerKind::Codex).display().to_string()],
        CliSettings::default(),
    );
    cfg.model = Some("gpt-7-codex".into());
    let (outcome, _) = run(runner(&cfg), fx.request("success", "x")).await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
    assert_eq!(outcome.accounting.cost, Some(CostBasis::Estimated));
    assert_eq!(outcome.accounting.unpriced_models, ["gpt-7-codex"]);
    assert!(outcome.cost_usd.is_some());
    // A known model is priced from the dated table.
    let fx = Fixture::new();
    cfg.model = Some("gpt-5-codex".into());
    let (outcome, _) = run(runner(&cfg), fx.request("success", "x")).await;
    assert_eq!(outcome.accounting.cost, Some(CostBasis::Priced));
    assert_eq!(
        outcome.accounting.prices_as_of.as_deref(),
        Some(karajan::agent::prices::PRICES_AS_OF)
    );
    assert!(outcome.accounting.unpriced_models.is_empty());
}

/// Point 3: Codex and Gemini report usage only at the end of a turn. Stopped by
/// karajan at the turn limit, a run's usage is unknown, not 0, and its cost is
/// counted at the run's cap so budgets stay conservative.
async fn stopped_run_is_unknown_and_counted_at_its_cap(kind: RunnerKind) {
    let fx = Fixture::new();
    let mut req = fx.request("max-turns", "x");
    req.max_turns = 3;
    req.max_cost_usd = Some(0.25);
    let (outcome, _) = run(fake_runner(kind), req).await;
    assert_eq!(outcome.status, RunStatus::MaxTurns, "{outcome:?}");
    assert_eq!(outcome.cost_usd, Some(0.25), "{outcome:?}");
    assert_eq!(outcome.accounting.usage, UsageBasis::Unknown);
    assert!(outcome.accounting.counted_at_cap);
    // Without a cap, the cost is unknown (None), still marked.
    let fx = Fixture::new();
    let mut req = fx.request("stall", "x");
    req.stall_timeout = std::time::Duration::from_millis(400);
    let (outcome, _) = run(fake_runner(kind), req).await;
    assert_eq!(outcome.status, RunStatus::Stalled);
    assert_eq!(outcome.cost_usd, None);
    assert_eq!(outcome.accounting.usage, UsageBasis::Unknown);
    assert_eq!(outcome.accounting.cost, Some(CostBasis::Unknown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_stopped_run_is_unknown_and_counted_at_its_cap() {
    stopped_run_is_unknown_and_counted_at_its_cap(RunnerKind::Codex).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_stopped_run_is_unknown_and_counted_at_its_cap() {
    stopped_run_is_unknown_and_counted_at_its_cap(RunnerKind::Gemini).await;
}

/// Point 3: Claude reports usage per message, so a stopped Claude run keeps what was
/// reported so far, marked partial and priced from the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_stopped_run_keeps_its_partial_usage() {
    let fx = Fixture::new();
    let mut req = fx.request("stall", "x");
    req.stall_timeout = std::time::Duration::from_millis(400);
    let (outcome, _) = run(fake_runner(RunnerKind::Claude), req).await;
    assert_eq!(outcome.status, RunStatus::Stalled);
    // Only the init line: a session, no usage.
    assert_eq!(outcome.accounting.usage, UsageBasis::Unknown);
    let fx = Fixture::new();
    let mut req = fx.request("spend", "x");
    req.max_cost_usd = Some(0.005);
    let (outcome, _) = run(fake_runner(RunnerKind::Claude), req).await;
    assert!(matches!(outcome.status, RunStatus::BudgetExceeded { .. }));
    assert_eq!(outcome.accounting.usage, UsageBasis::Partial);
    assert!(outcome.tokens.input > 0);
    assert_eq!(outcome.accounting.cost, Some(CostBasis::Priced));
}

fn codex_workflow(codex: &str, scenario: &str) -> String {
    format!(
        r#"{QUICKSTART_HEAD}runners:
  codex:
    kind: codex
    command: ["{codex}"]
    model: gpt-5-codex
    env:
      FAKE_SCENARIO: {scenario}
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
    runner: codex
    prompt: prompts/implement.md
    next: check
  check:
    kind: agent
    runner: codex
    prompt: prompts/finalize.md
    next: review
    session: inherit
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

fn usage(v: &serde_json::Value) -> TokenUsage {
    serde_json::from_value(v.clone()).expect("tokens")
}

/// Point 1: the second run resumes the first one's Codex thread, and Codex reports the
/// thread's cumulative usage. The run records its own share, and the thread's total.
#[test]
fn codex_resume_records_its_own_share_and_the_thread_total() {
    let s = Scratch::quickstart();
    let codex = fake(RunnerKind::Codex).display().to_string();
    std::fs::write(s.workflow(), codex_workflow(&codex, "success")).unwrap();
    s.once();
    s.once();
    let finished: Vec<_> = events(&s.db())
        .into_iter()
        .filter(|(k, i, _)| k == "run_finished" && i.as_deref() == Some("QS-1"))
        .map(|(_, _, p)| p)
        .collect();
    assert_eq!(finished.len(), 2, "{finished:?}");
    assert_eq!(finished[0]["session_id"], finished[1]["session_id"]);
    let first = TokenUsage {
        input: 15000,
        output: 300,
        cache_read: 5000,
        cache_write: 0,
    };
    let own = TokenUsage {
        input: 7000,
        output: 120,
        cache_read: 1000,
        cache_write: 0,
    };
    assert_eq!(usage(&finished[0]["tokens"]), first);
    assert_eq!(usage(&finished[1]["tokens"]), own, "{:?}", finished[1]);
    let mut thread = first;
    thread.add(&own);
    assert_eq!(usage(&finished[1]["accounting"]["thread_tokens"]), thread);
    let price = price_for(RunnerKind::Codex, Some("gpt-5-codex"), None).unwrap();
    let cost = finished[1]["cost_usd"].as_f64().expect("cost");
    assert!((cost - price.cost(&own)).abs() < 1e-12, "{cost}");
    // The ticket's totals count every token once.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let totals = rt.block_on(async {
        let store = karajan::store::Store::open_read_only(&s.db())
            .await
            .unwrap()
            .unwrap();
        store.totals_for("QS-1").await.unwrap()
    });
    assert_eq!(totals.tokens, thread);
}

/// Point 6: a resume that fell back to a fresh session is recorded with the run, shown
/// by `history`, and said in a comment on the ticket.
#[test]
fn resume_fallback_is_recorded_shown_in_history_and_commented() {
    let s = Scratch::quickstart();
    let codex = fake(RunnerKind::Codex).display().to_string();
    std::fs::write(s.workflow(), codex_workflow(&codex, "resume-unknown")).unwrap();
    s.once();
    s.once();
    let finished: Vec<_> = events(&s.db())
        .into_iter()
        .filter(|(k, i, _)| k == "run_finished" && i.as_deref() == Some("QS-1"))
        .map(|(_, _, p)| p)
        .collect();
    assert_eq!(finished.len(), 2, "{finished:?}");
    let thread = finished[0]["session_id"]
        .as_str()
        .expect("thread")
        .to_string();
    assert_eq!(finished[1]["status"], "succeeded");
    assert_eq!(finished[1]["resume_fallback"], thread.as_str());
    // A fresh thread: its usage is its own, nothing is subtracted.
    assert_eq!(finished[1]["tokens"]["input"], 15000);
    let history = stdout(&s.karajan(&["history", "QS-1"]));
    assert!(
        history.contains(&format!("could not resume session {thread}")),
        "{history}"
    );
    let ticket = s.read_ticket("QS-1");
    assert!(
        ticket.contains(&format!("could not resume session {thread}"))
            && ticket.contains("fresh session"),
        "{ticket}"
    );
}

/// Points 2 and 3 seen from outside: `karajan status` and `history` say which runs'
/// figures are not exact, and a stopped run's unknown cost is counted at its cap in the
/// ticket's totals (so the budgets count it).
#[test]
fn status_and_history_mark_estimated_and_unknown_costs() {
    let s = Scratch::quickstart();
    let codex = fake(RunnerKind::Codex).display().to_string();
    let wf = codex_workflow(&codex, "success")
        .replace("model: gpt-5-codex", "model: gpt-7-codex")
        .replace(
            "agent:\n  max_concurrent",
            &format!(
                "  stopper:\n    kind: codex\n    command: [\"{codex}\"]\n    model: gpt-5-codex\n    max_turns: 2\n    env:\n      FAKE_SCENARIO: max-turns\nbudget:\n  per_run_usd: 0.4\nagent:\n  max_concurrent"
            ),
        )
        .replace(
            "    runner: codex\n    prompt: prompts/finalize.md",
            "    runner: stopper\n    prompt: prompts/finalize.md",
        );
    std::fs::write(s.workflow(), wf).unwrap();
    s.once();
    s.once_exiting(6); // the stopped run escalates its ticket
    let finished: Vec<_> = events(&s.db())
        .into_iter()
        .filter(|(k, i, _)| k == "run_finished" && i.as_deref() == Some("QS-1"))
        .map(|(_, _, p)| p)
        .collect();
    assert_eq!(finished.len(), 2, "{finished:?}");
    assert_eq!(finished[0]["accounting"]["cost"], "estimated");
    assert_eq!(finished[1]["status"], "max_turns");
    assert_eq!(finished[1]["accounting"]["usage"], "unknown");
    assert_eq!(finished[1]["cost_usd"], 0.4);
    let status = stdout(&s.karajan(&["status"]));
    assert!(
        status.contains("cost estimated (gpt-7-codex not in the price table)"),
        "{status}"
    );
    assert!(
        status.contains("usage unknown") && status.contains("counted at the run's cap"),
        "{status}"
    );
    let history = stdout(&s.karajan(&["history", "QS-1"]));
    assert!(history.contains("usage unknown"), "{history}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let totals = rt.block_on(async {
        let store = karajan::store::Store::open_read_only(&s.db())
            .await
            .unwrap()
            .unwrap();
        store.totals_for("QS-1").await.unwrap()
    });
    let first = finished[0]["cost_usd"].as_f64().expect("estimated cost");
    assert!((totals.cost_usd - (first + 0.4)).abs() < 1e-9, "{totals:?}");
}

/// Issue 10 point 12: every runner reports its usage while it runs (`RunEvent::Usage`),
/// the last report matching what the run records; Claude reports it per message, before
/// its final result, priced from the table until its own cost arrives.
#[tokio::test]
async fn every_runner_reports_live_usage_that_ends_at_the_recorded_figures() {
    use karajan::agent::RunEvent;
    for kind in [RunnerKind::Claude, RunnerKind::Codex, RunnerKind::Gemini] {
        let fx = Fixture::new();
        let (outcome, events) = run(fake_runner(kind), fx.request("success", "go")).await;
        assert_eq!(outcome.status, RunStatus::Succeeded, "{kind:?}");
        let reports: Vec<(TokenUsage, Option<f64>)> = events
            .iter()
            .filter_map(|e| match e {
                RunEvent::Usage {
                    tokens, cost_usd, ..
                } => Some((*tokens, *cost_usd)),
                _ => None,
            })
            .collect();
        let (tokens, cost) = *reports
            .last()
            .unwrap_or_else(|| panic!("{kind:?}: no live usage in {events:?}"));
        assert_eq!(tokens, outcome.tokens, "{kind:?}");
        let (c, o) = (cost.unwrap(), outcome.cost_usd.unwrap());
        assert!((c - o).abs() < 1e-9, "{kind:?}: {c} vs {o}");
        if kind == RunnerKind::Claude {
            // Per message, before the result: input 400 per message, priced as Sonnet.
            let (first, first_cost) = reports[0];
            assert_eq!(first.input, 400, "{reports:?}");
            assert!(first_cost.is_some_and(|c| c > 0.0), "{reports:?}");
            assert!(reports.len() >= 3, "{reports:?}");
        }
    }
}
