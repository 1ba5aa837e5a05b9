//! The dashboard in headless Chromium when things change under it (issue 10 points 13
//! and 14): an open `<details>` stays open while the page re-renders live; the page says
//! when it is stale (the daemon stopped: a banner, frozen timers, disabled actions) and
//! comes back by itself when the daemon does; tables fit a narrow screen.
//!
//! Skipped, with a message, when Chromium or chromedriver is not installed.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::browser::{Browser, LogOnPanic, Proc, browser_binaries, decode_base64, wait_file};
use crate::e2e::support::Scratch;

fn start_karajan(scratch: &Scratch, port: &str) -> Proc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(scratch.path().join("karajan.log"))
        .unwrap();
    Proc(
        crate::e2e::support::command()
            .args(["run", "workflow.yaml", "--port", port])
            .current_dir(scratch.path())
            .env("KARAJAN_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_says_when_it_is_stale_and_keeps_details_open() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        eprintln!(
            "SKIPPED web::browser_stale: Chromium and chromedriver are not installed \
             (apt-get install chromium chromium-driver; .ci/run does this)"
        );
        return;
    };
    // The browser first: its start (seconds on a loaded machine) must not eat into the
    // agents' run time, which the page has to catch live.
    let b = Browser::open(&chromium, &chromedriver).await;
    let d = &b.driver;
    // A slow agent, so runs are live while the page is watched.
    let scratch = Scratch::quickstart();
    let wf = std::fs::read_to_string(scratch.workflow())
        .unwrap()
        .replace(
            "    command: [\"./agent.sh\"]\n",
            "    command: [\"./agent.sh\"]\n    env:\n      KARAJAN_DEMO_DELAY: \"8\"\n",
        );
    std::fs::write(scratch.workflow(), wf).unwrap();
    let karajan = start_karajan(&scratch, "0");
    let _log = LogOnPanic(scratch.path().join("karajan.log"));
    let addr = wait_file(
        &scratch.path().join(".karajan/dashboard.addr"),
        Duration::from_secs(30),
    );
    let out = scratch.karajan(&["dashboard", "workflow.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let root = url.split("/auth").next().unwrap().to_string();
    let port = root.rsplit(':').next().unwrap().to_string();
    eprintln!("dashboard at {root} ({})", addr.trim());

    d.post("/url", json!({"url": url})).await;
    d.wait(
        "QS-1 running",
        Duration::from_secs(20),
        "document.querySelector('#running tr[data-ticket=\"QS-1\"]')",
    )
    .await;

    // The ticket page: open the first event's raw JSON, then let the page re-render
    // (the run finishes, the ticket moves) and find it still open.
    d.post("/url", json!({"url": format!("{root}/tickets/QS-1")}))
        .await;
    d.wait(
        "the ticket page, live",
        Duration::from_secs(10),
        "document.querySelector('#timeline details.raw') && document.getElementById('conn').classList.contains('on')",
    )
    .await;
    let id = d
        .script(
            "const el = document.querySelector('#timeline details.raw'); \
             el.open = true; document.querySelector('#timeline').__before = 1; return el.id;",
        )
        .await;
    let id = id.as_str().unwrap().to_string();
    d.wait(
        "a live re-render of the ticket page",
        Duration::from_secs(20),
        "!document.querySelector('#timeline').__before",
    )
    .await;
    let open = d
        .script(&format!(
            "const el = document.getElementById('{id}'); return !!(el && el.open);"
        ))
        .await;
    assert_eq!(
        open,
        Value::Bool(true),
        "details #{id} closed by a re-render"
    );

    // The overview at the gate: the daemon stops; the page says so.
    d.post("/url", json!({"url": format!("{root}/")})).await;
    d.wait(
        "QS-1 at the gate, live",
        Duration::from_secs(30),
        "document.querySelector('#gates tr[data-ticket=\"QS-1\"] button[data-action=\"approve\"]') \
         && document.getElementById('conn').classList.contains('on')",
    )
    .await;
    let banner_hidden = d
        .script("return document.getElementById('stale').hidden;")
        .await;
    assert_eq!(banner_hidden, Value::Bool(true), "no banner while live");
    drop(karajan);
    d.wait(
        "the stale banner and disabled actions",
        Duration::from_secs(15),
        "!document.getElementById('stale').hidden \
         && getComputedStyle(document.getElementById('stale')).display !== 'none' \
         && document.querySelectorAll('button[data-action]').length > 0 \
         && [...document.querySelectorAll('button[data-action]')].every(b => b.disabled)",
    )
    .await;
    // Timers stop: a "waited" cell does not move any more.
    let read =
        "return [...document.querySelectorAll('[data-since]')].map(e => e.textContent).join('|');";
    let before = d.script(read).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        d.script(read).await,
        before,
        "timers still tick on a stale page"
    );
    // A click does nothing but say why.
    d.script("document.querySelector('button[data-action=\"approve\"]').click(); return null;")
        .await;

    // The daemon comes back on the same port: the page reconnects and fetches fresh state.
    let start = Instant::now();
    let _again = start_karajan(&scratch, &port);
    d.wait(
        "the page live again",
        Duration::from_secs(40),
        "document.getElementById('stale').hidden \
         && document.getElementById('conn').classList.contains('on') \
         && [...document.querySelectorAll('button[data-action]')].every(b => !b.disabled)",
    )
    .await;
    eprintln!("reconnected in {:?}", start.elapsed());
    assert_eq!(
        scratch.column("QS-1"),
        "Human Review",
        "the stale click approved nothing"
    );

    d.post("/url", json!({"url": format!("{root}/tickets/QS-1")}))
        .await;
    d.wait(
        "the ticket page",
        Duration::from_secs(10),
        "document.querySelector('#timeline')",
    )
    .await;
    let shot = d.call(reqwest::Method::GET, "/screenshot", None).await;
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ticket.png");
    std::fs::write(&target, decode_base64(shot.as_str().unwrap())).unwrap();
    eprintln!("screenshot: {}", target.display());

    // A narrow screen: the page itself never scrolls sideways.
    d.post("/window/rect", json!({"width": 400, "height": 800}))
        .await;
    for (page, ready) in [("/tickets/QS-1", "#timeline"), ("/", "#gates")] {
        d.post("/url", json!({"url": format!("{root}{page}")}))
            .await;
        d.wait(
            page,
            Duration::from_secs(10),
            &format!("document.querySelector('{ready}')"),
        )
        .await;
        let fits = d
            .script(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
            )
            .await;
        let (w, c) = (fits[0].as_u64().unwrap(), fits[1].as_u64().unwrap());
        assert!(w <= c + 1, "{page} overflows a narrow screen: {w} > {c}");
        let shot = d.call(reqwest::Method::GET, "/screenshot", None).await;
        let name = if page == "/" { "overview" } else { "ticket" };
        let target =
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("narrow-{name}.png"));
        std::fs::write(&target, decode_base64(shot.as_str().unwrap())).unwrap();
        eprintln!("screenshot: {}", target.display());
    }
    let _ = d.call(reqwest::Method::DELETE, "", None).await;
}
