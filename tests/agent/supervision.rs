//! The end of a supervised run in a subreaper (as the daemon runs): no full `/proc`
//! scan on the normal path, and an escaped (`setsid`) descendant is still found among
//! the adopted children and stopped.
//!
//! Becoming a subreaper changes the whole process (adopted zombies get reaped), which
//! would disturb the other tests of this binary, so each check re-runs this test
//! binary with only itself selected and `KARAJAN_TEST_SUBREAPER_CHILD` set; the child
//! does the work and the parent asserts that it passed.

use std::time::Duration;

use karajan::agent::process::{Ending, Observer, ProcessSpec, Stream, supervise};
use karajan::agent::reap;
use tokio_util::sync::CancellationToken;

use super::conformance::alive;

const CHILD: &str = "KARAJAN_TEST_SUBREAPER_CHILD";

/// Run `test` (this module's test of that name) in a fresh process of this binary.
fn in_child_process(test: &str) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let name = format!("agent::supervision::{test}");
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("re-run the test binary");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{test} failed in its own process:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

struct Lines(Vec<String>);

impl Observer for Lines {
    fn line(&mut self, _stream: Stream, line: &[u8]) {
        self.0.push(String::from_utf8_lossy(line).into_owned());
    }
}

fn spec(run_id: &str, script: &str) -> ProcessSpec {
    ProcessSpec {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        env: vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("KARAJAN_RUN_ID".into(), run_id.into()),
        ],
        cwd: std::env::temp_dir(),
        stdin: vec![],
        log_dir: None,
        stall_timeout: None,
        turn_timeout: Some(Duration::from_secs(30)),
        grace: Duration::from_secs(2),
    }
}

#[tokio::test]
async fn a_normal_run_end_scans_no_proc() {
    if !in_child_process("a_normal_run_end_scans_no_proc") {
        return;
    }
    reap::become_subreaper();
    let mut lines = Lines(vec![]);
    let before = reap::full_proc_scans();
    // Unique per process: another test run on the machine (a second checkout's suite)
    // must not be found by this run's scan.
    let run = format!("run-quiet-{}", std::process::id());
    let exit = supervise(
        spec(&run, "echo hello; sleep 0.1 & wait"),
        &mut lines,
        CancellationToken::new(),
    )
    .await
    .expect("supervise");
    let scans = reap::full_proc_scans() - before;
    assert_eq!(exit.ending, Ending::Exited);
    assert_eq!(exit.exit_code, Some(0));
    assert_eq!(lines.0, ["hello"]);
    assert_eq!(scans, 0, "full /proc scans at the end of a normal run");
    // The control: the full scan is counted, and finds nothing of the run.
    assert!(reap::run_processes(&run).is_empty());
    assert_eq!(reap::full_proc_scans() - before, 1);
}

#[tokio::test]
async fn an_escaped_descendant_is_found_among_the_adopted_and_stopped() {
    if !in_child_process("an_escaped_descendant_is_found_among_the_adopted_and_stopped") {
        return;
    }
    reap::become_subreaper();
    let mut lines = Lines(vec![]);
    // The helper leaves the group and session, the agent exits: the helper is adopted.
    let script = "setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $!; sleep 0.3";
    let run = format!("run-escape-{}", std::process::id());
    let exit = supervise(spec(&run, script), &mut lines, CancellationToken::new())
        .await
        .expect("supervise");
    assert_eq!(exit.ending, Ending::Exited);
    let helper: u32 = lines.0[0].parse().expect("helper pid");
    // Stopped: on a loaded machine its end may take a moment to show (it sleeps for
    // 1000 s, so only the stop can end it).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while alive(helper) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // What the kernel says of the helper, for a failure's message.
    let stat = || std::fs::read_to_string(format!("/proc/{helper}/stat")).unwrap_or_default();
    assert!(
        !alive(helper),
        "the escaped helper {helper} survived the run: {}",
        stat()
    );
    assert!(reap::run_processes(&run).is_empty(), "{}", stat());
    // Reaped, not left a zombie of ours.
    assert!(
        !std::path::Path::new(&format!("/proc/{helper}")).exists(),
        "the helper is left unreaped: {}",
        stat()
    );
}
