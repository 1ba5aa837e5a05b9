//! A real browser against the real binary: headless Chromium driven through
//! chromedriver's W3C WebDriver HTTP API (with reqwest, no client crate). It starts
//! `karajan run --port 0` on the offline quickstart with a slow agent, signs in with
//! the URL `karajan dashboard` prints, watches the running tickets appear without a
//! reload, waits for the gate, clicks **Approve**, and sees the ticket advance in the
//! page and in the tracker file. It saves a screenshot (set `KARAJAN_SCREENSHOT=path`
//! to keep it elsewhere, e.g. `docs/dashboard.png`).
//!
//! Skipped, with a message, when Chromium or chromedriver is not installed
//! (`.ci/run` installs both).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::e2e::support::Scratch;

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// A child process that is stopped when dropped (SIGTERM, then SIGKILL).
pub(super) struct Proc(pub(super) Child);

/// Prints the daemon's log when the test fails, so a failure in CI says what the daemon
/// did (the scratch folder is gone by then).
pub(super) struct LogOnPanic(pub(super) std::path::PathBuf);

impl Drop for LogOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.0).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(200).collect();
            eprintln!("--- the daemon's log (last 200 lines) ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
            // What the store holds (the record, not the page's read model): tells a
            // transition that was never recorded from a view that missed it.
            if let Some(dir) = self.0.parent() {
                for args in [&["status"][..], &["history", "QS-1"][..]] {
                    if let Ok(out) = crate::e2e::support::command()
                        .args(args)
                        .current_dir(dir)
                        .output()
                    {
                        eprintln!("--- karajan {} ---", args.join(" "));
                        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
                        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
                    }
                }
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal W3C WebDriver session.
pub(super) struct Driver {
    http: reqwest::Client,
    base: String,
}

impl Driver {
    /// A command; a WebDriver error comes back as `Err(its value)`.
    pub(super) async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let v: Value = res.json().await.unwrap();
        if v["value"].get("error").is_some() {
            return Err(v["value"].clone());
        }
        Ok(v["value"].clone())
    }

    pub(super) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        self.try_call(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("webdriver {path}: {e}"))
    }

    pub(super) async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub(super) async fn script(&self, js: &str) -> Value {
        self.post("/execute/sync", json!({"script": js, "args": []}))
            .await
    }

    /// Poll a JS expression until it is truthy.
    pub(super) async fn wait(&self, what: &str, timeout: Duration, expr: &str) {
        let start = Instant::now();
        let js = format!("return !!({expr});");
        while start.elapsed() < timeout {
            if self.script(&js).await == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let text = self.script("return document.body.innerText").await;
        panic!("timed out waiting for {what}; the page says:\n{text}");
    }

    /// Click the element `css` selects. The live region may be re-rendered between
    /// finding and clicking (a stale element): find it again.
    pub(super) async fn click(&self, css: &str) {
        let mut last = Value::Null;
        for _ in 0..10 {
            let found = self
                .try_call(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await;
            let id = match found {
                Ok(el) => el
                    .as_object()
                    .and_then(|o| o.values().next())
                    .and_then(Value::as_str)
                    .unwrap()
                    .to_string(),
                Err(e) => {
                    last = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let path = format!("/element/{id}/click");
            match self
                .try_call(reqwest::Method::POST, &path, Some(json!({})))
                .await
            {
                Ok(_) => return,
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not click {css}: {last}");
    }
}

pub(super) fn decode_base64(text: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let clean: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c) << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    out
}

pub(super) fn wait_file(path: &Path, timeout: Duration) -> String {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(s) = std::fs::read_to_string(path)
            && !s.trim().is_empty()
        {
            return s;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {}", path.display());
}

/// Headless Chromium under chromedriver, with one WebDriver session; both stop when
/// dropped.
pub(super) struct Browser {
    pub driver: Driver,
    _chromedriver: Proc,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub(super) async fn open(chromium: &Path, chromedriver: &Path) -> Browser {
        let port = free_port();
        let _driver = Proc(
            Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let http = reqwest::Client::new();
        let status = format!("http://127.0.0.1:{port}/status");
        let start = Instant::now();
        loop {
            let ready = match http.get(&status).send().await {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .ok()
                    .is_some_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--no-first-run", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.path().display()),
                    "--window-size=1360,1000"
                ]
            }
        }}});
        let res: Value = http
            .post(format!("http://127.0.0.1:{port}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = res["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {res}"))
            .to_string();
        let driver = Driver {
            http: http.clone(),
            base: format!("http://127.0.0.1:{port}/session/{session}"),
        };

        Browser {
            driver,
            _chromedriver: _driver,
            _profile: profile,
        }
    }
}

/// Chromium and chromedriver, when installed.
pub(super) fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    Some((
        find(&[
            "/usr/bin/chromium",
            "/usr/bin/chromium-browser",
            "/usr/bin/google-chrome",
        ])?,
        find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])?,
    ))
}

/// The quickstart's agent slowed to `seconds` a run, and its tickets parked outside the
/// tracker (in the returned folder) until the test moves them back: the page must see
/// them arrive and run live.
pub(super) fn slow_and_parked(scratch: &Scratch, seconds: u32) -> PathBuf {
    let wf = std::fs::read_to_string(scratch.workflow())
        .unwrap()
        .replace(
            "    command: [\"./agent.sh\"]\n",
            &format!(
                "    command: [\"./agent.sh\"]\n    env:\n      KARAJAN_DEMO_DELAY: \"{seconds}\"\n"
            ),
        );
    std::fs::write(scratch.workflow(), wf).unwrap();
    let parked = scratch.path().join("parked");
    std::fs::rename(scratch.path().join("tickets"), &parked).unwrap();
    std::fs::create_dir(scratch.path().join("tickets")).unwrap();
    parked
}

/// A daemon serving `scratch`'s dashboard on a free port, its log printed if the test
/// fails (the log's guard drops first, while the daemon still runs).
pub(super) struct Dashboard {
    _log: LogOnPanic,
    _karajan: Proc,
    /// The sign-in URL `karajan dashboard` prints.
    pub(super) sign_in: String,
    /// `http://127.0.0.1:PORT`.
    pub(super) root: String,
}

pub(super) fn start_dashboard(scratch: &Scratch) -> Dashboard {
    let log = std::fs::File::create(scratch.path().join("karajan.log")).unwrap();
    let karajan = Proc(
        crate::e2e::support::command()
            .args(["run", "workflow.yaml", "--port", "0"])
            .current_dir(scratch.path())
            .env("KARAJAN_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let log = LogOnPanic(scratch.path().join("karajan.log"));
    wait_file(
        &scratch.path().join(".karajan/dashboard.addr"),
        Duration::from_secs(30),
    );
    let out = scratch.karajan(&["dashboard", "workflow.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sign_in = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        sign_in.starts_with("http://127.0.0.1:") && sign_in.contains("/auth?token="),
        "{sign_in}"
    );
    let root = sign_in.split("/auth").next().unwrap().to_string();
    Dashboard {
        _log: log,
        _karajan: karajan,
        sign_in,
        root,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_a_gate_in_headless_chromium() {
    let (Some(chromium), Some(chromedriver)) = (
        find(&[
            "/usr/bin/chromium",
            "/usr/bin/chromium-browser",
            "/usr/bin/google-chrome",
        ]),
        find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]),
    ) else {
        eprintln!(
            "SKIPPED web::browser: Chromium and chromedriver are not installed \
             (apt-get install chromium chromium-driver; .ci/run does this)"
        );
        return;
    };

    // The quickstart with a slow agent; the tickets wait outside the tracker until the
    // page is open, so the page must show them arriving live.
    let scratch = Scratch::quickstart();
    let parked = slow_and_parked(&scratch, 8);
    let dash = start_dashboard(&scratch);
    let (url, root) = (dash.sign_in.clone(), dash.root.clone());

    let b = Browser::open(&chromium, &chromedriver).await;
    let d = &b.driver;

    // Sign in: the token URL sets the cookie and lands on the overview.
    d.post("/url", json!({"url": url})).await;
    let here = d.call(reqwest::Method::GET, "/url", None).await;
    assert_eq!(here.as_str().unwrap(), format!("{root}/"));
    d.wait(
        "the overview",
        Duration::from_secs(10),
        "document.querySelector('#count-running')",
    )
    .await;
    let page = d.script("return document.body.innerText").await;
    assert!(!page.as_str().unwrap().contains("Read-only"), "signed in");
    // A marker that a reload would lose: every later check proves the page updated live.
    d.script("window.__karajan_marker = 42; return null;").await;
    d.wait(
        "the live feed",
        Duration::from_secs(10),
        "document.getElementById('conn').classList.contains('on')",
    )
    .await;

    // The tickets arrive in the tracker; the daemon polls every 5s.
    for entry in std::fs::read_dir(&parked).unwrap() {
        let entry = entry.unwrap();
        std::fs::rename(
            entry.path(),
            scratch.path().join("tickets").join(entry.file_name()),
        )
        .unwrap();
    }
    d.wait(
        "QS-1 running in the page",
        Duration::from_secs(20),
        "window.__karajan_marker === 42 && document.querySelector('#running tr[data-ticket=\"QS-1\"]')",
    )
    .await;
    d.wait(
        "QS-1 waiting at the gate",
        Duration::from_secs(30),
        "window.__karajan_marker === 42 && document.querySelector('#gates tr[data-ticket=\"QS-1\"] button[data-action=\"approve\"]')",
    )
    .await;
    assert_eq!(scratch.column("QS-1"), "Human Review");
    // Click only on a quiet page: while other runs finish, the running table above
    // shrinks and the gates table moves up under the pointer, so a click aimed at QS-1's
    // button could land on the next row's.
    d.wait(
        "every ticket at the gate and nothing running",
        Duration::from_secs(30),
        "window.__karajan_marker === 42 \
         && document.querySelectorAll('#gates tr[data-ticket]').length === 3 \
         && document.querySelectorAll('#running tr[data-ticket]').length === 0",
    )
    .await;

    d.click("#gates tr[data-ticket=\"QS-1\"] button[data-action=\"approve\"]")
        .await;
    d.wait(
        "QS-1 in finalize, approved by the dashboard",
        Duration::from_secs(20),
        "window.__karajan_marker === 42 \
         && document.querySelector('#running tr[data-ticket=\"QS-1\"]') \
         && document.querySelector('#running tr[data-ticket=\"QS-1\"]').innerText.includes('finalize') \
         && document.querySelector('#transitions').innerText.includes('dashboard:browser') \
         && !document.querySelector('#gates tr[data-ticket=\"QS-1\"]')",
    )
    .await;
    assert_eq!(
        scratch.column("QS-1"),
        "In Progress",
        "the tracker file follows"
    );

    let shot = d.call(reqwest::Method::GET, "/screenshot", None).await;
    let png = decode_base64(shot.as_str().unwrap());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let target = std::env::var_os("KARAJAN_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png"));
    std::fs::write(&target, &png).unwrap();
    eprintln!("screenshot: {}", target.display());

    // The finalize run ends the ticket: Done in the tracker and in the page.
    let start = Instant::now();
    while scratch.column("QS-1") != "Done" {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "QS-1 never reached Done"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    d.wait(
        "QS-1 done in the page",
        Duration::from_secs(20),
        "window.__karajan_marker === 42 && [...document.querySelectorAll('#transitions tr')].some(r => r.innerText.includes('QS-1') && r.innerText.includes('done'))",
    )
    .await;
    let db = scratch.db();
    let events = tokio::task::spawn_blocking(move || crate::e2e::support::events(&db))
        .await
        .unwrap();
    let approved = events.iter().any(|(k, i, p)| {
        k == "transition"
            && i.as_deref() == Some("QS-1")
            && p["actor"] == "dashboard:browser"
            && p["to"] == "finalize"
    });
    assert!(approved, "the store records the approval with its actor");
    let _ = d.call(reqwest::Method::DELETE, "", None).await;
}
