//! Hot reload: an invalid edit of workflow.yaml is rejected (recorded, logged) and the
//! last good config keeps running; a valid edit is applied with its new digest.

use std::process::Stdio;
use std::time::Duration;

use super::support::{Scratch, events, wait_for};

#[test]
fn invalid_reload_keeps_the_last_good_config() {
    let s = Scratch::quickstart();
    let good = std::fs::read_to_string(s.workflow())
        .unwrap()
        .replace("interval: 5s", "interval: 1s");
    std::fs::write(s.workflow(), &good).unwrap();
    let mut daemon = crate::e2e::support::command()
        .args(["run", "workflow.yaml"])
        .current_dir(s.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("all tickets at the gate", Duration::from_secs(30), || {
        ["QS-1", "QS-2", "QS-3"]
            .iter()
            .all(|id| s.column(id) == "Human Review")
    });
    let db = s.db();
    let applied = |evs: &[(String, Option<String>, serde_json::Value)]| -> Vec<String> {
        evs.iter()
            .filter(|(k, _, _)| k == "config_applied")
            .map(|(_, _, p)| p["digest"].as_str().unwrap().to_string())
            .collect()
    };
    let first = applied(&events(&db));
    assert_eq!(first.len(), 1);

    // A typo: rejected, with the key path and a suggestion.
    std::fs::write(s.workflow(), good.replace("max_rework: 2", "max_rewrk: 2")).unwrap();
    wait_for("config_rejected", Duration::from_secs(15), || {
        events(&db).iter().any(|(k, _, _)| k == "config_rejected")
    });
    let evs = events(&db);
    let rejected = evs.iter().find(|(k, _, _)| k == "config_rejected").unwrap();
    let errors = rejected.2["errors"].to_string();
    assert!(errors.contains("max_rewrk"), "{errors}");
    assert!(
        errors.contains("max_rework"),
        "suggests the right key: {errors}"
    );

    // The daemon still works on the last good config.
    s.set_column("QS-1", "Approved");
    wait_for(
        "QS-1 done under the old config",
        Duration::from_secs(30),
        || s.column("QS-1") == "Done",
    );

    // A valid edit is applied with a new digest.
    std::fs::write(s.workflow(), good.replace("interval: 1s", "interval: 2s")).unwrap();
    wait_for("second config_applied", Duration::from_secs(15), || {
        applied(&events(&db)).len() == 2
    });
    let digests = applied(&events(&db));
    assert_ne!(digests[0], digests[1]);

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(daemon.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = daemon.wait().unwrap();
    assert!(status.success(), "graceful stop on SIGTERM");
    let out = s.karajan(&["verify", "workflow.yaml"]);
    assert!(out.status.success());
}
