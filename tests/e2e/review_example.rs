//! `examples/review-loop` runs as shipped (issue 13): the implementer writes a note, the
//! reviewer (a script of another family) asks for a test plan with a finding on the
//! note's last line, the implementer's next prompt carries that finding through the
//! `review` variables and it adds the plan, the reviewer approves, and the ticket waits
//! for a human.

use super::support::{copy_tree, events, repo_root};

#[test]
fn the_review_loop_example_runs_offline_to_the_human_gate() {
    let tmp = tempfile::tempdir().unwrap();
    // Side by side as in the repository: the example clones ../quickstart/demo-repo.git.
    for name in ["quickstart", "review-loop"] {
        copy_tree(
            &repo_root().join("examples").join(name),
            &tmp.path().join(name),
        );
    }
    let dir = tmp.path().join("review-loop");
    let karajan = |args: &[&str]| {
        crate::e2e::support::command()
            .args(args)
            .current_dir(&dir)
            .env("KARAJAN_LOG", "info")
            .output()
            .unwrap()
    };
    let check = karajan(&["check", "workflow.yaml", "--offline"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let ticket = dir.join("tickets/RL-1.md");
    let mut log = String::new();
    for _ in 0..8 {
        let out = karajan(&["run", "workflow.yaml", "--once"]);
        log.push_str(&String::from_utf8_lossy(&out.stderr));
        if std::fs::read_to_string(&ticket)
            .unwrap()
            .contains("\nstate: Human Review\n")
        {
            break;
        }
    }
    let evs = events(&dir.join(".karajan/karajan.db"));
    let to: Vec<&str> = evs
        .iter()
        .filter(|(k, _, _)| k == "transition")
        .map(|(_, _, e)| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        to,
        ["implement", "review", "implement", "review", "human-review"],
        "{log}"
    );
    let verdicts: Vec<(&str, &str)> = evs
        .iter()
        .filter(|(k, _, _)| k == "verdict")
        .map(|(_, _, e)| {
            (
                e["verdict"].as_str().unwrap(),
                e["runner"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [("needs_revision", "critic"), ("approve", "critic")]
    );
    // The second implement run saw the finding, with its place, through `review`.
    let prompt = evs
        .iter()
        .filter(|(k, _, e)| k == "run_started" && e["state"] == "implement")
        .nth(1)
        .map(|(_, _, e)| {
            std::fs::read_to_string(
                std::path::Path::new(e["log_dir"].as_str().unwrap()).join("prompt.md"),
            )
            .unwrap()
        })
        .expect("a second implement run");
    assert!(
        prompt.contains("round 1): The checklist has no test plan.")
            && prompt
                .contains("FINDING notes/RL-1.md:4 [error] add a test plan after the checklist"),
        "{prompt}"
    );
}
