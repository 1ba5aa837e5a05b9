//! The operator's verbs (issue 15, item 1) with the real binary: `approve`, `rework`,
//! `pause`, `resume` and `refresh` act through a running daemon's API (and say so
//! plainly when none runs, or when the one recorded no longer answers); `logs` and
//! `runs` read the store and the log files, with a daemon and without one; `logs -f`
//! follows a live run to its end.

use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::single_daemon::Daemon;
use super::support::{Scratch, events, stderr, stdout, wait_for};

fn runs(s: &Scratch, ticket: &str) -> Vec<Value> {
    let out = s.karajan(&["runs", "--ticket", ticket, "--json"]);
    serde_json::from_str::<Value>(&stdout(&out))
        .map(|v| v["runs"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
}

fn phases(s: &Scratch) -> Vec<String> {
    let out = s.karajan(&["status", "--json"]);
    serde_json::from_str::<Value>(&stdout(&out))
        .map(|v| {
            v["tickets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| format!("{} {}", t["identifier"], t["phase"]))
                .collect()
        })
        .unwrap_or_default()
}

fn failing(out: &Output, code: i32, says: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", stderr(out));
    assert!(
        stderr(out).contains(says),
        "wanted {says:?} in: {}",
        stderr(out)
    );
}

#[test]
fn the_verbs_act_through_the_daemon_and_read_without_it() {
    let s = Scratch::quickstart();
    // No daemon: the verbs that act say so.
    for args in [&["approve", "QS-1"][..], &["pause"][..], &["refresh"][..]] {
        failing(&s.karajan(args), 1, "no karajan daemon is serving");
    }
    // The demo agent waits this long between its two output lines.
    let wf = std::fs::read_to_string(s.workflow()).unwrap().replacen(
        "command: [\"./agent.sh\"]",
        "command: [\"./agent.sh\"]\n    env:\n      KARAJAN_DEMO_DELAY: \"2\"",
        1,
    );
    std::fs::write(s.workflow(), wf).unwrap();
    let log = std::fs::File::create(s.path().join("daemon.stderr")).unwrap();
    let daemon = Daemon::from(
        crate::e2e::support::command()
            .args(["run", "--no-watch", "--port", "0"])
            .current_dir(s.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_for("three tickets at the gate", Duration::from_secs(60), || {
        phases(&s)
            .iter()
            .filter(|p| p.ends_with("\"waiting\""))
            .count()
            == 3
    });
    assert!(s.path().join(".karajan/dashboard.addr").is_file());

    let out = s.karajan(&["approve", "QS-1", "--actor", "tester"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "QS-1: approved by tester: review → finalize"
    );
    let recorded = events(&s.db()).into_iter().any(|(k, i, p)| {
        k == "transition" && i.as_deref() == Some("QS-1") && p["actor"] == "dashboard:tester"
    });
    assert!(recorded, "the approval is recorded with its actor");

    // `logs -f` follows the finalize run while it is live, to its end.
    wait_for("the finalize run", Duration::from_secs(30), || {
        runs(&s, "QS-1").len() == 2
    });
    assert_eq!(runs(&s, "QS-1")[1]["outcome"], "running", "still live");
    let out = s.karajan(&["logs", "QS-1", "-f"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("\"type\":\"session\""), "{text}");
    assert!(
        text.contains("edited notes/QS-1.md"),
        "followed to the end: {text}"
    );
    assert_eq!(runs(&s, "QS-1")[1]["outcome"], "succeeded");

    failing(
        &s.karajan(&["approve", "QS-1", "--actor", "someone-else"]),
        1,
        "not waiting for a human decision",
    );
    failing(&s.karajan(&["approve", "NOPE-1"]), 1, "no ticket `NOPE-1`");
    failing(&s.karajan(&["rework", "QS-3", "-m", " "]), 2, "-m FEEDBACK");

    let out = s.karajan(&[
        "rework",
        "QS-2",
        "-m",
        "cover the error path",
        "--actor",
        "tester",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("QS-2: sent back for rework by tester: review → implement"));
    let feedback = events(&s.db()).into_iter().any(|(k, i, p)| {
        k == "transition" && i.as_deref() == Some("QS-2") && p["feedback"] == "cover the error path"
    });
    assert!(feedback, "the feedback is recorded");

    for (args, says) in [
        (&["pause"][..], "dispatch paused (running agents go on)"),
        (&["resume"][..], "dispatch resumed"),
        (&["refresh"][..], "refresh queued"),
    ] {
        let out = s.karajan(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).starts_with(says), "{args:?}: {}", stdout(&out));
    }

    // A daemon killed outright leaves its address behind: nobody answers there.
    let mut child = daemon.take();
    child.kill().unwrap();
    child.wait().unwrap();
    failing(
        &s.karajan(&["approve", "QS-3"]),
        1,
        "no karajan daemon answers at",
    );

    // Reading needs no daemon.
    let out = s.karajan(&["logs", "QS-1", "--run", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("edited notes/QS-1.md"));
    failing(
        &s.karajan(&["logs", "QS-1", "--run", "7"]),
        1,
        "no run 7: it has runs 1 to 2",
    );
    failing(&s.karajan(&["logs", "NOPE-1"]), 1, "no runs in the store");
    let out = s.karajan(&["runs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("finalize"), "{}", stdout(&out));
}
