//! The CLI's contract: `init` writes a starter that `check` accepts and refuses to
//! overwrite; `check` reports every problem with exit code 3; `verify` without a store
//! fails.

use super::support::{bin, stderr, stdout};

fn karajan(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

#[test]
fn init_check_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = karajan(d, &["init", "."]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(d.join("workflow.yaml").is_file() && d.join("tickets/EXAMPLE-1.md").is_file());
    let out = karajan(d, &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("ok:"));

    let again = karajan(d, &["init", "."]);
    assert_eq!(again.status.code(), Some(1), "init does not overwrite");
    assert!(stderr(&again).contains("use --force"));

    let wf = std::fs::read_to_string(d.join("workflow.yaml")).unwrap();
    let broken =
        wf.replacen("max_rework:", "max_rewrk:", 1)
            .replacen("next: review", "next: reveiw", 1);
    std::fs::write(d.join("workflow.yaml"), broken).unwrap();
    let out = karajan(d, &["check"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("2 problems"), "{err}");
    assert!(err.contains("did you mean `max_rework`?"), "{err}");
    assert!(err.contains("did you mean `review`?"), "{err}");
    let out = karajan(d, &["run", "--dry-run"]);
    assert_eq!(out.status.code(), Some(3), "an invalid workflow never runs");

    let out = karajan(d, &["verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no store"));
}
