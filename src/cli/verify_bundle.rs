//! `karajan verify --bundle DIR`: check an evidence bundle (format: `bundle`) on any
//! machine, without the store or the workflow.
//!
//! What it checks, in order: `manifest.json` is in its one canonical rendering and its
//! digest covers it; every file the manifest lists has its size and SHA-256, and no
//! file is unlisted; every event's own hash is recomputed from its fields (as `verify`
//! does); consecutive seqs are linked (`prev_hash` = the previous event's hash); every
//! checkpoint at a seq the bundle holds names that event's hash; every log file a
//! `run_evidence` event names is in the bundle with the recorded SHA-256.
//!
//! What a bundle proves: a whole-chain export (no `--ticket`, no `--since`) is a
//! contiguous chain from seq 1, so it proves the order and completeness of the record up
//! to its last event, and the checkpoints pin that head. A partial export (one ticket,
//! or a time range) is not contiguous: each event is proven to be the one the chain
//! recorded at its seq (its hash covers its seq and its predecessor's hash), and runs of
//! consecutive seqs are proven linked, but events of the gaps (other tickets, earlier
//! times) are not shown, so the bundle cannot prove that none of the ticket's events
//! were left out between two of them. Events or log files the redactor changed cannot be
//! re-hashed; they are counted and named, not failed. The manifest's digest is not
//! signed: it proves the bundle is the one whose digest you were given out of band.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::Exit;
use super::bundle::{self, BundleEvent, Manifest};
use crate::store::chain::{Link, event_hash, parse_hash};

/// The outcome of a bundle check.
#[derive(Debug, Default)]
pub struct BundleReport {
    pub problems: Vec<String>,
    pub notes: Vec<String>,
    pub events: usize,
    pub files: usize,
    pub digest: String,
}

pub fn run(dir: &Path, public_key: Option<&Path>) -> Exit {
    match check(dir).map(|mut r| {
        check_signatures(dir, public_key, &mut r);
        r
    }) {
        Ok(report) => {
            for n in &report.notes {
                println!("note: {n}");
            }
            for p in &report.problems {
                println!("BROKEN {p}");
            }
            if report.problems.is_empty() {
                println!(
                    "ok: bundle {} verified: {} files, {} events; digest {}",
                    dir.display(),
                    report.files,
                    report.events,
                    report.digest
                );
                Exit::Ok
            } else {
                println!(
                    "FAILED: {} problem(s) in bundle {}",
                    report.problems.len(),
                    dir.display()
                );
                Exit::Tampered
            }
        }
        Err(e) => {
            eprintln!("karajan: cannot check bundle {}: {e}", dir.display());
            Exit::Failure
        }
    }
}

/// Check the bundle at `dir` (see the module doc). `Err` when it is not a bundle at all.
pub fn check(dir: &Path) -> Result<BundleReport, String> {
    let text = std::fs::read_to_string(dir.join(bundle::MANIFEST))
        .map_err(|e| format!("{}: {e}", bundle::MANIFEST))?;
    let mut r = BundleReport::default();
    let manifest: Manifest = match serde_json::from_str(&text) {
        Ok(m) => m,
        Err(e) => {
            r.problems
                .push(format!("{}: not a manifest: {e}", bundle::MANIFEST));
            return Ok(r);
        }
    };
    r.digest = manifest.digest.clone();
    if manifest.format != bundle::FORMAT {
        r.problems.push(format!(
            "{}: unknown format {:?}",
            bundle::MANIFEST,
            manifest.format
        ));
    }
    if manifest.render() != text {
        r.problems.push(format!(
            "{}: edited (not its canonical rendering)",
            bundle::MANIFEST
        ));
    }
    if manifest.compute_digest() != manifest.digest {
        r.problems.push(format!(
            "{}: the digest does not cover its content",
            bundle::MANIFEST
        ));
    }
    check_files(dir, &manifest, &mut r);
    let events = read_events(dir, &mut r);
    r.events = events.len();
    check_chain(&events, &mut r);
    check_checkpoints(dir, &events, &mut r);
    check_logs(&manifest, &events, &mut r);
    Ok(r)
}

