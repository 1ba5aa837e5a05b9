//! `karajan verify`: re-hash every event and compare with the checkpoints.

use std::path::Path;

use super::Exit;

pub async fn run(workflow: &Path) -> Exit {
    let store = match super::open_store(workflow).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    match store.verify().await {
        Ok(report) if report.is_ok() => {
            println!(
                "ok: {} events verified; head seq {} hash {}",
                report.events, report.head_seq, report.head_hash
            );
            Exit::Ok
        }
        Ok(report) => {
            for b in &report.breaks {
                println!("BROKEN seq {}: {}", b.seq, b.problem);
            }
            println!(
                "FAILED: {} break(s) in {} events",
                report.breaks.len(),
                report.events
            );
            Exit::Tampered
        }
        Err(e) => {
            eprintln!("karajan: verify failed: {e}");
            Exit::Failure
        }
    }
}
