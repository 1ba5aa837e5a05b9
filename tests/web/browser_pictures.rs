//! The overview's pictures in headless Chromium (issue 15, item 8), against the real
//! binary on the offline quickstart: the SVG state diagram shows every state of the
//! workflow, and its live counts follow the tickets without a reload (running in
//! `implement`, then waiting at `review`); the chart of the last 14 days counts
//! today's runs, as `GET /api/v1/stats/daily` does.
//!
//! Skipped, with a message, when Chromium or chromedriver is not installed.

use std::time::Duration;

use serde_json::{Value, json};

use super::browser::{Browser, browser_binaries, slow_and_parked, start_dashboard};
use crate::e2e::support::Scratch;

/// A state's count (`running`, `waiting`, …) as the page's diagram shows it.
fn count(state: &str, what: &str) -> String {
    format!(
        "Number((document.querySelector('#state-diagram g.node[data-state=\"{state}\"]') || {{getAttribute: () => -1}}).getAttribute('data-{what}'))"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_diagram_counts_tickets_live_and_the_chart_counts_runs() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        eprintln!(
            "SKIPPED web::browser_pictures: Chromium and chromedriver are not installed \
             (apt-get install chromium chromium-driver; .ci/run does this)"
        );
        return;
    };
    let b = Browser::open(&chromium, &chromedriver).await;
    let d = &b.driver;
    // A slow agent, so a ticket is seen running; the tickets wait outside the tracker
    // until the page is open.
    let scratch = Scratch::quickstart();
    let parked = slow_and_parked(&scratch, 6);
    let dash = start_dashboard(&scratch);
    let root = dash.root.clone();

    // Reading needs no sign-in on loopback.
    d.post("/url", json!({"url": format!("{root}/")})).await;
    d.wait(
        "the state diagram",
        Duration::from_secs(10),
        "document.querySelector('svg#state-diagram g.node[data-state]')",
    )
    .await;
    let states = d
        .script(
            "return [...document.querySelectorAll('svg#state-diagram g.node[data-state]')]\
             .map(n => n.getAttribute('data-state') + ':' + n.classList[1]);",
        )
        .await;
    assert_eq!(
        states,
        json!([
            "implement:agent",
            "review:gate",
            "finalize:agent",
            "done:terminal",
            "canceled:terminal"
        ])
    );
    // The diagram is drawn: every node has a box of some size, the rework edge goes back.
    let drawn = d
        .script(
            "const s = document.querySelector('svg#state-diagram');\
             const boxes = [...s.querySelectorAll('g.node rect')].map(r => r.getBBox());\
             return boxes.every(b => b.width > 20 && b.height > 20)\
               && !!s.querySelector('g.edge.rework.back[data-from=\"review\"][data-to=\"implement\"] path');",
        )
        .await;
    assert_eq!(drawn, Value::Bool(true));
    assert_eq!(
        d.script(&format!("return {};", count("implement", "running")))
            .await,
        json!(0)
    );
    // A marker that a reload would lose: the counts below change live.
    d.script("window.__karajan_marker = 7; return null;").await;
    d.wait(
        "the live feed",
        Duration::from_secs(10),
        "document.getElementById('conn').classList.contains('on')",
    )
    .await;
    for entry in std::fs::read_dir(&parked).unwrap() {
        let entry = entry.unwrap();
        std::fs::rename(
            entry.path(),
            scratch.path().join("tickets").join(entry.file_name()),
        )
        .unwrap();
    }
    d.wait(
        "tickets running in implement, in the diagram",
        Duration::from_secs(30),
        &format!(
            "window.__karajan_marker === 7 && {} >= 1",
            count("implement", "running")
        ),
    )
    .await;
    let text = d
        .script("return document.querySelector('#state-diagram g.node[data-state=\"implement\"] text.counts').textContent;")
        .await;
    assert!(text.as_str().unwrap().contains("running"), "{text}");
    d.wait(
        "every ticket waiting at review, none running in implement",
        Duration::from_secs(60),
        &format!(
            "window.__karajan_marker === 7 && {} === 3 && {} === 0",
            count("review", "waiting"),
            count("implement", "running")
        ),
    )
    .await;
    // The chart: 14 days, today's runs as the API says.
    let api: Value = reqwest::get(format!("{root}/api/v1/stats/daily"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let days = api["days"].as_array().unwrap();
    assert_eq!(days.len(), 14);
    let today = days.last().unwrap();
    assert!(today["runs"].as_u64().unwrap() >= 3, "{api}");
    // The page re-renders on the next event; reload to read the chart as of now.
    d.post("/url", json!({"url": format!("{root}/")})).await;
    let chart = d
        .script(
            "const g = [...document.querySelectorAll('svg#daily-chart g.day')];\
             return [g.length, g[g.length - 1].getAttribute('data-day'), Number(g[g.length - 1].getAttribute('data-runs'))];",
        )
        .await;
    assert_eq!(chart[0], json!(14));
    assert_eq!(chart[1], today["day"]);
    assert_eq!(chart[2], today["runs"]);
    let _ = d.call(reqwest::Method::DELETE, "", None).await;
}
