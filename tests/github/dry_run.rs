//! `run --dry-run` and `check` against the fake GitHub in project mode: the dry run
//! prints the plan and writes nothing (no mutation reaches GitHub, no store, no
//! workspace, no log); a renamed board column fails both commands with exit code 5,
//! naming the missing column and the options that exist.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::scratch::{GhScratch, files};

/// Every file of the scratch folder with its content hash.
fn tree(s: &GhScratch) -> BTreeMap<String, String> {
    files(s.path())
        .into_iter()
        .map(|p| {
            let hash = hex::encode(Sha256::digest(std::fs::read(&p).expect("read")));
            (p.display().to_string(), hash)
        })
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let s = GhScratch::new("project", "  priority: {label_prefix: \"priority:\"}");
    s.add_issue(1, "Add a greeting", "Todo");
    s.add_issue(2, "Fix the typo", "Todo");
    s.fake.edit(2, |i| i.labels.push("priority:1".into()));
    s.add_issue(3, "Shipped", "Done");
    let before = tree(&s);

    let out = s.karajan(&["run", "workflow.yaml", "--dry-run"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    assert!(stdout.contains("tracker: project `Roadmap`"), "{stdout}");
    for n in [1, 2] {
        assert!(stdout.contains(&format!("acme/app#{n} [Todo]")), "{stdout}");
    }
    assert!(!stdout.contains("acme/app#3"), "not a candidate: {stdout}");
    assert_eq!(
        stdout.matches("would enter `implement` (agent)").count(),
        2,
        "{stdout}"
    );
    assert_eq!(
        stdout
            .matches("would move the ticket to `In Progress`")
            .count(),
        2,
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("with runner `demo`: ").count(),
        2,
        "{stdout}"
    );
    assert!(
        stdout.contains("recording-agent.sh"),
        "the runner's command line: {stdout}"
    );
    let prompts: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("prompt: "))
        .collect();
    assert_eq!(prompts.len(), 2, "{stdout}");
    for p in &prompts {
        assert!(p.contains(" bytes, sha256 "), "{p}");
        let digest = p.rsplit(' ').next().unwrap_or("");
        assert_eq!(digest.len(), 64, "a full SHA-256: {p}");
    }
    // Priority order: the urgent #2 first.
    let at = |n: i64| stdout.find(&format!("acme/app#{n} [")).expect("listed");
    assert!(at(2) < at(1), "{stdout}");

    // It read GitHub, and wrote nothing anywhere.
    let requests = s.fake.requests();
    assert!(
        requests.iter().any(|r| r.ends_with(" ProjectItems")),
        "{requests:?}"
    );
    assert_eq!(
        s.mutations(),
        Vec::<String>::new(),
        "no write reached GitHub"
    );
    assert!(s.fake.issue(1).comments.is_empty());
    assert_eq!(s.fake.issue(1).status.as_deref(), Some("Todo"));
    assert!(
        !s.path().join(".karajan").exists(),
        "no store, workspace or log"
    );
    assert_eq!(before, tree(&s), "the dry run changed files");
    assert!(!text(&out.stderr).contains(super::fake::TOKEN));
}

#[test]
fn a_renamed_column_fails_check_and_dry_run_listing_the_options() {
    let s = GhScratch::new("project", "");
    s.add_issue(1, "Add a greeting", "Todo");
    let ok = s.karajan(&["check", "workflow.yaml"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).starts_with("ok:"), "{}", text(&ok.stdout));
    assert!(
        text(&ok.stdout).contains("tracker: field `Status` options: Todo, In Progress"),
        "{}",
        text(&ok.stdout)
    );

    // Someone renames `Human Review` on the board.
    {
        let mut f = s.fake.lock();
        let at = f
            .options
            .iter()
            .position(|o| o == "Human Review")
            .expect("option");
        f.options[at] = "In Review".into();
    }
    let before = tree(&s);
    for args in [
        &["check", "workflow.yaml"][..],
        &["run", "workflow.yaml", "--dry-run"][..],
    ] {
        let out = s.karajan(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {err}");
        assert!(err.contains("`Human Review`"), "{args:?}: {err}");
        assert!(
            err.contains(
                "existing options: Todo, In Progress, In Review, Approved, Rework, Done, Canceled"
            ),
            "{args:?}: {err}"
        );
        assert!(
            !text(&out.stdout).contains("would enter"),
            "{args:?} planned nothing"
        );
    }
    assert_eq!(s.mutations(), Vec::<String>::new());
    assert!(!s.path().join(".karajan").exists());
    assert_eq!(before, tree(&s));

    // `run` refuses to start, before creating its store.
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains("`Human Review`") && err.contains("In Review"),
        "{err}"
    );
    assert!(!s.path().join(".karajan").exists());
    assert_eq!(
        s.mutations(),
        Vec::<String>::new(),
        "nothing was dispatched"
    );
    assert_eq!(s.fake.issue(1).status.as_deref(), Some("Todo"));
}