fn check_files(dir: &Path, manifest: &Manifest, r: &mut BundleReport) {
    let listed: BTreeSet<&str> = manifest.files.iter().map(|e| e.path.as_str()).collect();
    for entry in &manifest.files {
        match std::fs::read(dir.join(&entry.path)) {
            Err(e) => r.problems.push(format!("{}: {e}", entry.path)),
            Ok(bytes)
                if bytes.len() as u64 != entry.bytes || bundle::sha256(&bytes) != entry.sha256 =>
            {
                r.problems
                    .push(format!("{}: SHA-256 differs from the manifest", entry.path))
            }
            Ok(_) => r.files += 1,
        }
    }
    for file in bundle::list_files(dir) {
        if file != bundle::MANIFEST && !listed.contains(file.as_str()) {
            r.problems.push(format!("{file}: not in the manifest"));
        }
    }
}

fn read_events(dir: &Path, r: &mut BundleReport) -> Vec<BundleEvent> {
    let Ok(text) = std::fs::read_to_string(dir.join(bundle::EVENTS)) else {
        r.problems
            .push(format!("{}: missing or not UTF-8", bundle::EVENTS));
        return vec![];
    };
    let mut out = vec![];
    for (i, line) in text.lines().enumerate() {
        match serde_json::from_str::<BundleEvent>(line) {
            Ok(e) => out.push(e),
            Err(e) => r
                .problems
                .push(format!("{} line {}: {e}", bundle::EVENTS, i + 1)),
        }
    }
    out
}

fn check_chain(events: &[BundleEvent], r: &mut BundleReport) {
    let mut prev: Option<&BundleEvent> = None;
    let mut gaps = 0;
    let mut redacted = vec![];
    for e in events {
        let (Some(prev_hash), Some(hash)) = (parse_hash(&e.prev_hash), parse_hash(&e.hash)) else {
            r.problems.push(format!("seq {}: malformed hash", e.seq));
            continue;
        };
        if e.redacted {
            redacted.push(e.seq);
        } else {
            let link = Link {
                prev_hash: &prev_hash,
                seq: e.seq,
                at: &e.at,
                issue: e.issue.as_deref(),
                kind: &e.kind,
                payload: &e.payload,
            };
            if event_hash(&link) != hash {
                r.problems.push(format!(
                    "seq {}: the event's hash does not match its content",
                    e.seq
                ));
            }
        }
        match prev {
            Some(p) if e.seq <= p.seq => r
                .problems
                .push(format!("seq {}: out of order after seq {}", e.seq, p.seq)),
            Some(p) if e.seq == p.seq + 1 && e.prev_hash != p.hash => r
                .problems
                .push(format!("seq {}: not linked to seq {}", e.seq, p.seq)),
            Some(p) if e.seq > p.seq + 1 => gaps += 1,
            None if e.seq != 1 => gaps += 1,
            _ => {}
        }
        prev = Some(e);
    }
    if gaps > 0 {
        r.notes.push(format!(
            "partial chain ({gaps} gap(s)): each event's own hash and every run of consecutive seqs are checked; events outside the selection are not shown"
        ));
    }
    if !redacted.is_empty() {
        r.notes.push(format!(
            "{} event(s) redacted at export (own hash not recomputable): seq {:?}",
            redacted.len(),
            redacted
        ));
    }
}

fn check_checkpoints(dir: &Path, events: &[BundleEvent], r: &mut BundleReport) {
    let Ok(text) = std::fs::read_to_string(dir.join(bundle::CHECKPOINTS)) else {
        r.notes.push("no checkpoints file in the bundle".into());
        return;
    };
    let cps = match crate::store::checkpoint::Checkpoints::parse(&text) {
        Ok(c) => c,
        Err(e) => {
            r.problems.push(format!("{}: {e}", bundle::CHECKPOINTS));
            return;
        }
    };
    let by_seq: BTreeMap<i64, &str> = events.iter().map(|e| (e.seq, e.hash.as_str())).collect();
    for (seq, hash) in cps.entries() {
        if let Some(h) = by_seq.get(&seq)
            && *h != hex::encode(hash)
        {
            r.problems
                .push(format!("seq {seq}: the checkpoint names another hash"));
        }
    }
}

