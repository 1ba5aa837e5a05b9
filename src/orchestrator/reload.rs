//! Hot reload: the workflow file and its prompt files are watched; a change is loaded
//! and validated in full (the same validation as `run` and `check`, prompts rendered
//! against a sample ticket). A valid version is applied and recorded (`config_applied`
//! with its digest); an invalid one is logged with every problem, recorded
//! (`config_rejected`), and the last good config stays in force.
//!
//! Quiet by construction: file events go through notify's own debouncer
//! (`notify-debouncer-full`), so an editor's burst of writes is one change; only
//! content events count (create, modify, remove, rename) — never access events, or
//! karajan's own reading of the workflow would trigger the next reload, forever. A
//! rejected version is recorded once: the same rejected content is not recorded again
//! until it changes.
//!
//! Cheap when other files change: the watch is on the folders (an editor replaces a file
//! by renaming over it, which a watch on the file itself would lose), so every write in
//! them (logs next to the workflow included) reaches the handler. [`WatchSet`] compares
//! each event's raw path with the watched set first (exact path or file name, no system
//! call) and canonicalizes only such a candidate, so unrelated writes cost no file
//! system work.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use notify::event::{EventKind, MetadataKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use super::engine::Engine;
use crate::config::Workflow;
use crate::store::{EventKind as StoreEventKind, NewEvent, StoreError};

/// How long the files must be quiet before a burst of events counts as one change.
const DEBOUNCE: Duration = Duration::from_millis(250);

type FileWatcher = Debouncer<RecommendedWatcher, RecommendedCache>;

/// The watch on a workflow and its prompts, and what the last rejection was.
pub(crate) struct ConfigWatch {
    /// Kept alive while watching; `None` when watching is off or failed.
    watcher: Option<FileWatcher>,
    rx: mpsc::Receiver<()>,
    /// Digest of the last rejected content (workflow text, watched files, errors).
    rejected: Option<String>,
}

impl ConfigWatch {
    /// Watch `wf`'s files when `on`; otherwise a watch that never fires.
    pub(crate) fn new(wf: &Workflow, on: bool) -> ConfigWatch {
        let (tx, rx) = mpsc::channel(1);
        let watcher = if on { watch(wf, tx) } else { None };
        ConfigWatch {
            watcher,
            rx,
            rejected: None,
        }
    }

    /// The next debounced change of a watched file. Pending changes coalesce: the
    /// channel holds one signal at most.
    pub(crate) async fn changed(&mut self) -> Option<()> {
        self.rx.recv().await
    }

    /// The prompt files may have changed with an applied version: watch the new set.
    fn rewatch(&mut self, wf: &Workflow) {
        if self.watcher.is_none() {
            return;
        }
        let (tx, rx) = mpsc::channel(1);
        self.watcher = watch(wf, tx);
        self.rx = rx;
    }
}

/// Whether a file event is a change of content (not a read, not an atime update).
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

/// The watched files, for filtering file events cheaply (see the module doc).
struct WatchSet {
    /// The watched files as configured and canonicalized.
    exact: HashSet<PathBuf>,
    /// The canonical forms, which decide in the end.
    canonical: HashSet<PathBuf>,
    /// Their file names (configured and canonical): an event on any other name is not
    /// ours whatever its directory.
    names: HashSet<OsString>,
    /// Paths canonicalized so far (for tests: unrelated events cost none).
    canonicalized: AtomicUsize,
}

impl WatchSet {
    fn new(files: &[PathBuf]) -> WatchSet {
        let canonical: HashSet<PathBuf> = files
            .iter()
            .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
            .collect();
        let exact: HashSet<PathBuf> = files.iter().chain(&canonical).cloned().collect();
        let names = exact
            .iter()
            .filter_map(|p| p.file_name().map(OsString::from))
            .collect();
        WatchSet {
            exact,
            canonical,
            names,
            canonicalized: AtomicUsize::new(0),
        }
    }

