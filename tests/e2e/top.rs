//! `karajan top` / `status --watch` (issue 15, item 3) without a terminal: plain-text
//! frames of the running daemon's view, `-n` of them, showing a live run with its
//! elapsed time and the gates waiting; without a daemon it says so. And on a terminal
//! (a tmux pane): the drawn view, approving a gate and pausing with its keys.

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
    let daemon = start(&s);
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

/// The quickstart with a daemon on a free port, QS-1's agent sleeping (so it is seen
/// running) and the two others at the gate.
fn start(s: &Scratch) -> Daemon {
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
        crate::e2e::support::command()
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
    daemon
}

/// Run tmux on a socket of our own (never the user's server).
fn tmux(socket: &str, args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(["-L", socket])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn on_a_terminal_top_draws_the_view_and_its_keys_act() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    let s = Scratch::quickstart();
    let daemon = start(&s);
    let socket = format!("karajan-top-{}", std::process::id());
    let cmd = format!("{} top --interval 200ms", bin().display());
    tmux(
        &socket,
        &[
            "new-session",
            "-d",
            "-x",
            "150",
            "-y",
            "40",
            "-c",
            s.path().to_str().unwrap(),
            &cmd,
        ],
    );
    let screen = || tmux(&socket, &["capture-pane", "-p"]);
    wait_for("the drawn view", Duration::from_secs(20), || {
        screen().contains("gates waiting (2)")
    });
    let view = screen();
    assert!(view.contains("karajan top — "), "{view}");
    assert!(view.contains("running (1)"), "{view}");
    assert!(
        view.contains("a approve  r rework  p pause/resume"),
        "{view}"
    );
    // The running QS-1 is selected first; one down is the first gate.
    tmux(&socket, &["send-keys", "j"]);
    tmux(&socket, &["send-keys", "a"]);
    wait_for("the approval's answer", Duration::from_secs(20), || {
        screen().contains("approved by")
    });
    assert!(screen().contains("review → finalize"), "{}", screen());
    tmux(&socket, &["send-keys", "p"]);
    wait_for("dispatch paused", Duration::from_secs(20), || {
        screen().contains("dispatch PAUSED")
    });
    tmux(&socket, &["send-keys", "q"]);
    wait_for("top to quit", Duration::from_secs(10), || {
        tmux(&socket, &["list-sessions"]).is_empty()
    });
    tmux(&socket, &["kill-server"]);
    sigterm(&daemon);
    assert!(wait_output(daemon.take(), Duration::from_secs(20)).is_some());
}
