//! `karajan verify`: re-hash every event, compare with the checkpoints and check their
//! signatures (see `store::verify` for what each verdict line means), and with
//! `--against-tracker` the chain heads anchored in the tracker's comments (`anchors`).
//!
//! The public key is `--public-key FILE` when given (someone without the private key),
//! else the one derived from the store's own key file. Whether a daemon is writing the
//! store decides how rows after the last signed checkpoint are judged: probed with a
//! shared, non-blocking `flock` on the store's lock file, released at once, so `verify`
//! never holds up a daemon.

use std::path::Path;

use super::Exit;
use crate::store::signing;
use crate::store::verify::Trust;

pub async fn run(workflow: &Path, public_key: Option<&Path>, against_tracker: bool) -> Exit {
    // The tracker's settings come from a workflow that loads.
    let wf = match against_tracker.then(|| super::load_or_report(workflow)) {
        Some(Err(code)) => return code,
        Some(Ok(wf)) => Some(wf),
        None => None,
    };
    let paths = super::store_paths(workflow);
    let trust = match trust(&paths, public_key) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let store = match super::open_store(workflow).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut report = match store.verify_trusting(&trust).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("karajan: verify failed: {e}");
            return Exit::Failure;
        }
    };
    let mut anchored = None;
    if let Some(wf) = &wf {
        match super::anchors::check(wf, &store).await {
            Ok(found) => {
                anchored = Some(format!(
                    "tracker anchors: {} checked in the comments of {} ticket(s)",
                    found.checked, found.tickets
                ));
                if found.checked == 0 {
                    report.notes.push(
                        "no tracker comment carries an anchor: the tracker vouches for nothing"
                            .into(),
                    );
                }
                report.breaks.extend(found.breaks);
                report.breaks.sort_by_key(|b| b.seq);
            }
            Err(e) => {
                eprintln!("karajan: cannot check the tracker anchors: {e}");
                return Exit::Tracker;
            }
        }
    }
    // The verdict comes first (scripts read line 1), then what was checked and how.
    let code = if report.is_ok() {
        println!(
            "ok: {} events verified; head seq {} hash {}",
            report.events, report.head_seq, report.head_hash
        );
        Exit::Ok
    } else {
        for b in &report.breaks {
            println!("BROKEN seq {}: {}", b.seq, b.problem);
        }
        println!(
            "FAILED: {} break(s) in {} events",
            report.breaks.len(),
            report.events
        );
        Exit::Tampered
    };
    if let Some(key) = &trust.key {
        println!(
            "signatures checked with {} ({})",
            signing::public_text(key),
            trust.source
        );
    }
    if let Some(line) = anchored {
        println!("{line}");
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    code
}

fn trust(paths: &crate::config::StoreConfig, public_key: Option<&Path>) -> Result<Trust, Exit> {
    let writer_running = writer_running(&paths.path);
    if let Some(file) = public_key {
        let key = signing::read_public(file).map_err(|e| {
            eprintln!("karajan: {e}");
            Exit::Usage
        })?;
        return Ok(Trust {
            key: Some(key),
            source: format!("--public-key {}", file.display()),
            writer_running,
        });
    }
    let shown = paths.signing_key.display();
    match signing::load(&paths.signing_key) {
        Ok(key) => Ok(Trust {
            source: match &key {
                Some(_) => format!("the key {shown}"),
                None => format!("no key at {shown}"),
            },
            key: key.map(|k| k.public()),
            writer_running,
        }),
        Err(e) => {
            eprintln!("karajan: {e}");
            Err(Exit::Failure)
        }
    }
}

/// Whether a daemon holds the store's lock (see `store::lock`).
fn writer_running(db: &Path) -> bool {
    use nix::fcntl::{Flock, FlockArg};
    let Ok(file) = std::fs::File::open(crate::store::lock::lock_path(db)) else {
        return false;
    };
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(lock) => {
            drop(lock);
            false
        }
        Err(_) => true,
    }
}
