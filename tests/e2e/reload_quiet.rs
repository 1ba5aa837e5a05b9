//! Hot reload is quiet and validates like `check`: one edit is one reload, reading the
//! workflow never triggers another, the same rejected content is recorded once, and a
//! prompt that cannot render (undefined variable) is rejected, keeping the last good
//! config.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use super::support::{Scratch, events, wait_for};

/// How long the test lets an idle daemon run after an edit: far beyond the debounce,
/// long enough for a self-triggering loop to show (it re-read about 6 times a second).
const SETTLE: Duration = Duration::from_secs(3);

fn kinds(db: &Path, kind: &str) -> Vec<serde_json::Value> {
    events(db)
        .into_iter()
        .filter(|(k, _, _)| k == kind)
        .map(|(_, _, p)| p)
        .collect()
}

/// A daemon on the quickstart with no tickets (nothing but the watcher is busy), its
/// stderr (debug logs) in `daemon.log`.
fn idle_daemon(s: &Scratch) -> Child {
    for entry in std::fs::read_dir(s.path().join("tickets")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let log = std::fs::File::create(s.path().join("daemon.log")).unwrap();
    let child = crate::e2e::support::command()
        .args(["run", "workflow.yaml"])
        .current_dir(s.path())
        .env("KARAJAN_LOG", "karajan=debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let db = s.db();
    wait_for(
        "the start's config_applied",
        Duration::from_secs(30),
        || kinds(&db, "config_applied").len() == 1,
    );
    // Let the start settle (the watcher is set up right after the first tick).
    std::thread::sleep(Duration::from_millis(500));
    child
}

fn rereads(s: &Scratch) -> usize {
    std::fs::read_to_string(s.path().join("daemon.log"))
        .unwrap()
        .matches("re-reading the workflow after a change")
        .count()
}

fn stop(mut daemon: Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(daemon.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(daemon.wait().unwrap().success(), "graceful stop on SIGTERM");
}

#[test]
fn one_edit_is_one_reload_and_a_rejection_is_recorded_once() {
    let s = Scratch::quickstart();
    let daemon = idle_daemon(&s);
    let db = s.db();
    let good = std::fs::read_to_string(s.workflow()).unwrap();

    // A broken workflow left on disk: recorded once, however long it stays.
    std::fs::write(s.workflow(), good.replace("max_rework: 2", "max_rewrk: 2")).unwrap();
    wait_for("config_rejected", Duration::from_secs(15), || {
        !kinds(&db, "config_rejected").is_empty()
    });
    std::thread::sleep(SETTLE);
    assert_eq!(kinds(&db, "config_rejected").len(), 1, "recorded once");

    // A different broken edit is news: one more.
    std::fs::write(s.workflow(), good.replace("max_rework: 2", "max_rewrk: 3")).unwrap();
    std::thread::sleep(SETTLE);
    assert_eq!(kinds(&db, "config_rejected").len(), 2, "a new rejection");

    // Back to the running version: nothing to apply, nothing recorded.
    std::fs::write(s.workflow(), &good).unwrap();
    std::thread::sleep(SETTLE);
    assert_eq!(
        kinds(&db, "config_applied").len(),
        1,
        "same digest: nothing"
    );
    assert_eq!(kinds(&db, "config_rejected").len(), 2);

    // A touch (same content): one re-read, and none after it (reading the workflow
    // does not trigger the watcher).
    let before = rereads(&s);
    std::fs::OpenOptions::new()
        .append(true)
        .open(s.workflow())
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    std::thread::sleep(SETTLE);
    assert_eq!(rereads(&s) - before, 1, "one touch, one re-read");
    assert_eq!(
        kinds(&db, "config_applied").len(),
        1,
        "same digest: nothing"
    );

    stop(daemon);
}

#[test]
fn a_log_written_next_to_the_workflow_causes_no_reload() {
    let s = Scratch::quickstart();
    let daemon = idle_daemon(&s);
    let before = rereads(&s);
    // A busy log in the workflow's folder and in the prompts' folder, for longer than
    // the debounce.
    for i in 0..40 {
        for dir in [s.path().to_path_buf(), s.path().join("prompts")] {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("agent.log"))
                .unwrap();
            std::io::Write::write_all(&mut f, format!("line {i}\n").as_bytes()).unwrap();
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    std::thread::sleep(SETTLE);
    assert_eq!(rereads(&s) - before, 0, "a log is not the workflow");
    assert_eq!(kinds(&s.db(), "config_applied").len(), 1);
    stop(daemon);
}

#[test]
fn reload_rejects_a_prompt_that_does_not_render_and_keeps_the_last_good_config() {
    let s = Scratch::quickstart();
    let daemon = idle_daemon(&s);
    let db = s.db();
    let prompt = s.path().join("prompts/implement.md");
    let mut text = std::fs::read_to_string(&prompt).unwrap();
    text.push_str("\nAlso see {{ issue.nope }}.\n");
    std::fs::write(&prompt, text).unwrap();
    wait_for("config_rejected", Duration::from_secs(15), || {
        !kinds(&db, "config_rejected").is_empty()
    });
    let rejected = kinds(&db, "config_rejected");
    let errors = rejected[0]["errors"].to_string();
    assert!(errors.contains("prompts/implement.md"), "{errors}");
    assert!(errors.contains("nope"), "{errors}");
    assert_eq!(
        kinds(&db, "config_applied").len(),
        1,
        "the last good config stays in force"
    );
    stop(daemon);
}

#[test]
fn run_refuses_a_prompt_that_does_not_render() {
    let s = Scratch::quickstart();
    let prompt = s.path().join("prompts/implement.md");
    let mut text = std::fs::read_to_string(&prompt).unwrap();
    text.push_str("\nAlso see {{ issue.nope }}.\n");
    std::fs::write(&prompt, text).unwrap();
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    let err = super::support::stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("prompts/implement.md"), "{err}");
    assert!(err.contains("nope"), "{err}");
    assert!(!s.db().exists(), "nothing was started or written");
    // `check` says the same, through the same validation.
    let out = s.karajan(&["check", "workflow.yaml", "--offline"]);
    let check_err = super::support::stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{check_err}");
    assert!(check_err.contains("prompts/implement.md"), "{check_err}");
}

#[test]
fn reporting_verbs_find_the_store_of_a_workflow_whose_prompt_does_not_render() {
    let s = Scratch::quickstart();
    let text = std::fs::read_to_string(s.workflow()).unwrap();
    std::fs::write(
        s.workflow(),
        format!("{text}store:\n  path: .elsewhere/karajan.db\n"),
    )
    .unwrap();
    s.once();
    let prompt = s.path().join("prompts/implement.md");
    let mut text = std::fs::read_to_string(&prompt).unwrap();
    text.push_str("\nAlso see {{ issue.nope }}.\n");
    std::fs::write(&prompt, text).unwrap();
    // The store is where the workflow says, even though the workflow no longer runs.
    let out = s.karajan(&["verify", "workflow.yaml"]);
    assert!(out.status.success(), "{}", super::support::stderr(&out));
    let out = s.karajan(&["history", "QS-1", "--workflow", "workflow.yaml"]);
    assert!(out.status.success(), "{}", super::support::stderr(&out));
}
