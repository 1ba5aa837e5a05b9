//! `karajan check`: validation of the workflow, rendering every stage prompt against a
//! sample ticket, then the tracker's own read-only check of the workflow's columns (a
//! folder for the local tracker; for GitHub the board's options or the repository's
//! state labels, so a renamed column is caught before `run`). Reports every problem.
//! Before the tracker, what the workflow names must exist on this machine (the
//! repository, each runner's program, the variables its command uses; see
//! `preflight`). After the tracker, the forge's own read-only check (`forge::access`:
//! the GitHub repository, the token's push permission, the pull requests' base branch).
//! `--offline` stops before the tracker: nothing leaves the machine.

use std::path::Path;

use super::Exit;

pub async fn run(path: &Path, offline: bool) -> Exit {
    let wf = match super::load_or_report(path) {
        Ok(wf) => wf,
        Err(code) => return code,
    };
    // Loading has rendered every template against a sample ticket (the same validation
    // as `run` and hot reload). Then what the workflow names must exist here.
    if let Err(code) = super::preflight::report(&wf) {
        return code;
    }
    // Not an error: karajan repairs such names at run time. A template that breaks
    // ordinary tickets' names is worth a warning; awkward identifiers only a note.
    for w in crate::workspace::branch_warnings(&wf) {
        eprintln!("karajan: warning: {w}");
    }
    let repairs = crate::workspace::branch_repairs(&wf);
    let agents = wf
        .states
        .keys()
        .filter(|s| wf.agent_state(s).is_some())
        .count();
    let (facts, forge_facts) = if offline {
        let forge = match &wf.forge {
            Some(_) => vec!["not contacted (--offline)".to_string()],
            None => vec![],
        };
        (vec!["tracker not contacted (--offline)".to_string()], forge)
    } else {
        let facts = match tracker_check(&wf).await {
            Ok(facts) => facts,
            Err(code) => return code,
        };
        match forge_check(&wf).await {
            Ok(forge) => (facts, forge),
            Err(code) => return code,
        }
    };
    println!(
        "ok: {} ({} states, {} agent prompts rendered, entry `{}`, digest {})",
        path.display(),
        wf.states.len(),
        agents,
        wf.machine.entry,
        &wf.digest[..12.min(wf.digest.len())]
    );
    for f in &facts {
        println!("tracker: {f}");
    }
    for f in &forge_facts {
        println!("forge: {f}");
    }
    if let Some(r) = repairs {
        println!("{r}");
    }
    Exit::Ok
}

/// The forge's read-only check; its facts, or the exit code after printing its problems.
pub(crate) async fn forge_check(wf: &crate::config::Workflow) -> Result<Vec<String>, Exit> {
    crate::forge::access::check(wf).await.map_err(|problems| {
        eprintln!(
            "karajan: the forge does not accept what {} needs ({} problem{}):",
            wf.path.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        for p in &problems {
            eprintln!("  - {p}");
        }
        Exit::Tracker
    })
}

/// The tracker's read-only check of every column the workflow uses; its facts, or the
/// exit code after printing its problems.
async fn tracker_check(wf: &crate::config::Workflow) -> Result<Vec<String>, Exit> {
    let tracker = crate::tracker::from_config(wf).map_err(|e| {
        eprintln!("karajan: {e}");
        Exit::Tracker
    })?;
    let mut columns = wf.machine.columns.watched();
    columns.extend(wf.machine.columns.terminal_all());
    match tracker.check(&columns).await {
        Ok(check) if check.errors.is_empty() => Ok(check.facts),
        Ok(check) => {
            eprintln!(
                "karajan: the {} tracker does not match {}:",
                tracker.kind(),
                wf.path.display()
            );
            for e in &check.errors {
                eprintln!("  - {e}");
            }
            Err(Exit::Tracker)
        }
        Err(e) => {
            eprintln!("karajan: tracker check failed: {e}");
            Err(Exit::Tracker)
        }
    }
}
