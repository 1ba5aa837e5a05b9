//! The ticket's pull request seen everywhere, with the real binary on the fake GitHub:
//! after the run that opened it, `karajan status` and `history` name it, the daemon's
//! JSON API carries it (`pull_request: {repo, number, url}` on the ticket and on its
//! row of the read model), the dashboard links it (overview and ticket page), and the
//! rework run's prompt tells the agent which pull request it works on, both through a
//! template using `pull_request` and in karajan's lifecycle section.

use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::fake::TOKEN;
use super::pr_scratch::PrScratch;
use super::scratch::TOKEN_VAR;
use crate::e2e::support::{events, wait_for};

/// The daemon, stopped (SIGTERM, then SIGKILL) when dropped.
pub(super) struct Daemon(pub(super) Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.0.id()).unwrap());
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..100 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `karajan run` (not `--once`) on `p` with its dashboard on a free port.
pub(super) fn daemon(p: &PrScratch) -> (Daemon, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = crate::e2e::support::command()
        .args([
            "run",
            "workflow.yaml",
            "--no-watch",
            "--port",
            &port.to_string(),
        ])
        .current_dir(p.s.path())
        .env(TOKEN_VAR, TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Daemon(child), port)
}

/// `GET http://127.0.0.1:port{path}`: the body of a 200 answer.
pub(super) fn get(port: u16, path: &str) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let reply = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}{path}"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        if reply.status() != reqwest::StatusCode::OK {
            return None;
        }
        reply.text().await.ok()
    })
}

/// The `prompt.md` of every run of `state`, oldest first.
fn prompts(p: &PrScratch, state: &str) -> Vec<String> {
    events(&p.db())
        .iter()
        .filter(|(k, _, e)| k == "run_started" && e["state"] == state)
        .map(|(_, _, e)| {
            let dir = std::path::PathBuf::from(e["log_dir"].as_str().unwrap());
            std::fs::read_to_string(dir.join("prompt.md")).unwrap()
        })
        .collect()
}

#[test]
fn the_pull_request_is_seen_in_status_history_api_dashboard_and_the_rework_prompt() {
    let p = PrScratch::new();
    let prompt = p.s.path().join("prompts/implement.md");
    let mut text = std::fs::read_to_string(&prompt).unwrap();
    text.push_str(
        "\n{% if pull_request %}Your pull request: #{{ pull_request.number }} at {{ pull_request.url }}{% else %}No pull request yet.{% endif %}\n",
    );
    std::fs::write(&prompt, text).unwrap();
    p.s.add_issue(1, "Add a greeting", "Todo");
    p.s.once();
    let pulls = p.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let number = pulls[0].number;
    let url = format!("https://github.com/acme/app/pull/{number}");

    let status = p.s.karajan(&["status", "workflow.yaml"]);
    let out = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{out}");
    let line = out
        .lines()
        .skip_while(|l| !l.contains("acme/app#1"))
        .nth(1)
        .unwrap_or_default();
    assert_eq!(
        line.trim(),
        format!("pull request #{number}: {url}"),
        "{out}"
    );
    let history = p.s.karajan(&["history", "acme/app#1"]);
    let out = String::from_utf8_lossy(&history.stdout);
    assert!(
        out.contains("pull_request_opened") && out.contains(&format!("#{number} opened {url}")),
        "{out}"
    );

    let (daemon, port) = daemon(&p);
    let mut state = Value::Null;
    wait_for("the read model", Duration::from_secs(30), || {
        state = get(port, "/api/v1/state")
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or_default();
        state["gates"].as_array().is_some_and(|g| !g.is_empty())
    });
    let head = git2::Repository::open_bare(p.s.path().join("served/acme/app.git"))
        .unwrap()
        .find_reference(&format!("refs/heads/{}", p.pulls()[0].head_ref))
        .unwrap()
        .target()
        .unwrap()
        .to_string();
    let expected = serde_json::json!({"repo": "acme/app", "number": number, "url": url,
        "head": head, "merged": false});
    assert_eq!(state["gates"][0]["pull_request"], expected, "{state}");
    let issue: Value =
        serde_json::from_str(&get(port, "/api/v1/issues/acme%2Fapp%231").unwrap()).unwrap();
    assert_eq!(issue["pull_request"], expected, "{issue}");
    // As MiniJinja's HTML escaping writes it (`/` as `&#x2f;`).
    let href = url.replace('/', "&#x2f;");
    let link = format!("<a href=\"{href}\" rel=\"noreferrer noopener\">#{number}</a>");
    let overview = get(port, "/").unwrap();
    assert!(overview.contains(&link), "{overview}");
    let page = get(port, "/tickets/acme%2Fapp%231").unwrap();
    assert!(page.contains(&format!("pull request {link}")), "{page}");
    drop(daemon);

    // The first run had no pull request yet; the rework run is told which one it updates.
    p.s.human_move(1, "Rework");
    p.s.once();
    let runs = prompts(&p, "implement");
    assert_eq!(runs.len(), 2);
    assert!(runs[0].contains("No pull request yet."), "{}", runs[0]);
    assert!(!runs[0].contains("- Pull request:"), "{}", runs[0]);
    assert!(
        runs[1].contains(&format!("Your pull request: #{number} at {url}")),
        "{}",
        runs[1]
    );
    assert!(
        runs[1].contains(&format!(
            "- Pull request: #{number} {url} (your pushes to its branch update it)"
        )),
        "{}",
        runs[1]
    );
}
