//! `karajan export [WORKFLOW] [--ticket T] [--since DATE] [--no-prompts] OUT`: write an
//! evidence bundle (format: `bundle`) that `karajan verify --bundle` checks on another
//! machine, without the store.
//!
//! Everything that leaves the machine goes through the project's redactor (every secret
//! the workflow holds: runner env secrets, tracker key, server and forge tokens), events
//! and log files alike. The store is opened read-only, so a running daemon is not
//! disturbed; the bundle covers the chain up to the head seen when the export started.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

use super::Exit;
use super::bundle::{self, BundleEvent, Entry, Manifest, Selection};
use crate::redact::Redactor;
use crate::store::StoredEvent;

#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// `[WORKFLOW] OUT`: the workflow file or its folder (optional, see -w) and the
    /// bundle folder to write (created; it must not exist or be empty).
    #[arg(value_name = "[WORKFLOW] OUT", num_args = 1..=2, required = true)]
    pub paths: Vec<PathBuf>,
    /// Only this ticket's events and runs (e.g. `ENG-42`).
    #[arg(long)]
    pub ticket: Option<String>,
    /// Only events at or after this time (`2026-12-01` or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Leave the rendered prompts (`prompt.md` log files) out of the bundle.
    #[arg(long)]
    pub no_prompts: bool,
}

/// Parse `--since`: a day (midnight UTC) or an RFC 3339 time.
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        .map_err(|_| format!("--since {text:?}: expected a day (2026-12-01) or an RFC 3339 time"))
}

/// The public half of the store's checkpoint signing key (`karajan key`'s line), when
/// the store has a key: bundled so that `verify --bundle` checks the checkpoints'
/// signatures (an auditor compares it with the key the team publishes).
fn public_key_text(workflow: &Path) -> Option<String> {
    let paths = super::store_paths(workflow);
    match crate::store::signing::load(&paths.signing_key) {
        Ok(Some(key)) => Some(format!(
            "{}\n",
            crate::store::signing::public_text(&key.public())
        )),
        _ => None,
    }
}

pub async fn run(workflow: &Path, out: &Path, args: &ExportArgs) -> Exit {
    let since = match args.since.as_deref().map(parse_since).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("karajan: {e}");
            return Exit::Usage;
        }
    };
    if out.exists()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        eprintln!(
            "karajan: {} exists and is not an empty folder",
            out.display()
        );
        return Exit::Usage;
    }
    let store = match super::open_store(workflow).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let secrets = match crate::workflow_load::load_unrendered_file(workflow) {
        Ok(wf) => crate::redact::secrets_of(&wf),
        Err(e) => {
            // Without the workflow the secrets are unknown: exporting would leak them.
            eprintln!("karajan: cannot read the workflow's secrets, nothing exported: {e}");
            return Exit::Config;
        }
    };
    let redactor = Redactor::new(secrets);
    let events = match select(&store, args.ticket.as_deref(), since).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("karajan: cannot read the store: {e}");
            return Exit::Failure;
        }
    };
    let selection = Selection {
        ticket: args.ticket.clone(),
        since: since.map(crate::store::chain::format_at),
        no_prompts: args.no_prompts,
        whole_chain: args.ticket.is_none() && since.is_none(),
    };
    let checkpoints = super::store_paths(workflow).checkpoints;
    match write(
        out,
        &events,
        &redactor,
        selection,
        &checkpoints,
        args.no_prompts,
        workflow,
    ) {
        Ok(m) => {
            println!(
                "exported {} events and {} files to {}; digest {}",
                events.len(),
                m.files.len(),
                out.display(),
                m.digest
            );
            Exit::Ok
        }
        Err(e) => {
            eprintln!("karajan: export to {} failed: {e}", out.display());
            Exit::Failure
        }
    }
}

