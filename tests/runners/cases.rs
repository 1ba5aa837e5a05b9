//! The runner cases of the agent-runner issue, for each CLI, against the fakes.

use std::time::{Duration, Instant};

use karajan::agent::RunEvent;
use karajan::agent::settings::{ClaudePermission, CliSettings, price_for};
use karajan::config::RunnerKind;
use karajan::domain::{RunStatus, TokenUsage};
use sha2::{Digest, Sha256};

use super::{Fixture, activities, config, fake, run, runner};
use crate::agent::conformance::alive;

fn fake_runner(kind: RunnerKind) -> std::sync::Arc<dyn karajan::agent::AgentRunner> {
    runner(&config(
        kind,
        vec![fake(kind).display().to_string()],
        CliSettings::default(),
    ))
}

/// The session id each fake announces for a fresh session.
fn fresh_session(kind: RunnerKind) -> &'static str {
    match kind {
        RunnerKind::Claude => "3f1c2a9e-1111-4c3b-9a55-0c1a0de5e001",
        RunnerKind::Codex => "01a1fc93-0000-7000-8000-00000000c0de",
        _ => "c122e21c-0000-4000-8000-00000000ge01",
    }
}

pub async fn success_with_tokens_and_cost(kind: RunnerKind) {
    let fx = Fixture::new();
    let (outcome, events) = run(fake_runner(kind), fx.request("success", "fix the bug")).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{outcome:?}");
    assert_eq!(outcome.exit_code, Some(0));
    assert_eq!(outcome.session_id.as_deref(), Some(fresh_session(kind)));
    assert_eq!(outcome.resume_fallback, None);
    assert_eq!(fx.read("prompt.txt"), "fix the bug");
    let (tokens, cost, turns) = match kind {
        RunnerKind::Claude => (
            TokenUsage {
                input: 1200,
                output: 250,
                cache_read: 4000,
                cache_write: 300,
            },
            0.0421,
            3,
        ),
        RunnerKind::Codex => {
            let t = TokenUsage {
                input: 15000,
                output: 300,
                cache_read: 5000,
                cache_write: 0,
            };
            // No model configured or reported: the codex default row of the price table.
            let p = price_for(RunnerKind::Codex, None, None).expect("price");
            (t, p.cost(&t), 3)
        }
        _ => {
            let t = TokenUsage {
                input: 10000,
                output: 1000,
                cache_read: 2000,
                cache_write: 0,
            };
            let lite = price_for(kind, Some("gemini-2.5-flash-lite"), None).expect("price");
            let pro = price_for(kind, Some("gemini-2.5-pro"), None).expect("price");
            let cost = lite.cost(&TokenUsage {
                input: 2000,
                output: 1000,
                ..Default::default()
            }) + pro.cost(&TokenUsage {
                input: 8000,
                cache_read: 2000,
                ..Default::default()
            });
            (t, cost, 2)
        }
    };
    assert_eq!(outcome.tokens, tokens);
    let got = outcome.cost_usd.expect("cost");
    assert!((got - cost).abs() < 1e-9, "cost {got} != {cost}");
    assert!(got > 0.0);
    assert_eq!(outcome.turns, Some(turns));
    // Events: spawned first, the session, JSON lines, tool activity; a JSON log on disk.
    assert!(matches!(events.first(), Some(RunEvent::Spawned { .. })));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::Session { id } if id == fresh_session(kind)))
    );
    assert!(
        events
            .iter()
            .filter(|e| matches!(e, RunEvent::Json { .. }))
            .count()
            >= 4
    );
    let acts = activities(&events);
    assert!(acts.iter().any(|a| a.contains("make test")), "{acts:?}");
    let jsonl = std::fs::read_to_string(fx.log_dir.join("events.jsonl")).expect("events.jsonl");
    assert!(jsonl.lines().count() >= 4);
}

pub async fn is_error_is_a_failure(kind: RunnerKind) {
    let fx = Fixture::new();
    let (outcome, _) = run(fake_runner(kind), fx.request("is-error", "x")).await;
    let RunStatus::Failed { reason } = &outcome.status else {
        panic!("expected Failed, got {:?}", outcome.status);
    };
    match kind {
        RunnerKind::Claude => assert!(
            reason.contains("is_error") && reason.contains("500"),
            "{reason}"
        ),
        RunnerKind::Codex => assert!(
            reason.contains("turn failed") && reason.contains("500"),
            "{reason}"
        ),
        _ => {
            // Gemini exits 0 on an in-stream error: result.status decides.
            assert_eq!(outcome.exit_code, Some(0));
            assert!(reason.contains("finish reason"), "{reason}");
        }
    }
}

