//! One daemon per store (issue 9, point 1): a second `karajan run` (or `--once`) on the
//! same store is refused at once with exit 1 and names the running daemon; two started
//! together on a fresh store leave exactly one running; the read-only verbs keep
//! working beside a running daemon. All driven from outside, with the real binary.

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::support::{Scratch, events, stderr, wait_for};

/// A running daemon, SIGKILLed if the test fails before stopping it (so a failing test
/// leaves no daemon behind).
pub(crate) struct Daemon(Option<Child>);

impl Daemon {
    pub(crate) fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("running")
    }

    pub(crate) fn id(&self) -> u32 {
        self.0.as_ref().expect("running").id()
    }

    pub(crate) fn take(mut self) -> Child {
        self.0.take().expect("running")
    }
}

impl From<Child> for Daemon {
    fn from(child: Child) -> Daemon {
        Daemon(Some(child))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A daemon whose stderr goes to `<name>.stderr` in the scratch folder (a pipe nobody
/// reads would block a chatty daemon).
pub(crate) fn daemon(s: &Scratch, name: &str, extra: &[&str]) -> Daemon {
    let log = std::fs::File::create(s.path().join(format!("{name}.stderr"))).unwrap();
    let child = crate::e2e::support::command()
        .args(["run", "workflow.yaml", "--no-watch"])
        .args(extra)
        .current_dir(s.path())
        .env("KARAJAN_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Daemon(Some(child))
}

pub(crate) fn daemon_stderr(s: &Scratch, name: &str) -> String {
    std::fs::read_to_string(s.path().join(format!("{name}.stderr"))).unwrap_or_default()
}

/// Wait for `child` up to `limit`; `None` (and the child killed) when it is still running.
pub(crate) fn wait_output(mut child: Child, limit: Duration) -> Option<Output> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

pub(crate) fn sigterm(daemon: &Daemon) {
    kill(Pid::from_raw(daemon.id() as i32), Signal::SIGTERM).unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_second_daemon_is_refused_at_once_and_names_the_first() {
    let s = Scratch::quickstart();
    // Agents that stay busy, so the first daemon has live runs a second one would take
    // for orphans.
    s.script("slow.sh", "#!/bin/sh\ncat > /dev/null\nexec sleep 1000\n");
    let wf = std::fs::read_to_string(s.workflow()).unwrap();
    let port = free_port();
    std::fs::write(
        s.workflow(),
        wf.replace("[\"./agent.sh\"]", "[\"./slow.sh\"]") + &format!("server:\n  port: {port}\n"),
    )
    .unwrap();
    let first = daemon(&s, "first", &[]);
    let db = s.db();
    wait_for("three spawned runs", Duration::from_secs(30), || {
        events(&db)
            .iter()
            .filter(|(k, _, _)| k == "run_spawned")
            .count()
            == 3
    });

    for args in [
        &["run", "workflow.yaml", "--no-watch", "--port", "0"][..],
        &["run", "workflow.yaml", "--once"][..],
    ] {
        let started = Instant::now();
        let second = crate::e2e::support::command()
            .args(args)
            .current_dir(s.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_output(second, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("`karajan {args:?}` kept running beside the first daemon"));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "refused at once"
        );
        assert!(
            err.contains(&format!("pid {}", first.id()))
                && err.contains("host ")
                && err.contains("since "),
            "the message names the running daemon: {err}"
        );
        assert!(err.contains("karajan.db.lock"), "{err}");
    }
    // `recover` writes the store too: refused the same way.
    let out = s.karajan(&["recover", "workflow.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already writing this store"),
        "{}",
        stderr(&out)
    );
    // The first daemon's runs were not touched.
    let all = events(&db);
    assert_eq!(
        all.iter().filter(|(k, _, _)| k == "run_orphaned").count(),
        0
    );
    assert_eq!(all.iter().filter(|(k, _, _)| k == "run_started").count(), 3);

    // Read-only verbs work beside the daemon.
    for args in [
        &["status", "workflow.yaml"][..],
        &["history", "QS-1"][..],
        &["verify", "workflow.yaml"][..],
        &["dashboard", "workflow.yaml"][..],
    ] {
        let out = s.karajan(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }

    sigterm(&first);
    let out = wait_output(first.take(), Duration::from_secs(30)).expect("the first daemon stops");
    assert!(out.status.success(), "{}", daemon_stderr(&s, "first"));
    let out = s.karajan(&["verify", "workflow.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let all = events(&db);
    let finished = all.iter().filter(|(k, _, _)| k == "run_finished").count();
    assert_eq!(finished, 3, "each run finished once");
}

#[test]
fn two_daemons_started_together_on_a_fresh_store_leave_one_running() {
    let s = Scratch::quickstart();
    let a = daemon(&s, "a", &[]);
    let b = daemon(&s, "b", &[]);
    // Exactly one of them exits (1, refused); the other keeps running.
    let start = Instant::now();
    let (mut a, mut b) = (Some(a), Some(b));
    let mut refused = None;
    while start.elapsed() < Duration::from_secs(30) && refused.is_none() {
        for (name, slot) in [("a", &mut a), ("b", &mut b)] {
            if let Some(d) = slot
                && let Some(status) = d.child().try_wait().unwrap()
            {
                slot.take().map(Daemon::take);
                refused = Some((status, daemon_stderr(&s, name)));
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, err) = refused.expect("one of two daemons on one store is refused");
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("already writing this store"), "{err}");
    assert!(!err.contains("already exists"), "{err}");
    let mut survivor = a.or(b).unwrap();
    // The survivor works the tickets alone: the quickstart agents reach the gate.
    wait_for("three finished runs", Duration::from_secs(60), || {
        events(&s.db())
            .iter()
            .filter(|(k, _, _)| k == "run_finished")
            .count()
            >= 3
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        survivor.child().try_wait().unwrap().is_none(),
        "the first keeps running"
    );
    sigterm(&survivor);
    let out = wait_output(survivor.take(), Duration::from_secs(30)).expect("stops on SIGTERM");
    assert!(out.status.success(), "survivor failed");
    let all = events(&s.db());
    assert_eq!(all.iter().filter(|(k, _, _)| k == "run_started").count(), 3);
    assert_eq!(
        all.iter().filter(|(k, _, _)| k == "run_orphaned").count(),
        0
    );
    let out = s.karajan(&["verify", "workflow.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