    /// Whether `path` is one of the watched files: an exact match, else a file of a
    /// watched name under another spelling of the folder (a symlink), which only
    /// canonicalizing can tell.
    fn matches(&self, path: &Path) -> bool {
        if self.exact.contains(path) {
            return true;
        }
        if !path.file_name().is_some_and(|n| self.names.contains(n)) {
            return false;
        }
        self.canonicalized.fetch_add(1, Ordering::Relaxed);
        path.canonicalize()
            .is_ok_and(|real| self.canonical.contains(&real))
    }

    /// Whether a batch of events changed a watched file.
    fn relevant(&self, events: &[notify_debouncer_full::DebouncedEvent]) -> bool {
        events
            .iter()
            .any(|ev| is_change(&ev.kind) && ev.paths.iter().any(|p| self.matches(p)))
    }

    /// The folders to watch.
    fn dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self
            .canonical
            .iter()
            .filter_map(|f| f.parent().map(PathBuf::from))
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }
}

/// Watch the directories holding the workflow and its prompts; signal on (debounced)
/// changes to those files. Returns the watcher, which must be kept alive.
fn watch(wf: &Workflow, tx: mpsc::Sender<()>) -> Option<FileWatcher> {
    let wanted = WatchSet::new(&super::actor::watched_paths(wf));
    let dirs = wanted.dirs();
    let handler = move |res: DebounceEventResult| match res {
        Ok(events) => {
            if wanted.relevant(&events) {
                // Full means a reload is already pending: it will read this change too.
                let _ = tx.try_send(());
            }
        }
        Err(errors) => {
            for e in errors {
                warn!(error = %e, "file watch error");
            }
        }
    };
    let mut watcher = match new_debouncer(DEBOUNCE, None, handler) {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, "cannot watch the workflow for changes; hot reload is off");
            return None;
        }
    };
    for d in dirs {
        if let Err(e) = watcher.watch(&d, RecursiveMode::NonRecursive) {
            warn!(dir = %d.display(), error = %e, "cannot watch directory");
        }
    }
    Some(watcher)
}

/// A digest of what was rejected: the workflow's text, the files watched so far and the
/// errors (which cover prompt files the new text names), so the same rejected content
/// is recognised and a change to any of it is not.
fn rejected_digest(wf: &Workflow, errors: &[String]) -> String {
    let mut h = Sha256::new();
    let mut files = vec![wf.path.clone()];
    files.extend(super::actor::watched_paths(wf));
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        h.update(f.display().to_string().as_bytes());
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(&bytes);
    }
    for e in errors {
        h.update((e.len() as u64).to_be_bytes());
        h.update(e.as_bytes());
    }
    hex::encode(h.finalize())
}

