//! `karajan verify --logs`: re-hash every log file whose SHA-256 the chain holds (see
//! `store::verify_logs`) and report the ones changed, missing or added since their run.

use std::path::Path;

use super::Exit;

pub async fn run(workflow: &Path) -> Exit {
    let store = match super::open_store(workflow).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    match store.verify_logs().await {
        Ok(report) => {
            for (node, runs) in &report.elsewhere {
                println!(
                    "not here: the logs of {runs} run(s) are on node {node}'s host (run `karajan verify --logs` there)"
                );
            }
            for p in &report.problems {
                println!(
                    "BROKEN log {} of run {} (digest at seq {}): {}",
                    p.file, p.run_id, p.seq, p.problem
                );
            }
            if report.is_ok() {
                println!(
                    "ok: {} log files of {} runs verified",
                    report.files, report.runs
                );
                Exit::Ok
            } else {
                println!(
                    "FAILED: {} log file problem(s) in {} runs",
                    report.problems.len(),
                    report.runs
                );
                Exit::Tampered
            }
        }
        Err(e) => {
            eprintln!("karajan: verify --logs failed: {e}");
            Exit::Failure
        }
    }
}
