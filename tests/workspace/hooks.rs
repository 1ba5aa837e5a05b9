//! `run_hook`: exit status, environment, output tail and timeout.

use std::time::{Duration, Instant};

use karajan::workspace::{TAIL_BYTES, run_hook};

fn env() -> Vec<(String, String)> {
    vec![
        ("PATH".into(), "/usr/bin:/bin".into()),
        ("KARAJAN_ISSUE".into(), "ENG-1".into()),
    ]
}

#[tokio::test]
async fn successful_hook_sees_cwd_and_env_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let r = run_hook(
        "after_create",
        "echo \"issue=$KARAJAN_ISSUE home=${HOME:-unset}\"; pwd; echo warn >&2; touch made",
        dir.path(),
        &env(),
        Duration::from_secs(5),
    )
    .await;
    assert!(r.ok, "{r:?}");
    assert_eq!(r.name, "after_create");
    assert_eq!(r.exit_code, Some(0));
    assert!(!r.timed_out);
    assert!(
        r.output_tail.contains("issue=ENG-1 home=unset"),
        "{}",
        r.output_tail
    );
    assert!(r.output_tail.contains("warn"));
    let real = dir.path().canonicalize().expect("canon");
    assert!(r.output_tail.contains(&real.display().to_string()));
    assert!(dir.path().join("made").exists());
}

#[tokio::test]
async fn failing_hook_reports_exit_code_and_tail() {
    let dir = tempfile::tempdir().expect("tmp");
    let r = run_hook(
        "before_run",
        "i=0; while [ $i -lt 500 ]; do echo \"line $i\"; i=$((i+1)); done; echo 'boom' >&2; exit 4",
        dir.path(),
        &env(),
        Duration::from_secs(5),
    )
    .await;
    assert!(!r.ok);
    assert_eq!(r.exit_code, Some(4));
    assert!(!r.timed_out);
    assert!(r.output_tail.len() <= TAIL_BYTES);
    assert!(r.output_tail.contains("line 499"));
    assert!(!r.output_tail.contains("line 1\n"));
}

#[tokio::test]
async fn hook_timeout_kills_the_group() {
    let dir = tempfile::tempdir().expect("tmp");
    let started = Instant::now();
    let r = run_hook(
        "before_run",
        "sleep 1000 & echo $! > child.pid; echo started; sleep 1000",
        dir.path(),
        &env(),
        Duration::from_millis(500),
    )
    .await;
    assert!(!r.ok);
    assert!(r.timed_out);
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(r.output_tail.contains("started"));
    let pid: u32 = std::fs::read_to_string(dir.path().join("child.pid"))
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert!(
        !crate::agent::conformance::alive(pid),
        "hook grandchild survived"
    );
}

#[tokio::test]
async fn missing_cwd_is_a_failed_hook_not_a_panic() {
    let r = run_hook(
        "on_stage_enter",
        "true",
        std::path::Path::new("/nonexistent/karajan"),
        &env(),
        Duration::from_secs(1),
    )
    .await;
    assert!(!r.ok);
    assert!(
        r.output_tail.contains("could not start"),
        "{}",
        r.output_tail
    );
}