pub async fn max_turns(kind: RunnerKind) {
    let fx = Fixture::new();
    let mut req = fx.request("max-turns", "x");
    req.max_turns = 3;
    let started = Instant::now();
    let (outcome, events) = run(fake_runner(kind), req).await;
    assert_eq!(outcome.status, RunStatus::MaxTurns, "{outcome:?}");
    assert!(started.elapsed() < Duration::from_secs(8));
    let argv = &fx.argvs()[0];
    if kind == RunnerKind::Claude {
        // Claude Code enforces the limit it is given.
        let i = argv
            .iter()
            .position(|a| a == "--max-turns")
            .expect("--max-turns");
        assert_eq!(argv[i + 1], "3");
    } else {
        // No flag exists: karajan counted the turns and stopped the endless fake.
        assert_eq!(outcome.turns, Some(4));
        assert!(
            activities(&events)
                .iter()
                .any(|a| a.contains("turn limit 3"))
        );
    }
}

pub async fn crash_mid_stream(kind: RunnerKind) {
    let fx = Fixture::new();
    let (outcome, _) = run(fake_runner(kind), fx.request("crash", "x")).await;
    assert_eq!(outcome.signal, Some(9));
    let RunStatus::Failed { reason } = &outcome.status else {
        panic!("expected Failed, got {:?}", outcome.status);
    };
    assert!(
        reason.contains("killed by signal 9") && reason.contains("without a result"),
        "{reason}"
    );
    // What was learned before the crash is kept.
    assert_eq!(outcome.session_id.as_deref(), Some(fresh_session(kind)));
}

pub async fn stall_kills_grandchildren(kind: RunnerKind) {
    let fx = Fixture::new();
    let mut req = fx.request("stall", "x");
    req.stall_timeout = Duration::from_millis(500);
    let started = Instant::now();
    let (outcome, _) = run(fake_runner(kind), req).await;
    assert_eq!(outcome.status, RunStatus::Stalled);
    assert!(started.elapsed() < Duration::from_secs(6));
    let pids: Vec<u32> = fx
        .read("pids.txt")
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    assert_eq!(pids.len(), 3);
    for pid in pids {
        assert!(!alive(pid), "pid {pid} survived the stall");
    }
}

pub async fn stderr_activity_is_not_a_stall(kind: RunnerKind) {
    let fx = Fixture::new();
    let mut req = fx.request("stderr-busy", "x");
    // Stdout is silent for ~1.5 s; stderr speaks every 100 ms.
    req.stall_timeout = Duration::from_millis(600);
    let (outcome, events) = run(fake_runner(kind), req).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{outcome:?}");
    let acts = activities(&events);
    assert!(
        acts.iter().any(|a| a == "stderr: compiling unit 14"),
        "{acts:?}"
    );
}

pub async fn ten_megabyte_line(kind: RunnerKind) {
    let fx = Fixture::new();
    let (outcome, events) = run(fake_runner(kind), fx.request("big-line", "x")).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{outcome:?}");
    let log = std::fs::metadata(fx.log_dir.join("stdout.log"))
        .expect("stdout.log")
        .len();
    assert!(log > 10_485_760, "{log}");
    let jsonl = std::fs::read(fx.log_dir.join("events.jsonl")).expect("events.jsonl");
    assert!(jsonl.split(|b| *b == b'\n').any(|l| l.len() > 10_485_760));
    // Forwarded as a stub, not 10 MB through the channel.
    let stub = events.iter().find_map(|e| match e {
        RunEvent::Json { value, .. } => value
            .get("karajan_truncated_bytes")
            .and_then(|v| v.as_u64()),
        _ => None,
    });
    assert!(stub.is_some_and(|n| n > 10_485_760), "{stub:?}");
    let longest = activities(&events)
        .iter()
        .map(|a| a.chars().count())
        .max()
        .unwrap_or(0);
    assert!(longest < 1000, "activity summaries stay short");
}

