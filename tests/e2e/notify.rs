//! Notifications from the real binary: a ticket whose run fails escalates on the
//! quickstart, and a local HTTP sink (axum on 127.0.0.1:0) receives the escalation as
//! a generic webhook (after a refused first attempt: retried, the outcome recorded)
//! and as Slack's `{"text": …}`, with no secret in either and no URL in the record.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

use super::support::{Scratch, command, events};

const TOKEN: &str = "s3cr3t/ab+cd&e<f>g=";

/// What the sink received, by path; `/hook` answers 500 to its first post.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<(String, Value)>>>);

fn start_sink() -> (String, Sink) {
    let sink = Sink::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let state = sink.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let save = |path: &'static str| {
                move |State(s): State<Sink>, Json(body): Json<Value>| async move {
                    let mut got = s.0.lock().unwrap();
                    let first = !got.iter().any(|(p, _)| p == path);
                    got.push((path.to_string(), body));
                    if path == "/hook" && first {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                }
            };
            let app = axum::Router::new()
                .route("/hook", post(save("/hook")))
                .route("/slack", post(save("/slack")))
                .with_state(state);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    (format!("http://{addr}"), sink)
}

#[test]
fn an_escalation_reaches_the_webhook_after_a_retry_and_slack_without_a_secret() {
    let (base, sink) = start_sink();
    let s = Scratch::quickstart();
    for f in ["QS-2", "QS-3"] {
        std::fs::remove_file(s.path().join(format!("tickets/{f}.md"))).unwrap();
    }
    s.script(
        "leaky.sh",
        "#!/bin/sh\ncat >/dev/null\necho \"request with $TOKEN was refused\" >&2\nexit 1\n",
    );
    let wf = std::fs::read_to_string(s.workflow())
        .unwrap()
        .replacen(
            "command: [\"./agent.sh\"]",
            "command: [\"./leaky.sh\"]\n    env:\n      TOKEN: $KARAJAN_TEST_TOKEN",
            1,
        )
        .replacen("max_attempts: 3", "max_attempts: 1", 1);
    let wf = format!(
        "{wf}\nnotify:\n  targets:\n    ops:\n      kind: webhook\n      url: $KARAJAN_TEST_HOOK\n    team:\n      kind: slack\n      url: $KARAJAN_TEST_SLACK\n      events: [escalated]\n"
    );
    std::fs::write(s.workflow(), wf).unwrap();
    let (hook, slack) = (format!("{base}/hook"), format!("{base}/slack"));
    let run = command()
        .args(["run", "workflow.yaml", "--once"])
        .current_dir(s.path())
        .env("KARAJAN_LOG", "debug")
        .env("KARAJAN_TEST_TOKEN", TOKEN)
        .env("KARAJAN_TEST_HOOK", &hook)
        .env("KARAJAN_TEST_SLACK", &slack)
        .output()
        .unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(run.status.code(), Some(6), "the ticket escalates: {logs}");

    let got = sink.0.lock().unwrap().clone();
    let bodies = |path: &str| -> Vec<Value> {
        got.iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    };
    let hooks = bodies("/hook");
    // The escalation twice (refused, then accepted), then the daemon's stop.
    let kinds: Vec<&str> = hooks.iter().map(|b| b["event"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["escalated", "escalated", "daemon_stopped"],
        "{hooks:?}"
    );
    assert_eq!(hooks[1]["ticket"], "QS-1");
    assert!(
        hooks[1]["text"]
            .as_str()
            .unwrap()
            .starts_with("QS-1 needs a human decision"),
        "{hooks:?}"
    );
    let slacks = bodies("/slack");
    assert_eq!(slacks.len(), 1, "only the events it asked for: {slacks:?}");
    let text = slacks[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("karajan: QS-1 needs a human decision"),
        "{text}"
    );
    assert_eq!(
        slacks[0].as_object().unwrap().len(),
        1,
        "Slack's shape: text only"
    );
    assert!(
        text.contains("[redacted]"),
        "the reason is quoted, blanked: {text}"
    );

    let all = events(&s.db());
    // Targets deliver independently: their outcomes interleave in any order.
    let mut outcomes: Vec<String> = all
        .iter()
        .filter(|(k, _, _)| k.starts_with("notification_"))
        .map(|(k, _, p)| format!("{k} {} {} {}", p["target"], p["event"], p["attempts"]))
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            r#"notification_sent "ops" "daemon_stopped" 1"#,
            r#"notification_sent "ops" "escalated" 2"#,
            r#"notification_sent "team" "escalated" 1"#,
        ]
    );

    let chain = serde_json::to_string(&all).unwrap();
    let sent = serde_json::to_string(&got).unwrap();
    for (surface, text) in [
        ("the payloads", &sent),
        ("the record", &chain),
        ("the log", &logs),
    ] {
        assert!(!text.contains(TOKEN), "the secret is in {surface}: {text}");
    }
    for (surface, text) in [("the record", &chain), ("the log", &logs)] {
        assert!(
            !text.contains(&hook) && !text.contains(&slack),
            "a target URL is in {surface}"
        );
    }
}
