//! `--dry-run` prints the plan and writes nothing: no store, no tracker change, no
//! workspace, before and after a real run.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::support::{Scratch, stdout};

/// Every file under `dir` with its content hash and modification time.
fn tree(dir: &Path) -> BTreeMap<String, (String, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.insert(
                    p.display().to_string(),
                    (
                        String::from("dir"),
                        e.metadata().unwrap().modified().unwrap(),
                    ),
                );
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                let hash = hex::encode(Sha256::digest(&bytes));
                out.insert(
                    p.display().to_string(),
                    (hash, e.metadata().unwrap().modified().unwrap()),
                );
            }
        }
    }
    out
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let s = Scratch::quickstart();
    let before = tree(s.path());
    let out = s.karajan(&["run", "workflow.yaml", "--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(text.contains("QS-2 [Todo]"), "{text}");
    assert!(text.contains("would enter `implement` (agent)"), "{text}");
    assert!(
        text.contains("would move the ticket to `In Progress`"),
        "{text}"
    );
    assert!(
        text.contains("agent.sh"),
        "shows the runner command line: {text}"
    );
    assert!(
        text.contains("prompt: ") && text.contains("sha256 "),
        "{text}"
    );
    // Priority order: QS-2 (urgent) before QS-1 before QS-3 (no priority).
    let pos = |id: &str| text.find(&format!("{id} [")).unwrap();
    assert!(
        pos("QS-2") < pos("QS-1") && pos("QS-1") < pos("QS-3"),
        "{text}"
    );
    assert_eq!(before, tree(s.path()), "dry run changed files");
    assert!(!s.path().join(".karajan").exists());

    // With a store present (after a real run), a dry run still writes nothing.
    s.once();
    let before = tree(s.path());
    let out = s.karajan(&["run", "workflow.yaml", "--dry-run"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("state review (waiting)"),
        "{}",
        stdout(&out)
    );
    assert_eq!(before, tree(s.path()), "dry run changed files");
}
