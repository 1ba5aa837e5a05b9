//! SIGKILL of the daemon mid-run, then a restart: each interrupted run is found, its
//! orphaned process group is stopped, and it is retried exactly once; no ticket ever
//! has two agents; no process is left behind; the chain verifies.

use std::process::Stdio;
use std::time::Duration;

use super::support::{Scratch, count, events, processes_with_env, wait_for};

#[test]
fn sigkill_mid_run_then_restart_retries_once_without_orphans() {
    let s = Scratch::quickstart();
    let root = s.path().display().to_string();
    // An agent that logs its life, detects overlap with a lock directory, leaves a
    // grandchild sleeping in its group, and is fast once the `fast` file exists.
    s.script(
        "slow.sh",
        &format!(
            r#"#!/bin/sh
cat > /dev/null
log="{root}/agent-life.log"
lock="{root}/$KARAJAN_ISSUE.lock"
echo "start $KARAJAN_ISSUE $KARAJAN_RUN_ID $$" >> "$log"
if ! mkdir "$lock" 2>/dev/null; then echo "OVERLAP $KARAJAN_ISSUE" >> "$log"; fi
if [ -e "{root}/fast" ]; then rmdir "$lock"; echo "end $KARAJAN_ISSUE" >> "$log"; exit 0; fi
trap 'rmdir "$lock"; echo "term $KARAJAN_ISSUE" >> "$log"; exit 143' TERM
sleep 1000 &
wait
"#
        ),
    );
    let wf = std::fs::read_to_string(s.workflow()).unwrap();
    std::fs::write(
        s.workflow(),
        wf.replace("[\"./agent.sh\"]", "[\"./slow.sh\"]"),
    )
    .unwrap();

    let mut daemon = crate::e2e::support::command()
        .args(["run", "workflow.yaml", "--no-watch"])
        .current_dir(s.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let db = s.db();
    wait_for("three spawned runs", Duration::from_secs(30), || {
        events(&db)
            .iter()
            .filter(|(k, _, _)| k == "run_spawned")
            .count()
            == 3
    });
    daemon.kill().unwrap(); // SIGKILL: no chance to clean up
    daemon.wait().unwrap();
    let needle = format!("KARAJAN_LOG_DIR={root}");
    assert!(
        !processes_with_env(&needle).is_empty(),
        "the agents outlive a SIGKILLed daemon (they are orphans now)"
    );

    std::fs::write(s.path().join("fast"), "").unwrap();
    s.once();

    assert!(processes_with_env(&needle).is_empty(), "no orphan is left");
    let life = std::fs::read_to_string(s.path().join("agent-life.log")).unwrap();
    assert!(
        !life.contains("OVERLAP"),
        "two agents on one ticket:\n{life}"
    );
    let all = events(&db);
    for id in ["QS-1", "QS-2", "QS-3"] {
        let starts = life
            .lines()
            .filter(|l| l.starts_with(&format!("start {id} ")))
            .count();
        assert_eq!(
            starts, 2,
            "{id} ran once, then was retried exactly once:\n{life}"
        );
        assert!(
            life.contains(&format!("term {id}")),
            "{id}'s orphan got SIGTERM first:\n{life}"
        );
        assert_eq!(count(&all, "run_orphaned", id), 1);
        assert_eq!(count(&all, "run_started", id), 2);
        assert_eq!(s.column(id), "Human Review");
    }
    let orphaned: Vec<_> = all.iter().filter(|(k, _, _)| k == "run_orphaned").collect();
    assert!(
        orphaned.iter().all(|(_, _, p)| p["killed"] == true),
        "{orphaned:?}"
    );
    let interrupted = all
        .iter()
        .filter(|(k, _, p)| k == "run_finished" && p["status"] == "interrupted")
        .count();
    assert_eq!(interrupted, 3);
    let out = s.karajan(&["verify", "workflow.yaml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
