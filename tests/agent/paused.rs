//! Supervision timing on tokio's paused clock (issue 11 point 8): a real agent process
//! that goes silent is stopped at its stall timeout, or at its turn timeout when that
//! comes first, with the timeouts set as in production (minutes, an hour). The clock
//! only moves when every task waits, so the tests take well under a second of wall time
//! and cannot flake on a slow machine: the timers decide, not the machine's speed.

use std::time::{Duration, Instant};

use karajan::domain::RunStatus;
use tokio_util::sync::CancellationToken;

use super::conformance::{Case, run_collect};

fn runner(case: &Case) -> std::sync::Arc<dyn karajan::agent::AgentRunner> {
    let cfg = karajan::config::RunnerConfig {
        name: "fake".into(),
        kind: karajan::config::RunnerKind::Command,
        command: vec![case.script.display().to_string()],
        env: Default::default(),
        inherit_env: vec![],
        model: None,
        stall_timeout: None,
        turn_timeout: None,
        max_turns: None,
        cli: Default::default(),
    };
    karajan::agent::runner_for(&cfg).expect("command runner")
}

const MIN: Duration = Duration::from_secs(60);

#[tokio::test(start_paused = true)]
async fn a_silent_agent_is_stopped_at_its_ten_minute_stall_timeout() {
    // Reads its prompt, says one line, then says nothing for a day.
    let case = Case::new("cat >/dev/null\necho started\nexec sleep 86400");
    let wall = Instant::now();
    let virtual_start = tokio::time::Instant::now();
    let (outcome, _) = run_collect(
        runner(&case),
        case.request("go", 10 * MIN, 60 * MIN, Duration::from_secs(2)),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Stalled, "{outcome:?}");
    let waited = virtual_start.elapsed();
    assert!(
        waited >= 10 * MIN && waited < 11 * MIN,
        "stopped after {waited:?} of silence on the agent's clock"
    );
    assert!(
        wall.elapsed() < Duration::from_secs(20),
        "{:?}",
        wall.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn an_agent_is_stopped_at_its_one_hour_turn_timeout_before_a_longer_stall() {
    // A real process acts on the real clock, so the turn timeout is shown by a silent
    // agent whose stall timeout (two hours) is longer than its turn (one hour).
    let case = Case::new("cat >/dev/null\necho started\nexec sleep 86400");
    let virtual_start = tokio::time::Instant::now();
    let (outcome, _) = run_collect(
        runner(&case),
        case.request("go", 120 * MIN, 60 * MIN, Duration::from_secs(2)),
        CancellationToken::new(),
    )
    .await;
    let waited = virtual_start.elapsed();
    assert_eq!(outcome.status, RunStatus::TimedOut, "{outcome:?}");
    assert!(
        waited >= 60 * MIN && waited < 61 * MIN,
        "stopped after {waited:?}"
    );
}