impl Engine {
    /// Re-read the workflow after `watch` signalled a change; apply it if valid and
    /// changed, else keep the last good one (recording a rejection once per content).
    /// Returns whether a new version was applied.
    pub(crate) async fn reload(&mut self, watch: &mut ConfigWatch) -> Result<bool, StoreError> {
        let path = self.workflow.path.clone();
        let shown = path.display().to_string();
        debug!(path = %shown, "re-reading the workflow after a change");
        let candidate = crate::workflow_load::load(&path).map_err(|e| {
            e.to_string()
                .lines()
                .map(str::to_string)
                .filter(|l| !l.trim().is_empty())
                .collect::<Vec<_>>()
        });
        let candidate = candidate.and_then(|wf| match crate::tracker::from_config(&wf) {
            Ok(t) => Ok((wf, t)),
            Err(e) => Err(vec![e.to_string()]),
        });
        match candidate {
            Ok((wf, _)) if wf.digest == self.workflow.digest => {
                // Back to the running version: a later rejection is news again.
                watch.rejected = None;
                Ok(false)
            }
            Ok((wf, tracker)) => {
                info!(path = %shown, digest = %wf.digest, "workflow reloaded");
                watch.rejected = None;
                let digest = wf.digest.clone();
                self.set_workflow(std::sync::Arc::new(wf), tracker);
                watch.rewatch(&self.workflow);
                self.record(vec![NewEvent::global(StoreEventKind::ConfigApplied {
                    path: shown,
                    digest,
                })])
                .await?;
                Ok(true)
            }
            Err(errors) => {
                let digest = rejected_digest(&self.workflow, &errors);
                if watch.rejected.as_deref() == Some(digest.as_str()) {
                    return Ok(false);
                }
                watch.rejected = Some(digest);
                error!(path = %shown, errors = %errors.join("; "), "workflow reload rejected; keeping the last good config");
                // The read model shows the rejection until a valid version is applied.
                self.config_status.last_error = Some(errors.join("\n"));
                self.config_status.last_error_at = Some(chrono::Utc::now());
                self.record(vec![NewEvent::global(StoreEventKind::ConfigRejected {
                    path: shown,
                    errors,
                })])
                .await?;
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, RenameMode};

    use super::*;

    fn event(kind: EventKind, path: &Path) -> notify_debouncer_full::DebouncedEvent {
        notify_debouncer_full::DebouncedEvent::new(
            notify::Event::new(kind).add_path(path.to_path_buf()),
            std::time::Instant::now(),
        )
    }

    fn write(path: &Path) -> notify_debouncer_full::DebouncedEvent {
        event(
            EventKind::Modify(ModifyKind::Data(DataChange::Content)),
            path,
        )
    }

    #[test]
    fn a_log_next_to_the_workflow_costs_no_canonicalization() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let wf = root.join("workflow.yaml");
        let prompt = root.join("prompts/implement.md");
        std::fs::create_dir_all(prompt.parent().unwrap()).unwrap();
        std::fs::write(&wf, "x").unwrap();
        std::fs::write(&prompt, "y").unwrap();
        let set = WatchSet::new(&[wf.clone(), prompt.clone()]);
        assert_eq!(set.dirs(), [root.clone(), root.join("prompts")]);

        let log = root.join("karajan.log");
        std::fs::write(&log, "line").unwrap();
        let burst: Vec<_> = (0..100).map(|_| write(&log)).collect();
        assert!(!set.relevant(&burst));
        assert!(!set.relevant(&[write(&root.join("prompts/notes.md"))]));
        assert_eq!(set.canonicalized.load(Ordering::Relaxed), 0);

        // The watched files themselves match on their raw paths, still with no call.
        assert!(set.relevant(&[write(&wf)]));
        assert!(set.relevant(&[write(&prompt)]));
        assert_eq!(set.canonicalized.load(Ordering::Relaxed), 0);
        // A read of the workflow is not a change.
        let read = event(EventKind::Access(AccessKind::Close(AccessMode::Read)), &wf);
        assert!(!set.relevant(&[read]));
    }

    #[test]
    fn a_watched_name_under_another_spelling_is_canonicalized() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let real = root.join("real");
        std::fs::create_dir(&real).unwrap();
        let wf = real.join("workflow.yaml");
        std::fs::write(&wf, "x").unwrap();
        let link = root.join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let set = WatchSet::new(&[link.join("workflow.yaml")]);
        assert_eq!(set.dirs(), [real]);
        // The event says the real path; the configured one went through a symlink.
        assert!(set.relevant(&[write(&wf)]));
        // Same name in another folder: canonicalized, and refused.
        let other = root.join("workflow.yaml");
        std::fs::write(&other, "z").unwrap();
        assert!(!set.relevant(&[write(&other)]));
        assert_eq!(set.canonicalized.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn only_content_events_count() {
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(!is_change(&EventKind::Modify(ModifyKind::Metadata(
            MetadataKind::AccessTime
        ))));
        assert!(is_change(&EventKind::Modify(ModifyKind::Data(
            DataChange::Content
        ))));
        assert!(is_change(&EventKind::Modify(ModifyKind::Name(
            RenameMode::Both
        ))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Remove(
            notify::event::RemoveKind::File
        )));
    }
}
