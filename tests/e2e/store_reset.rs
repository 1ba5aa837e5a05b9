//! A store that vanished or went back in time is noticed (issue 9, point 3): a daemon
//! whose database file is deleted stops with a clear error (exit 1) instead of writing
//! into a dead file; a start on a missing or older store while its checkpoint file
//! vouches for more is refused (exit 1, naming both heads and the way out); and
//! `--accept-store-reset` accepts it deliberately, keeping the old checkpoint file.

use std::time::Duration;

use super::single_daemon::{daemon, daemon_stderr, wait_output};
use super::support::{Scratch, events, stderr, stdout, wait_for};

fn checkpoint_head(s: &Scratch) -> i64 {
    let text = std::fs::read_to_string(s.path().join(".karajan/checkpoints")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("head "))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .parse()
        .unwrap()
}

fn kept_checkpoint_files(s: &Scratch) -> Vec<String> {
    std::fs::read_dir(s.path().join(".karajan"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("checkpoints.reset-"))
        .collect()
}

#[test]
fn deleting_the_database_under_a_running_daemon_stops_it_and_a_restart_refuses() {
    let s = Scratch::quickstart();
    let d = daemon(&s, "daemon", &[]);
    let db = s.db();
    wait_for("three finished runs", Duration::from_secs(60), || {
        events(&db)
            .iter()
            .filter(|(k, _, _)| k == "run_finished")
            .count()
            >= 3
    });
    std::fs::remove_file(&db).unwrap();
    let out = wait_output(d.take(), Duration::from_secs(20))
        .expect("a daemon whose database was deleted stops by itself");
    let err = daemon_stderr(&s, "daemon");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("karajan.db was removed while karajan was using it"),
        "{err}"
    );

    // The checkpoint vouches for the lost history: a restart refuses, naming both heads.
    let head = checkpoint_head(&s);
    assert!(head > 0);
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is missing"), "{err}");
    assert!(err.contains("no database file"), "{err}");
    assert!(err.contains(&format!("records head seq {head} ")), "{err}");
    assert!(err.contains("--accept-store-reset"), "{err}");
    assert!(!db.exists(), "a refused start creates nothing");
    assert_eq!(checkpoint_head(&s), head, "nor touches the checkpoint");

    // Accepted deliberately: starts, keeps the old checkpoint file, verifies.
    let out = s.karajan(&["run", "workflow.yaml", "--once", "--accept-store-reset"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(kept_checkpoint_files(&s).len(), 1);
    let out = s.karajan(&["verify", "workflow.yaml"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // And from then on it starts without the flag.
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_store_restored_from_an_older_copy_is_refused_until_accepted() {
    let s = Scratch::quickstart();
    s.once();
    let karajan = s.path().join(".karajan");
    let backup = s.path().join("backup.db");
    assert!(
        !karajan.join("karajan.db-wal").exists(),
        "the WAL is checkpointed at exit"
    );
    std::fs::copy(s.db(), &backup).unwrap();
    let old_head = events(&s.db()).len() as i64;
    // More history: approve QS-1, its finalize state runs.
    s.set_column("QS-1", "Approved");
    s.once();
    let head = checkpoint_head(&s);
    assert!(head > old_head, "{head} > {old_head}");
    std::fs::copy(&backup, s.db()).unwrap();

    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is behind its checkpoint"), "{err}");
    assert!(
        err.contains(&format!("head seq {old_head} (hash ")),
        "{err}"
    );
    assert!(err.contains(&format!("records head seq {head} ")), "{err}");
    assert_eq!(
        events(&s.db()).len() as i64,
        old_head,
        "nothing was written"
    );

    let out = s.karajan(&["run", "workflow.yaml", "--once", "--accept-store-reset"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(kept_checkpoint_files(&s).len(), 1);
    let out = s.karajan(&["verify", "workflow.yaml"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
}
