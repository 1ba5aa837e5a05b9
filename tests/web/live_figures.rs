//! Live figures of a running agent (issue 10 point 12): the fake Claude Code reports two
//! messages with their usage and then pauses mid-stream, before its final `result`.
//! The running row in `/api/v1/state` (and the live feed's `activity` events) must
//! already show those tokens, the turns, and a cost priced from the table.

use std::time::Duration;

use super::harness_with;

fn fake_claude() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/runners/fakes/claude")
}

/// The web harness with the fake Claude Code as the runner, playing `scenario`.
pub(super) async fn claude_harness(scenario: &str) -> super::Harness {
    let scenario = scenario.to_string();
    harness_with(0, super::SECRET, move |s| {
        let wf = std::fs::read_to_string(s.workflow()).unwrap();
        let start = wf.find("    command: [\"./leaky-agent.sh\"]\n").unwrap();
        let end = wf[start..].find("agent:\n").unwrap() + start;
        let runner = format!(
            "    kind: claude\n    command: [\"{}\"]\n    model: claude-sonnet-4-5\n    env:\n      FAKE_SCENARIO: {scenario}\n      API_KEY: {{secret: '{}'}}\n",
            fake_claude().display(),
            super::SECRET
        );
        let wf = format!("{}{}{}", &wf[..start], runner, &wf[end..])
            .replace("    kind: command\n    kind: claude\n", "    kind: claude\n");
        std::fs::write(s.workflow(), wf).unwrap();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_row_shows_the_usage_reported_so_far() {
    let h = claude_harness("pause-mid-stream").await;
    let mut feed = h.handle.subscribe();
    h.wait_view("a running row with live tokens", |v| {
        v.running.iter().any(|r| r.tokens.input > 0)
    })
    .await;
    // Both messages are in once the second one's usage arrived.
    h.wait_view("both messages counted", |v| {
        v.running.iter().any(|r| r.tokens.input == 800)
    })
    .await;
    let (_, state) = h.get_json("/api/v1/state").await;
    let row = state["running"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tokens"]["input"] == 800)
        .unwrap_or_else(|| panic!("no running row with live tokens: {state}"))
        .clone();
    assert_eq!(row["tokens"]["output"], 2, "{row}");
    assert_eq!(row["tokens"]["cache_read"], 2000, "{row}");
    assert!(row["turns"].as_u64().unwrap() >= 2, "{row}");
    // Sonnet 4.5 list prices: 800 in × $3 + 2 out × $15 + 2000 cache read × $0.30
    // + 200 cache write × $3.75, per million.
    let cost = row["cost_usd"]
        .as_f64()
        .unwrap_or_else(|| panic!("no live cost: {row}"));
    assert!((cost - 0.00378).abs() < 1e-6, "{cost}");
    // The live feed carries them to open pages.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ev = tokio::time::timeout_at(deadline, feed.recv())
            .await
            .expect("an activity event with the live usage");
        let ev = match ev {
            Ok(ev) => ev,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(e) => panic!("the live feed closed: {e}"),
        };
        if ev.kind == "activity" && ev.data["tokens"]["input"] == 800 {
            assert!(ev.data["cost_usd"].as_f64().is_some(), "{ev:?}");
            assert!(ev.data["turns"].as_u64().unwrap() >= 2, "{ev:?}");
            break;
        }
    }
    // The overview renders them too (no `0 / 0`, no `—`).
    let (_, page) = h.get("/").await;
    assert!(page.contains("800 / 2"), "{page}");
    assert!(page.contains("$0.0038"), "{page}");
    h.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
}