pub async fn resume_unknown_falls_back_once(kind: RunnerKind) {
    let fx = Fixture::new();
    let mut req = fx.request("resume-unknown", "continue");
    req.resume_session = Some("0dead000-0000-4000-8000-000000000000".into());
    let (outcome, events) = run(fake_runner(kind), req).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{outcome:?}");
    assert_eq!(
        outcome.resume_fallback.as_deref(),
        Some("0dead000-0000-4000-8000-000000000000")
    );
    assert_eq!(outcome.session_id.as_deref(), Some(fresh_session(kind)));
    let argvs = fx.argvs();
    assert_eq!(argvs.len(), 2, "exactly one fallback: {argvs:?}");
    assert!(
        argvs[0]
            .iter()
            .any(|a| a == "0dead000-0000-4000-8000-000000000000")
    );
    assert!(
        !argvs[1]
            .iter()
            .any(|a| a == "0dead000-0000-4000-8000-000000000000"
                || a == "resume"
                || a == "--resume")
    );
    assert_eq!(
        fx.read("prompt.txt"),
        "continue",
        "the fresh session got the prompt too"
    );
    assert!(
        activities(&events)
            .iter()
            .any(|a| a.contains("starting a fresh session"))
    );
}

pub async fn resume_known_session(kind: RunnerKind) {
    let fx = Fixture::new();
    let mut req = fx.request("success", "again");
    req.resume_session = Some("7e57e57e-0000-4000-8000-000000000001".into());
    let (outcome, _) = run(fake_runner(kind), req).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{outcome:?}");
    assert_eq!(outcome.resume_fallback, None);
    assert_eq!(
        outcome.session_id.as_deref(),
        Some("7e57e57e-0000-4000-8000-000000000001")
    );
    let argv = &fx.argvs()[0];
    match kind {
        RunnerKind::Codex => {
            assert_eq!(&argv[..3], ["exec", "resume", "--json"]);
            assert_eq!(
                argv[argv.len() - 2..],
                ["7e57e57e-0000-4000-8000-000000000001", "-"]
            );
        }
        _ => {
            let i = argv.iter().position(|a| a == "--resume").expect("--resume");
            assert_eq!(argv[i + 1], "7e57e57e-0000-4000-8000-000000000001");
        }
    }
}

pub async fn megabyte_prompt_echo(kind: RunnerKind) {
    let fx = Fixture::new();
    let mut prompt = String::new();
    let mut i = 0u64;
    while prompt.len() < 1 << 20 {
        prompt.push_str(&format!("line {i}: \"quoted\" back\\slash — ünïcödé\n"));
        i += 1;
    }
    let (outcome, events) = run(fake_runner(kind), fx.request("echo", &prompt)).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{outcome:?}");
    let got = std::fs::read(fx.workspace.join("prompt.txt")).expect("prompt.txt");
    assert_eq!(Sha256::digest(&got), Sha256::digest(prompt.as_bytes()));
    // The CLI echoed it back inside one JSON line, which parsed intact.
    let jsonl = std::fs::read_to_string(fx.log_dir.join("events.jsonl")).expect("events.jsonl");
    let echoed = jsonl
        .lines()
        .filter(|l| l.len() > 1 << 20)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .count();
    assert_eq!(echoed, 1);
    assert!(events.iter().any(|e| matches!(e, RunEvent::Json { value, .. } if value.get("karajan_truncated_bytes").is_some())));
}

