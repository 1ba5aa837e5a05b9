//! Hot reload: the workflow file and its prompt files are watched; a change is loaded
//! and validated in full. A valid version is applied and recorded (`config_applied`
//! with its digest); an invalid one is logged with every problem, recorded
//! (`config_rejected`), and the last good config stays in force.

use std::path::PathBuf;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::engine::Engine;
use crate::config::Workflow;
use crate::store::{EventKind, NewEvent, StoreError};

/// Watch the directories holding the workflow and its prompts; signal on changes to
/// those files. Returns the watcher, which must be kept alive.
pub(crate) fn watch(wf: &Workflow, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    let files: Vec<PathBuf> = super::actor::watched_paths(wf)
        .into_iter()
        .map(|p| p.canonicalize().unwrap_or(p))
        .collect();
    let wanted = files.clone();
    let handler = move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && ev.paths.iter().any(|p| {
                let p = p.canonicalize().unwrap_or_else(|_| p.clone());
                wanted.contains(&p)
            })
        {
            let _ = tx.try_send(());
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, "cannot watch the workflow for changes; hot reload is off");
            return None;
        }
    };
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(PathBuf::from))
        .collect();
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        if let Err(e) = watcher.watch(&d, RecursiveMode::NonRecursive) {
            warn!(dir = %d.display(), error = %e, "cannot watch directory");
        }
    }
    Some(watcher)
}

impl Engine {
    /// Re-read the workflow; apply it if valid and changed, else keep the last good one.
    pub(crate) async fn reload(&mut self) -> Result<bool, StoreError> {
        let path = self.workflow.path.clone();
        let shown = path.display().to_string();
        let candidate = crate::config::load(&path).map_err(|e| {
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
            Ok((wf, _)) if wf.digest == self.workflow.digest => Ok(false),
            Ok((wf, tracker)) => {
                info!(path = %shown, digest = %wf.digest, "workflow reloaded");
                let digest = wf.digest.clone();
                self.set_workflow(std::sync::Arc::new(wf), tracker);
                self.record(vec![NewEvent::global(EventKind::ConfigApplied {
                    path: shown,
                    digest,
                })])
                .await?;
                Ok(true)
            }
            Err(errors) => {
                error!(path = %shown, errors = %errors.join("; "), "workflow reload rejected; keeping the last good config");
                // The read model shows the rejection until a valid version is applied.
                self.config_status.last_error = Some(errors.join("\n"));
                self.config_status.last_error_at = Some(chrono::Utc::now());
                self.record(vec![NewEvent::global(EventKind::ConfigRejected {
                    path: shown,
                    errors,
                })])
                .await?;
                Ok(false)
            }
        }
    }
}
