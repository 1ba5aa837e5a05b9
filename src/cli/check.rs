//! `karajan check`: offline validation of the workflow, plus rendering every stage
//! prompt against a sample ticket. Reports every problem.

use std::path::Path;

use super::Exit;

pub fn run(path: &Path) -> Exit {
    let wf = match super::load_or_report(path) {
        Ok(wf) => wf,
        Err(code) => return code,
    };
    let errors = crate::prompt::check_all(&wf);
    if !errors.is_empty() {
        eprintln!("karajan: {} has prompt errors:", path.display());
        for e in &errors {
            eprintln!("  - {e}");
        }
        return Exit::Config;
    }
    let agents = wf
        .states
        .keys()
        .filter(|s| wf.agent_state(s).is_some())
        .count();
    println!(
        "ok: {} ({} states, {} agent prompts rendered, entry `{}`, digest {})",
        path.display(),
        wf.states.len(),
        agents,
        wf.machine.entry,
        &wf.digest[..12.min(wf.digest.len())]
    );
    Exit::Ok
}