async fn select(
    store: &crate::store::Store,
    ticket: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<StoredEvent>, crate::store::StoreError> {
    let (head, _) = store.head().await?;
    let mut out = vec![];
    let mut after = 0;
    loop {
        let page = store.events_page(after, 2000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        out.extend(page.into_iter().filter(|e| {
            e.seq <= head
                && ticket.is_none_or(|t| e.issue.as_deref() == Some(t))
                && since.is_none_or(|s| e.at >= s)
        }));
        if after >= head {
            break;
        }
    }
    Ok(out)
}

fn write(
    out: &Path,
    events: &[StoredEvent],
    redactor: &Redactor,
    selection: Selection,
    checkpoints: &Path,
    no_prompts: bool,
    workflow: &Path,
) -> std::io::Result<Manifest> {
    std::fs::create_dir_all(out)?;
    let mut files: Vec<Entry> = vec![];
    let mut put = |rel: &str, bytes: &[u8], redacted: bool| -> std::io::Result<()> {
        let path = out.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
        files.push(bundle::entry(rel, bytes, redacted));
        Ok(())
    };
    let mut jsonl = String::new();
    for e in events {
        let payload = redactor.scrub(&e.payload).map_err(std::io::Error::other)?;
        let line = BundleEvent {
            seq: e.seq,
            at: crate::store::chain::format_at(e.at),
            issue: e.issue.clone(),
            kind: e.kind.clone(),
            redacted: payload != e.payload,
            payload,
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        };
        jsonl.push_str(&serde_json::to_string(&line).map_err(std::io::Error::other)?);
        jsonl.push('\n');
    }
    put(bundle::EVENTS, jsonl.as_bytes(), false)?;
    for (run_id, dir) in log_dirs(events) {
        let dir = Path::new(&dir);
        for file in bundle::list_files(dir) {
            if no_prompts && file == "prompt.md" {
                continue;
            }
            let bytes = std::fs::read(dir.join(&file))?;
            let (bytes, redacted) = match String::from_utf8(bytes) {
                Ok(text) => match redactor.redact(&text) {
                    std::borrow::Cow::Borrowed(_) => (text.into_bytes(), false),
                    std::borrow::Cow::Owned(r) => (r.into_bytes(), true),
                },
                // Binary output cannot be redacted reliably: left out rather than leaked.
                Err(_) => continue,
            };
            put(
                &format!("{}/{run_id}/{file}", bundle::LOGS),
                &bytes,
                redacted,
            )?;
        }
    }
    if let Some(text) =
        crate::store::checkpoint::read(checkpoints).map_err(std::io::Error::other)?
    {
        put(bundle::CHECKPOINTS, text.as_bytes(), false)?;
    }
    if let Some(key) = public_key_text(workflow) {
        put(bundle::PUBLIC_KEY, key.as_bytes(), false)?;
    }
    let manifest = Manifest::new(selection, files);
    std::fs::write(out.join(bundle::MANIFEST), manifest.render())?;
    Ok(manifest)
}

/// The log directory of every run started among `events` (run id sanitized for a path).
fn log_dirs(events: &[StoredEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e.kind == "run_started")
        .filter_map(|e| {
            let run_id = e.payload.get("run_id")?.as_str()?;
            let dir = e.payload.get("log_dir")?.as_str()?;
            (!dir.is_empty()).then(|| (crate::workspace::sanitize_key(run_id), dir.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::chain::{GENESIS, Link, event_hash, format_at};

    /// Two chained events; the second quotes `secret` (a tracker token an error echoed).
    fn chain(secret: &str, log_dir: &Path) -> Vec<StoredEvent> {
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-04T10:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let payloads = [
            (
                "run_started",
                serde_json::json!({"run_id": "r-1", "log_dir": log_dir.display().to_string()}),
            ),
            (
                "tracker_error",
                serde_json::json!({"error": format!("401 for token {secret} é 🦀 <")}),
            ),
        ];
        let mut prev = GENESIS;
        let mut out = vec![];
        for (i, (kind, payload)) in payloads.into_iter().enumerate() {
            let seq = i as i64 + 1;
            let text = format_at(at);
            let hash = event_hash(&Link {
                prev_hash: &prev,
                seq,
                at: &text,
                issue: Some("QS-1"),
                kind,
                payload: &payload,
            });
            out.push(StoredEvent {
                seq,
                at,
                issue: Some("QS-1".into()),
                kind: kind.into(),
                payload,
                prev_hash: hex::encode(prev),
                hash: hex::encode(hash),
            });
            prev = hash;
        }
        out
    }

    #[test]
    fn a_tracker_token_in_an_event_or_a_log_never_reaches_the_bundle_which_still_verifies() {
        let secret = "lin_api_T0k3n/x+y=";
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        std::fs::write(logs.join("stderr.log"), format!("auth {secret} refused\n")).unwrap();
        std::fs::write(logs.join("prompt.md"), "the prompt\n").unwrap();
        let events = chain(secret, &logs);
        let redactor = Redactor::new(vec![secret.to_string()]);
        let selection = Selection {
            ticket: Some("QS-1".into()),
            since: None,
            no_prompts: true,
            whole_chain: false,
        };
        let out = dir.path().join("bundle");
        let missing = dir.path().join("no-checkpoints");
        let m = write(
            &out,
            &events,
            &redactor,
            selection.clone(),
            &missing,
            true,
            &out,
        )
        .unwrap();
        for path in bundle::list_files(&out) {
            let text = std::fs::read_to_string(out.join(&path)).unwrap();
            assert!(!text.contains(secret), "{path} holds the token");
        }
        let paths: Vec<_> = m
            .files
            .iter()
            .map(|e| (e.path.as_str(), e.redacted))
            .collect();
        assert_eq!(
            paths,
            vec![("events.jsonl", false), ("logs/r-1/stderr.log", true)],
            "the prompt is left out, the log marked redacted"
        );
        let lines = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
        assert!(lines.contains("401 for token [redacted] é 🦀 <"), "{lines}");
        // The redacted event cannot be re-hashed: named, not failed; the untouched one
        // still verifies.
        let report = super::super::verify_bundle::check(&out).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.contains("redacted") && n.contains("[2]")),
            "{:?}",
            report.notes
        );
        // The same selection again: the same digest.
        let again = dir.path().join("again");
        let m2 = write(
            &again, &events, &redactor, selection, &missing, true, &again,
        )
        .unwrap();
        assert_eq!(m.digest, m2.digest);
    }

    #[test]
    fn since_takes_a_day_or_an_rfc3339_time_and_refuses_anything_else() {
        assert_eq!(
            parse_since("2026-12-01").unwrap().to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_since("2026-12-01T10:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2026-12-01T08:00:00+00:00"
        );
        assert!(parse_since("yesterday").unwrap_err().contains("--since"));
    }
}
