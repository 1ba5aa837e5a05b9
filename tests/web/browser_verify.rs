//! "Verify now" in headless Chromium against the real binary (issue 16 item 5): a signed
//! in operator clicks **Verify now** on the overview and sees the verdict appear in the
//! page without a reload (intact, with the events checked); a row edited behind
//! karajan's back, and the next click shows BROKEN with that row's seq. The ticket page
//! shows the hash links and the proof footer (screenshot: `ticket-proof.png` in the
//! test's temporary folder).
//!
//! Skipped, with a message, when Chromium or chromedriver is not installed.

use std::time::Duration;

use serde_json::json;

use super::browser::{Browser, browser_binaries, decode_base64, start_dashboard};
use crate::e2e::history_proof::tamper_payload;
use crate::e2e::support::Scratch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_now_in_headless_chromium_shows_intact_then_broken() {
    let Some((chromium, chromedriver)) = browser_binaries() else {
        eprintln!(
            "SKIPPED web::browser_verify: Chromium and chromedriver are not installed \
             (apt-get install chromium chromium-driver; .ci/run does this)"
        );
        return;
    };
    let scratch = Scratch::quickstart();
    let dash = start_dashboard(&scratch);
    let (url, root) = (dash.sign_in.clone(), dash.root.clone());

    let b = Browser::open(&chromium, &chromedriver).await;
    let d = &b.driver;
    d.post("/url", json!({"url": url})).await;
    d.wait(
        "every ticket at the gate",
        Duration::from_secs(40),
        "document.querySelectorAll('#gates tr[data-ticket]').length === 3",
    )
    .await;
    d.wait(
        "the live feed",
        Duration::from_secs(10),
        "document.getElementById('conn').classList.contains('on')",
    )
    .await;
    d.script("window.__karajan_marker = 7; return null;").await;

    // Intact: the verdict replaces whatever the page said, without a reload.
    d.script(
        "const v = document.getElementById('chain-verdict'); if (v) v.textContent = 'stale'; return null;",
    )
    .await;
    d.click("button[data-action=\"verify\"]").await;
    d.wait(
        "the chain intact in the page",
        Duration::from_secs(20),
        "window.__karajan_marker === 7 \
         && document.getElementById('chain-verdict') \
         && document.getElementById('chain-verdict').textContent === 'intact' \
         && document.getElementById('chain').innerText.includes('asked for') \
         && document.getElementById('flash').textContent.startsWith('chain intact:')",
    )
    .await;

    // A row edited behind karajan's back while the page is open.
    tamper_payload(&scratch.db(), 4).await;
    d.click("button[data-action=\"verify\"]").await;
    d.wait(
        "the chain broken at seq 4 in the page",
        Duration::from_secs(20),
        "window.__karajan_marker === 7 \
         && document.getElementById('chain-verdict').textContent === 'BROKEN' \
         && document.getElementById('chain-break').innerText.includes('the first at seq 4:') \
         && document.getElementById('flash').textContent.includes('the first at seq 4')",
    )
    .await;

    // The ticket page: hash links per event and the proof footer.
    d.post("/url", json!({"url": format!("{root}/tickets/QS-1")}))
        .await;
    d.wait(
        "the proof on the ticket page",
        Duration::from_secs(10),
        "document.querySelector('#timeline td.link code') \
         && document.getElementById('proof') \
         && document.getElementById('proof').innerText.includes('sealed by checkpoint #') \
         && document.getElementById('proof').innerText.includes('anchored in the tracker up to seq')",
    )
    .await;
    d.script("document.getElementById('timeline').scrollIntoView(); return null;")
        .await;
    let shot = d.call(reqwest::Method::GET, "/screenshot", None).await;
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ticket-proof.png");
    std::fs::write(&target, decode_base64(shot.as_str().unwrap())).unwrap();
    eprintln!("screenshot: {}", target.display());
    let _ = d.call(reqwest::Method::DELETE, "", None).await;
}
