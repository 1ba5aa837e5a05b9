//! Crash-recovery helpers of `agent::process`: `kill_orphan_group` and `group_alive`.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use karajan::agent::process::{group_alive, kill_orphan_group};

use super::conformance::alive;

/// A group leader (`sh`) with a `sleep` child, as a previous daemon would have left it.
fn orphan_group(run_id: Option<&str>) -> Child {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "sleep 1000 & sleep 1000"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    if let Some(id) = run_id {
        cmd.env("KARAJAN_RUN_ID", id);
    }
    cmd.spawn().expect("spawn")
}

#[tokio::test]
async fn kills_a_group_that_carries_the_run_id() {
    let mut leader = orphan_group(Some("run-orphan-1"));
    let pgid = leader.id();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(group_alive(pgid));
    assert!(kill_orphan_group(pgid, "run-orphan-1", Duration::from_millis(500)).await);
    assert!(!group_alive(pgid));
    assert!(!alive(pgid));
    let status = leader.wait().expect("reap");
    assert!(!status.success());
}

#[tokio::test]
async fn refuses_a_group_without_the_run_id() {
    let mut other = orphan_group(None);
    let mut wrong = orphan_group(Some("run-someone-else"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    for child in [&other, &wrong] {
        let pgid = child.id();
        assert!(!kill_orphan_group(pgid, "run-orphan-2", Duration::from_millis(200)).await);
        assert!(
            group_alive(pgid),
            "a group that is not ours must be left alone"
        );
    }
    for child in [&mut other, &mut wrong] {
        child.kill().expect("kill");
        child.wait().expect("reap");
        // The leader's sleep child is in the same group: clean it up too.
        assert!(force_kill_group(child.id()).await);
    }
}

async fn force_kill_group(pgid: u32) -> bool {
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    for _ in 0..100 {
        if !group_alive(pgid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn nothing_to_kill_for_a_dead_group() {
    let mut leader = orphan_group(Some("run-gone"));
    let pgid = leader.id();
    assert!(force_kill_group(pgid).await);
    leader.wait().expect("reap");
    assert!(!kill_orphan_group(pgid, "run-gone", Duration::from_millis(100)).await);
}
