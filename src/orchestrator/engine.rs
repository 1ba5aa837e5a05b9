//! The orchestrator's owned state and the small helpers every step uses.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Workflow;
use crate::domain::TicketSnapshot;
use crate::store::{NewEvent, Store, StoreError, StoredEvent};
use crate::tracker::Tracker;
use crate::workspace::Workspaces;

/// What a finished run task hands back to the actor.
#[derive(Debug)]
pub(crate) struct RunDone {
    pub identifier: String,
    pub run_id: String,
    pub outcome: crate::agent::RunOutcome,
}

/// A run whose process is (or is about to be) alive.
pub(crate) struct LiveRun {
    pub run_id: String,
    pub state: String,
    pub cancel: CancellationToken,
    pub task: JoinHandle<RunDone>,
}

/// The state owned by the orchestrator task.
pub struct Engine {
    pub(crate) workflow: Arc<Workflow>,
    pub(crate) tracker: Arc<dyn Tracker>,
    pub(crate) store: Store,
    pub(crate) workspaces: Workspaces,
    /// Live runs by ticket identifier: at most one per ticket, by construction.
    pub(crate) live: HashMap<String, LiveRun>,
    /// Run tasks report here (the run id) when they finish.
    pub(crate) done_tx: mpsc::Sender<String>,
    pub(crate) done_rx: Option<mpsc::Receiver<String>>,
    /// The latest snapshot of every ticket seen, for decisions between ticks.
    pub(crate) snapshots: HashMap<String, TicketSnapshot>,
    /// Dispatch is paused (by an operator).
    pub(crate) paused: bool,
    /// Shutting down: no new runs.
    pub(crate) draining: bool,
}

impl Engine {
    pub fn new(workflow: Arc<Workflow>, tracker: Arc<dyn Tracker>, store: Store) -> Self {
        let workspaces = Workspaces::new(&workflow.workspace);
        let (done_tx, done_rx) = mpsc::channel(256);
        Engine {
            workflow,
            tracker,
            store,
            workspaces,
            live: HashMap::new(),
            done_tx,
            done_rx: Some(done_rx),
            snapshots: HashMap::new(),
            paused: false,
            draining: false,
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// Append events in one transaction.
    pub(crate) async fn record(
        &self,
        events: Vec<NewEvent>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if events.is_empty() {
            return Ok(vec![]);
        }
        self.store.append(events).await
    }

    /// Replace the workflow (hot reload). Workspaces follow the new settings.
    pub(crate) fn set_workflow(&mut self, workflow: Arc<Workflow>, tracker: Arc<dyn Tracker>) {
        self.workspaces = Workspaces::new(&workflow.workspace);
        self.workflow = workflow;
        self.tracker = tracker;
    }

    /// The receiver of run completions, taken once by the actor loop.
    pub(crate) fn take_done_rx(&mut self) -> mpsc::Receiver<String> {
        self.done_rx.take().unwrap_or_else(|| mpsc::channel(1).1)
    }

    pub fn live_runs(&self) -> usize {
        self.live.len()
    }
}