/// Every fake CLI, run with an environment built the way the orchestrator builds it,
/// never sees the tracker key of karajan's own environment.
pub async fn tracker_key_never_reaches_the_cli(kind: RunnerKind) {
    let fx = Fixture::new();
    let cfg = config(
        kind,
        vec![fake(kind).display().to_string()],
        CliSettings {
            permission_mode: (kind == RunnerKind::Claude).then_some(ClaudePermission::Skip),
            ..Default::default()
        },
    );
    let parent = |name: &str| match name {
        "PATH" => Some("/usr/local/bin:/usr/bin:/bin".to_string()),
        "LINEAR_API_KEY" => Some("lin_api_SECRET_VALUE".to_string()),
        "GITHUB_TOKEN" => Some("ghp_SECRET_VALUE".to_string()),
        _ => None,
    };
    let mut req = fx.request("success", "x");
    let run_id = req.run_id.clone();
    let meta = vec![("KARAJAN_RUN_ID".to_string(), run_id.clone())];
    req.env = karajan::agent::env::build_env_from(&cfg, &meta, parent);
    let (outcome, _) = run(runner(&cfg), req).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{outcome:?}");
    let env = fx.read("env.1.txt");
    assert!(env.contains(&format!("KARAJAN_RUN_ID={run_id}")), "{env}");
    assert!(
        !env.contains("LINEAR_API_KEY") && !env.contains("GITHUB_TOKEN"),
        "{env}"
    );
    assert!(!env.contains("SECRET_VALUE"), "{env}");
    // The only variable a runner adds: IS_SANDBOX=1 with Claude's skip-permissions.
    assert_eq!(
        env.lines().any(|l| l == "IS_SANDBOX=1"),
        kind == RunnerKind::Claude
    );
}

macro_rules! cases {
    ($name:ident, $kind:expr) => {
        mod $name {
            use super::*;
            cases!(@each $kind;
                success_with_tokens_and_cost,
                is_error_is_a_failure,
                max_turns,
                crash_mid_stream,
                stall_kills_grandchildren,
                stderr_activity_is_not_a_stall,
                ten_megabyte_line,
                resume_unknown_falls_back_once,
                resume_known_session,
                megabyte_prompt_echo,
                tracker_key_never_reaches_the_cli,
            );
        }
    };
    (@each $kind:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case($kind).await;
            }
        )*
    };
}

cases!(claude, RunnerKind::Claude);
cases!(codex, RunnerKind::Codex);
cases!(gemini, RunnerKind::Gemini);

#[tokio::test]
async fn run_above_its_budget_is_budget_exceeded_after_the_fact() {
    // Codex reports tokens only at the end: the priced total is checked then.
    let fx = Fixture::new();
    let mut req = fx.request("success", "x");
    req.max_cost_usd = Some(0.001);
    let (outcome, _) = run(fake_runner(RunnerKind::Codex), req).await;
    assert!(
        matches!(&outcome.status, RunStatus::BudgetExceeded { reason } if reason.contains("$0.0010")),
        "{:?}",
        outcome.status
    );
    assert!(outcome.cost_usd.is_some_and(|c| c > 0.001));
    // Under the cap, the same run succeeds.
    let fx = Fixture::new();
    let mut req = fx.request("success", "x");
    req.max_cost_usd = Some(1.0);
    let (outcome, _) = run(fake_runner(RunnerKind::Codex), req).await;
    assert_eq!(outcome.status, RunStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spending_past_the_budget_stops_the_run() {
    // The fake never ends by itself; each message costs about $0.0019 at Sonnet prices.
    let fx = Fixture::new();
    let mut req = fx.request("spend", "x");
    req.max_cost_usd = Some(0.005);
    let started = Instant::now();
    let (outcome, events) = run(fake_runner(RunnerKind::Claude), req).await;
    assert!(
        matches!(outcome.status, RunStatus::BudgetExceeded { .. }),
        "{:?}",
        outcome.status
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let spent = outcome.cost_usd.expect("cost");
    assert!(spent > 0.005 && spent < 0.01, "{spent}");
    assert!(
        activities(&events)
            .iter()
            .any(|a| a.contains("budget $0.0050 exceeded"))
    );
    let argv = &fx.argvs()[0];
    let i = argv
        .iter()
        .position(|a| a == "--max-budget-usd")
        .expect("flag");
    assert_eq!(argv[i + 1], "0.005");
}

#[tokio::test]
async fn claude_budget_subtype_is_budget_exceeded() {
    let fx = Fixture::new();
    let (outcome, _) = run(fake_runner(RunnerKind::Claude), fx.request("budget", "x")).await;
    assert!(
        matches!(&outcome.status, RunStatus::BudgetExceeded { reason } if reason.contains("0.75")),
        "{:?}",
        outcome.status
    );
    // Every API call of every model (`modelUsage`), not only the first (`usage`).
    assert_eq!(
        outcome.tokens,
        TokenUsage {
            input: 1394 + 120,
            output: 95 + 10,
            cache_read: 2000,
            cache_write: 100,
        }
    );
    assert_eq!(outcome.cost_usd, Some(0.75));
}