/// The checkpoints' signatures, with `public_key` (given by the auditor) or else the
/// bundle's own `public-key` file. A bundled key only proves the bundle is consistent with
/// itself: the note says to compare it with the key the team publishes. A given key that
/// differs from the bundled one is a problem.
fn check_signatures(dir: &Path, public_key: Option<&Path>, r: &mut BundleReport) {
    use crate::store::signing;
    let bundled = std::fs::read_to_string(dir.join(bundle::PUBLIC_KEY)).ok();
    let key = match (public_key, &bundled) {
        (Some(path), _) => match signing::read_public(path) {
            Ok(k) => k,
            Err(e) => {
                r.problems.push(format!("--public-key: {e}"));
                return;
            }
        },
        (None, Some(text)) => match signing::parse_public(text.trim()) {
            Ok(k) => {
                r.notes.push(format!(
                    "signatures checked with the bundle's own public key {}: compare it with the key your team publishes (`karajan key`), or give --public-key",
                    text.trim()
                ));
                k
            }
            Err(e) => {
                r.problems.push(format!("{}: {e}", bundle::PUBLIC_KEY));
                return;
            }
        },
        (None, None) => {
            r.notes
                .push("the bundle has no public key: checkpoint signatures not checked".into());
            return;
        }
    };
    if let (Some(_), Some(text)) = (public_key, &bundled)
        && signing::parse_public(text.trim()).ok() != Some(key)
    {
        r.problems.push(format!(
            "{}: the bundle's public key is not the one given with --public-key",
            bundle::PUBLIC_KEY
        ));
    }
    let Some(text) = std::fs::read_to_string(dir.join(bundle::CHECKPOINTS)).ok() else {
        return;
    };
    let Ok(cps) = crate::store::checkpoint::Checkpoints::parse(&text) else {
        return; // reported by `check_checkpoints`
    };
    for e in cps.sealed_entries() {
        match &e.seal {
            Some(seal) if !signing::check(&key, e.seq, &e.hash, &seal.at, &seal.sig) => {
                r.problems.push(format!(
                    "seq {}: the checkpoint's signature does not verify with the public key",
                    e.seq
                ));
            }
            None if e.is_head => r
                .problems
                .push(format!("seq {}: the head checkpoint is unsigned", e.seq)),
            _ => {}
        }
    }
}

fn check_logs(manifest: &Manifest, events: &[BundleEvent], r: &mut BundleReport) {
    let files: BTreeMap<&str, &bundle::Entry> = manifest
        .files
        .iter()
        .map(|e| (e.path.as_str(), e))
        .collect();
    for e in events.iter().filter(|e| e.kind == "run_evidence") {
        let Ok(ev) =
            serde_json::from_value::<crate::domain::evidence::RunEvidence>(e.payload.clone())
        else {
            r.problems
                .push(format!("seq {}: run_evidence unreadable", e.seq));
            continue;
        };
        let run = crate::workspace::sanitize_key(&ev.run_id);
        for (file, digest) in &ev.logs {
            let path = format!("{}/{run}/{file}", bundle::LOGS);
            match files.get(path.as_str()) {
                None if manifest.selection.no_prompts && file == "prompt.md" => {}
                None => r.notes.push(format!(
                    "{path}: named by seq {} but not in the bundle",
                    e.seq
                )),
                Some(entry) if entry.redacted => r.notes.push(format!(
                    "{path}: redacted at export (not comparable with seq {})",
                    e.seq
                )),
                Some(entry) if entry.sha256 != *digest => r.problems.push(format!(
                    "{path}: differs from the SHA-256 recorded at seq {}",
                    e.seq
                )),
                Some(_) => {}
            }
        }
    }
}
