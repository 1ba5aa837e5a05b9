//! `karajan verify`: re-hash every event and compare with the checkpoints.

use std::path::Path;

use super::Exit;
use crate::store::Store;

pub async fn run(workflow: &Path) -> Exit {
    let paths = super::store_paths(workflow);
    let store = match Store::open_read_only(&paths.path).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            eprintln!("karajan: no store at {}", paths.path.display());
            return Exit::Failure;
        }
        Err(e) => {
            eprintln!("karajan: cannot open the store: {e}");
            return Exit::Failure;
        }
    };
    let store = store.with_checkpoints(&paths.checkpoints);
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
