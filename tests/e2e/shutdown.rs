//! A graceful stop (SIGTERM) stops every live agent at once: all get SIGTERM before any
//! has finished its grace, so stopping N agents takes one grace period, not N
//! (issue 11: shutdown stops all runs in parallel).

use std::time::Duration;

use super::single_daemon::{daemon, sigterm, wait_output};
use super::support::{Scratch, wait_for};

#[test]
fn sigterm_reaches_every_agent_before_any_has_stopped() {
    let s = Scratch::quickstart();
    let stops = s.path().join("stops.log");
    // Each agent takes a second to stop gracefully after SIGTERM, and says when it got
    // the signal and when it left.
    s.script(
        "slow-stop.sh",
        "#!/bin/sh\ncat >/dev/null\ntrap 'echo \"term $KARAJAN_ISSUE\" >> \"$STOPS\"; sleep 1; echo \"exit $KARAJAN_ISSUE\" >> \"$STOPS\"; exit 1' TERM\ntouch \"$STOPS.ready-$KARAJAN_ISSUE\"\nwhile :; do sleep 0.1; done\n",
    );
    let wf = std::fs::read_to_string(s.workflow()).unwrap().replacen(
        "command: [\"./agent.sh\"]",
        &format!(
            "command: [\"./slow-stop.sh\"]\n    env:\n      STOPS: \"{}\"",
            stops.display()
        ),
        1,
    );
    std::fs::write(s.workflow(), wf).unwrap();
    let d = daemon(&s, "daemon", &[]);
    wait_for("three agents", Duration::from_secs(30), || {
        ["QS-1", "QS-2", "QS-3"]
            .iter()
            .all(|id| s.path().join(format!("stops.log.ready-{id}")).exists())
    });
    sigterm(&d);
    let out = wait_output(d.take(), Duration::from_secs(30)).expect("stops on SIGTERM");
    assert!(out.status.success());
    let log = std::fs::read_to_string(&stops).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 6, "{log}");
    let first_exit = lines.iter().position(|l| l.starts_with("exit")).unwrap();
    assert_eq!(
        first_exit, 3,
        "every agent got SIGTERM before any finished stopping:\n{log}"
    );
}
