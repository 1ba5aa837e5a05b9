//! `karajan init`: write a starter workflow, its prompts and a tickets folder with one
//! example ticket. Existing files are kept unless `--force`.

use std::path::Path;

use super::Exit;

/// The files `init` writes, relative to the target directory.
const FILES: &[(&str, &str)] = &[
    ("workflow.yaml", include_str!("../../workflow.example.yaml")),
    ("prompts/global.md", include_str!("../../prompts/global.md")),
    (
        "prompts/implement.md",
        include_str!("../../prompts/implement.md"),
    ),
    ("prompts/review.md", include_str!("../../prompts/review.md")),
    (
        "tickets/EXAMPLE-1.md",
        "---\nid: EXAMPLE-1\ntitle: Try karajan\nstate: Todo\npriority: 3\nlabels: [example]\n---\nDescribe the change you want here.\n",
    ),
];

pub fn run(dir: &Path, force: bool) -> Exit {
    let existing: Vec<_> = FILES
        .iter()
        .map(|(rel, _)| dir.join(rel))
        .filter(|p| p.exists())
        .collect();
    if !force && !existing.is_empty() {
        for p in &existing {
            eprintln!("karajan: {} exists (use --force to overwrite)", p.display());
        }
        return Exit::Failure;
    }
    for (rel, body) in FILES {
        let path = dir.join(rel);
        if let Some(parent) = path.parent()
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            eprintln!("karajan: cannot create {}: {e}", parent.display());
            return Exit::Failure;
        }
        if let Err(e) = std::fs::write(&path, body) {
            eprintln!("karajan: cannot write {}: {e}", path.display());
            return Exit::Failure;
        }
        println!("wrote {}", path.display());
    }
    println!(
        "next: set workspace.repo in workflow.yaml, then `karajan check` and `karajan run --dry-run`"
    );
    Exit::Ok
}

/// `karajan init --github-labels`: create every state label the workflow's columns need.
pub async fn github_labels(workflow: &Path) -> Exit {
    let wf = match super::load_or_report(workflow) {
        Ok(wf) => wf,
        Err(code) => return code,
    };
    let crate::config::TrackerConfig::Github(gh) = &wf.tracker else {
        eprintln!("karajan: --github-labels needs a `github` tracker in labels mode");
        return Exit::Config;
    };
    let tracker = match crate::tracker::github::GithubTracker::new(
        (**gh)
            .clone()
            .with_terminal_columns(wf.machine.columns.terminal_all()),
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("karajan: {e}");
            return Exit::Tracker;
        }
    };
    let mut columns = wf.machine.columns.watched();
    columns.extend(wf.machine.columns.terminal_all());
    match tracker.create_state_labels(&columns).await {
        Ok(created) => {
            for l in &created {
                println!("created label `{l}`");
            }
            println!("{} label(s) created; the others existed", created.len());
            Exit::Ok
        }
        Err(e) => {
            eprintln!("karajan: cannot create labels: {e}");
            Exit::Tracker
        }
    }
}
