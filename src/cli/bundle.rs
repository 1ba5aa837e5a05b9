//! The evidence bundle's format, shared by `karajan export` (which writes one) and
//! `karajan verify --bundle` (which checks one without the store).
//!
//! A bundle is a folder:
//! - `events.jsonl`: the selected events in seq order, one JSON object a line with the
//!   hashed fields exactly as the chain hashes them (`seq`, `at` as stored text, `issue`,
//!   `kind`, `payload`) and the stored `prev_hash` and `hash`; an event whose payload the
//!   redactor had to change carries `"redacted": true` (its own hash then cannot be
//!   recomputed; its links still can);
//! - `logs/<run id>/<file>`: the log files of the selected runs, redacted;
//! - `checkpoints`: the store's checkpoint file as it was;
//! - `public-key`: the checkpoint signing key's public half (`karajan key`'s line), when
//!   the store has a key;
//! - `manifest.json`: what was selected, every other file's SHA-256 and size, and the
//!   bundle's digest: the SHA-256 of the canonical JSON of the manifest without its
//!   `digest` field. The file is written in one canonical rendering, so an edit of any
//!   byte of it (even whitespace) is detected.
//!
//! Nothing in it depends on when it was exported: the same selection of the same store
//! gives byte-identical files and the same digest.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The format tag of `manifest.json`.
pub const FORMAT: &str = "karajan-evidence/v1";
pub const MANIFEST: &str = "manifest.json";
pub const EVENTS: &str = "events.jsonl";
pub const CHECKPOINTS: &str = "checkpoints";
pub const PUBLIC_KEY: &str = "public-key";
pub const LOGS: &str = "logs";

/// What was exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    pub ticket: Option<String>,
    /// RFC 3339: events at or after it.
    pub since: Option<String>,
    /// Prompt bodies (`prompt.md` log files) were left out.
    pub no_prompts: bool,
    /// Every event of the chain from seq 1 on: the chain is contiguous.
    pub whole_chain: bool,
}

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// `/`-separated, relative to the bundle.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
    /// The redactor changed it: a log file's digest no longer matches the chain's.
    pub redacted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub selection: Selection,
    /// Sorted by path.
    pub files: Vec<Entry>,
    pub digest: String,
}

impl Manifest {
    /// Build a manifest over `files` (sorted here) with its digest.
    pub fn new(selection: Selection, mut files: Vec<Entry>) -> Manifest {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut m = Manifest {
            format: FORMAT.into(),
            selection,
            files,
            digest: String::new(),
        };
        m.digest = m.compute_digest();
        m
    }

    /// SHA-256 of the canonical JSON of everything but `digest`.
    pub fn compute_digest(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.remove("digest");
        }
        let canonical = crate::store::canonical::canonical_json(&value);
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The one rendering `manifest.json` holds.
    pub fn render(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// The SHA-256 (hex) of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// An entry for `bytes` written at `path`.
pub fn entry(path: &str, bytes: &[u8], redacted: bool) -> Entry {
    Entry {
        path: path.to_string(),
        sha256: sha256(bytes),
        bytes: bytes.len() as u64,
        redacted,
    }
}

/// Every regular file under `dir`, `/`-separated and relative to it, sorted.
pub fn list_files(dir: &Path) -> Vec<String> {
    crate::orchestrator::evidence::hash_dir(dir)
        .into_keys()
        .collect()
}

/// One line of `events.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleEvent {
    pub seq: i64,
    pub at: String,
    pub issue: Option<String>,
    pub kind: String,
    pub payload: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
}
