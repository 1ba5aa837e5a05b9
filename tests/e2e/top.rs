//! `karajan top` / `status --watch` (issue 15, item 3) without a terminal: plain-text
//! frames of the running daemon's view, `-n` of them, showing a live run with its
//! elapsed time and the gates waiting; without a daemon it says so.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::single_daemon::{Daemon, sigterm, wait_output};
use super::support::{Scratch, bin, stderr, stdout, wait_for};

#[test]
fn top_prints_plain_frames_when_stdout_is_not_a_terminal() {
    let s = Scratch::quickstart();
    let out = s.karajan(&["top", "-n", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no karajan daemon is serving"),
        "{}",
        stderr(&out)
    );
    // QS-1's agent runs long enough to be seen running; the others reach the gate.
    s.script(
        "picky.sh",
        "#!/bin/sh\nif [ \"$KARAJAN_ISSUE\" = QS-1 ]; then cat > /dev/null; exec sleep 30; fi\nexec \"$(dirname \"$0\")/agent.sh\"\n",
    );
    let wf = std::fs::read_to_string(s.workflow()).unwrap().replacen(
        "[\"./agent.sh\"]",
        "[\"./picky.sh\"]",
        1,
    );
    std::fs::write(s.workflow(), wf).unwrap();
    let daemon = Daemon::from(
        Command::new(bin())
            .args(["run", "--no-watch", "--port", "0"])
            .current_dir(s.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let frame = || stdout(&s.karajan(&["top", "-n", "1"]));
    wait_for("two tickets at the gate", Duration::from_secs(60), || {
        frame().contains("gates waiting (2)")
    });
    let out = s.karajan(&["top", "-n", "2", "--interval", "100ms"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.matches("karajan top — ").count(),
        2,
        "two frames: {text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no escape sequences in plain text: {text}"
    );
    let first = text.split("\n\n").next().unwrap();
    let running = first
        .lines()
        .find(|l| l.contains("QS-1"))
        .unwrap_or_default();
    assert!(first.contains("running (1):"), "{first}");
    assert!(
        running.contains("implement") && running.contains("tokens in 0 out 0"),
        "{first}"
    );
    assert!(
        running.trim_end().ends_with('-') || running.contains('$'),
        "cost column: {running}"
    );
    for section in [
        "running (1)",
        "gates waiting (2):",
        "retries (0):",
        "held (0):",
        "recent transitions (",
    ] {
        assert!(first.contains(section), "{section}: {first}");
    }
    assert!(first.contains("dispatch active"), "{first}");
    for id in ["QS-2", "QS-3"] {
        assert!(
            first
                .lines()
                .any(|l| l.contains(id) && l.contains("review") && l.contains("waiting")),
            "{id}: {first}"
        );
    }
    let out = s.karajan(&["status", "--watch", "-n", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("karajan top — "),
        "{}",
        stdout(&out)
    );
    // A graceful stop ends the sleeping agent too.
    sigterm(&daemon);
    assert!(wait_output(daemon.take(), Duration::from_secs(20)).is_some());
}
