//! The orchestrator's owned state and the small helpers every step uses.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::counting::CountingTracker;
use super::live::{Activity, RunActivity};
use super::view::{ConfigStatus, MetricsView, StatusView};
use crate::config::Workflow;
use crate::domain::TicketSnapshot;
use crate::store::{NewEvent, Store, StoreError, StoredEvent};
use crate::tracker::Tracker;
use crate::workspace::Workspaces;

/// What a finished run task hands back to the actor.
#[derive(Debug)]
pub struct RunDone {
    pub identifier: String,
    pub run_id: String,
    pub outcome: crate::agent::RunOutcome,
    /// The workspace's branch and commits around the run (empty when it never ran).
    pub heads: Heads,
    /// A review state's verdict, read when its run succeeded (a run that succeeded
    /// without a valid one is failed instead: see `run_task`).
    pub verdict: Option<crate::domain::verdict::Given>,
    /// What the run did (agent CLI, model, diff stat, log digests), when its agent ran:
    /// recorded as `run_evidence` with its `run_finished`.
    pub evidence: Option<crate::domain::evidence::RunEvidence>,
    /// The agent's last output lines, not yet recorded: recorded first in the
    /// transaction of the run's `run_finished` (see `recorder::forward_run_events`).
    pub tail: Vec<crate::store::NewEvent>,
}

impl RunDone {
    /// A run that ended with `outcome` and nothing else to show: no agent ran (or what
    /// it did is unknown), so no heads, verdict or evidence.
    pub(crate) fn without_agent(
        identifier: &str,
        run_id: &str,
        outcome: crate::agent::RunOutcome,
    ) -> Self {
        RunDone {
            identifier: identifier.to_string(),
            run_id: run_id.to_string(),
            outcome,
            heads: Heads::default(),
            verdict: None,
            evidence: None,
            tail: vec![],
        }
    }
}

/// The workspace's branch and its HEAD before and after a run: what the run committed,
/// and what its push sends.
#[derive(Debug, Clone, Default)]
pub struct Heads {
    pub branch: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    /// A cluster node ran the run and pushed its branch itself (see `cluster::plan`):
    /// git's answer. `None`: nothing was pushed yet (a local run pushes through its
    /// ticket's chain).
    pub pushed: Option<Result<(), String>>,
}

/// A run whose process is (or is about to be) alive.
pub(crate) struct LiveRun {
    pub run_id: String,
    pub state: String,
    pub runner: String,
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    /// The run's cost cap (budgets), if any.
    pub cost_cap: Option<f64>,
    pub cancel: CancellationToken,
    pub task: JoinHandle<RunDone>,
    pub activity: RunActivity,
    /// Being stopped: the reason, and what the decision that stopped it does next once
    /// the run is recorded finished.
    pub stopping: Option<Stopping>,
    /// A poll has shown the ticket since the run started: its snapshot is fresh enough
    /// to decide on when the run ends.
    pub seen: bool,
    /// The number of the last poll started before the run (`seen` needs a later one).
    pub started_seq: u64,
}

/// A stop in progress.
pub(crate) struct Stopping {
    pub reason: String,
    pub then: Option<AfterStop>,
}

/// The rest of a decision that stopped a run, executed once the run has ended.
pub(crate) struct AfterStop {
    pub snapshot: TicketSnapshot,
    pub actions: Vec<crate::domain::Action>,
    pub origin: super::execute::Origin,
}

/// The state owned by the orchestrator task.
pub struct Engine {
    pub(crate) workflow: Arc<Workflow>,
    pub(crate) counting: Arc<CountingTracker>,
    pub(crate) tracker: Arc<dyn Tracker>,
    pub(crate) store: Store,
    pub(crate) workspaces: Workspaces,
    /// The workflow's forge (pushes, pull requests), built once per workflow: its HTTP
    /// client is shared by every ticket's chain.
    pub(crate) forge: Option<crate::forge::Forge>,
    /// Live runs by ticket identifier: at most one per ticket, by construction.
    pub(crate) live: HashMap<String, LiveRun>,
    /// Run tasks report here (the run id) when they finish.
    pub(crate) done_tx: mpsc::Sender<String>,
    pub(crate) done_rx: Option<mpsc::Receiver<String>>,
    /// Run tasks report what their agent does here (display only; may drop).
    pub(crate) activity_tx: mpsc::Sender<Activity>,
    pub(crate) activity_rx: Option<mpsc::Receiver<Activity>>,
    /// The latest snapshot of every ticket seen, for decisions between ticks.
    pub(crate) snapshots: HashMap<String, Arc<TicketSnapshot>>,
    /// Dispatch is paused (by an operator).
    pub(crate) paused: bool,
    /// Shutting down: no new runs.
    pub(crate) draining: bool,
    /// The read model and the live event feed.
    pub(crate) view_tx: watch::Sender<Arc<StatusView>>,
    pub(crate) live_tx: super::live::LiveFeed,
    pub(crate) metrics: MetricsView,
    pub(crate) config_status: ConfigStatus,
    pub(crate) verified: Option<super::verifying::Verification>,
    /// Some decision that starts a run waits for a slot (its ticket was left untouched):
    /// a run that finishes triggers a tick so it is taken at once.
    pub(crate) backlog: bool,
    /// Dispatch is paused by the daily budget until this time.
    pub(crate) budget_paused_until: Option<DateTime<Utc>>,
    /// Runners whose dispatch is paused by their CLI's usage limit (see `limits`).
    pub(crate) runner_pauses: std::collections::BTreeMap<String, super::limits::RunnerPause>,
    /// Set by handles asking for a refresh; cleared when the tick starts (coalescing).
    pub(crate) refresh_pending: Arc<AtomicBool>,
    /// Blanks the workflow's secrets from everything recorded or written to the tracker.
    pub(crate) redactor: Arc<crate::redact::Redactor>,
    /// Where notable events are announced (`notify:`); started by the actor.
    pub(crate) notifier: Option<crate::notify::Notifier>,
    /// The owner's tasks (polls, chains, feedback reads) report here.
    pub(crate) tasks_tx: mpsc::UnboundedSender<super::inbox::TaskMsg>,
    pub(crate) tasks_rx: Option<mpsc::UnboundedReceiver<super::inbox::TaskMsg>>,
    /// Tickets with a chain in flight, and the effects queued behind it.
    pub(crate) chains: HashMap<String, VecDeque<super::effects::Effect>>,
    /// The poll in flight (its number), and when it started.
    pub(crate) observing: Option<(u64, tokio::time::Instant)>,
    pub(crate) fetch_seq: u64,
    /// A poll was asked for while one was in flight: start another when it answers.
    pub(crate) observe_again: bool,
    /// Tickets named by webhooks while a read was in flight: read them next.
    pub(crate) nudged: std::collections::BTreeSet<String>,
    /// Tickets acted on from a webhook delivery's own data (`delivered`): the read
    /// number it took and the ticket's `updatedAt` it showed. A read begun before it
    /// cannot speak for the ticket unless it shows a later change.
    pub(crate) delivered: HashMap<String, (u64, chrono::DateTime<chrono::Utc>)>,
    /// Moves that landed while the poll in flight was out (`from` → `to`, the columns
    /// the owner's snapshot left and took): its answer for those tickets may predate
    /// them.
    pub(crate) landed: HashMap<String, super::chains::Landed>,
    /// Tickets whose decision after a run waits for their chain to end.
    pub(crate) redecide: HashSet<String>,
    /// The columns karajan's chains are moving each ticket to (until its chain ends):
    /// a read showing one of them shows karajan's own write.
    pub(crate) moving: HashMap<String, Vec<String>>,
    /// Tickets a read showed somewhere neither karajan's snapshot nor its own moves
    /// explain while work was in flight for them, with that read: settled once that
    /// work ends (deciding on the snapshot from before would drop what a human did
    /// meanwhile), by the tracker's `updatedAt` against karajan's last move where it
    /// says, else by reading the ticket again (see `advance`).
    pub(crate) reread: HashMap<String, Arc<TicketSnapshot>>,
    /// The tracker's last-change time after the last move of each ticket's chain that
    /// landed, where its answer said (Linear); cleared when a new chain starts.
    pub(crate) chain_moved_at: HashMap<String, chrono::DateTime<chrono::Utc>>,
    /// Tickets being read again after a run no poll saw.
    pub(crate) refreshing: HashSet<String>,
    /// When the last whole poll answered (see `Engine::polled_lately`).
    pub(crate) polled_at: Option<tokio::time::Instant>,
    /// Whether polls go on after the first (not in a `--once` run).
    pub(crate) polls_continue: bool,
    /// Tickets whose rework feedback is being read.
    pub(crate) reading: HashSet<String>,
    /// Tickets whose pull request is being read for their gate (`pr_watch`).
    pub(crate) watching: HashSet<String>,
    /// Why the pull request keeps a ticket's gate waiting, as last read, with the
    /// gate's entry time (a later visit does not show it).
    pub(crate) pr_waiting: HashMap<String, (chrono::DateTime<chrono::Utc>, String)>,
    /// When each waiting ticket's pull request is read next (see `pr_pace`).
    pub(crate) pr_pace: super::pr_pace::PrPace,
    /// Who approved a gate that merges first (`gate_action`): the approval that takes
    /// effect once merged is recorded with them (not known after a restart).
    pub(crate) approved_by: HashMap<String, String>,
    /// The terminal sweep is in flight.
    pub(crate) sweeping: bool,
    /// A cluster's lease holder: runs are queued for any node to claim (see
    /// `cluster::queue`) instead of run here.
    pub(crate) remote: Option<crate::cluster::relay::RemoteRuns>,
}

fn config_status(wf: &Workflow, tracker: &str) -> ConfigStatus {
    ConfigStatus {
        path: wf.path.display().to_string(),
        digest: wf.digest.clone(),
        applied_at: Utc::now(),
        last_error: None,
        last_error_at: None,
        workspace_root: wf.workspace.root.display().to_string(),
        logs_dir: wf.store.logs.display().to_string(),
        tracker: tracker.to_string(),
        max_concurrent: wf.agent.max_concurrent,
        polling_seconds: wf.polling.interval.as_secs(),
        machine: Arc::new(wf.machine.clone()),
    }
}

/// The workflow's workspaces, their mirror fetching with the forge's HTTP access.
pub(crate) fn workspaces_of(workflow: &Workflow) -> Workspaces {
    let repo = &workflow.workspace.repo;
    let workspaces = Workspaces::new(&workflow.workspace).with_http(
        crate::forge::http::Access::for_workspace(workflow.forge.as_ref(), repo),
    );
    // A cluster's tickets move between nodes: reused workspaces follow the pushed branch.
    if workflow.store.cluster.is_some() {
        workspaces.following_pushed()
    } else {
        workspaces
    }
}

impl Engine {
    pub fn new(workflow: Arc<Workflow>, tracker: Arc<dyn Tracker>, store: Store) -> Self {
        let workspaces = workspaces_of(&workflow);
        let (done_tx, done_rx) = mpsc::channel(256);
        let (activity_tx, activity_rx) = mpsc::channel(4096);
        let (tasks_tx, tasks_rx) = mpsc::unbounded_channel();
        let counting = Arc::new(CountingTracker::new(tracker, 0, 0));
        let forge = workflow
            .forge
            .as_ref()
            .map(|f| crate::forge::Forge::sharing(f, counting.github_http()));
        let config_status = config_status(&workflow, counting.kind());
        let view = super::publish::empty_view(&config_status);
        let (view_tx, _) = watch::channel(Arc::new(view));
        let live_tx = super::live::LiveFeed::new();
        let redactor = Arc::new(crate::redact::Redactor::new(crate::redact::secrets_of(
            &workflow,
        )));
        Engine {
            tracker: counting.clone(),
            counting,
            forge,
            workflow,
            store,
            workspaces,
            live: HashMap::new(),
            done_tx,
            done_rx: Some(done_rx),
            activity_tx,
            activity_rx: Some(activity_rx),
            snapshots: HashMap::new(),
            paused: false,
            draining: false,
            view_tx,
            live_tx,
            metrics: MetricsView::default(),
            config_status,
            verified: None,
            backlog: false,
            budget_paused_until: None,
            runner_pauses: std::collections::BTreeMap::new(),
            refresh_pending: Arc::new(AtomicBool::new(false)),
            redactor,
            notifier: None,
            tasks_tx,
            tasks_rx: Some(tasks_rx),
            chains: HashMap::new(),
            observing: None,
            polled_at: None,
            polls_continue: true,
            fetch_seq: 0,
            observe_again: false,
            nudged: Default::default(),
            delivered: HashMap::new(),
            landed: HashMap::new(),
            reading: HashSet::new(),
            watching: HashSet::new(),
            pr_waiting: HashMap::new(),
            pr_pace: Default::default(),
            approved_by: HashMap::new(),
            redecide: HashSet::new(),
            moving: HashMap::new(),
            reread: HashMap::new(),
            chain_moved_at: HashMap::new(),
            refreshing: HashSet::new(),
            sweeping: false,
            remote: None,
        }
    }

    /// A cluster's lease holder: queue runs for the nodes to claim (see `remote_run`).
    pub fn running_on(mut self, remote: Option<crate::cluster::relay::RemoteRuns>) -> Self {
        self.remote = remote;
        self
    }

    /// How many agents may run at once: `agent.max_concurrent`, or on a cluster the
    /// live nodes' slots together.
    pub(crate) fn capacity(&self) -> usize {
        match &self.remote {
            Some(r) => r.capacity(),
            None => self.workflow.agent.max_concurrent,
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    /// Append events in one transaction, then announce them on the live feed.
    pub(crate) async fn record(
        &self,
        events: Vec<NewEvent>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.recorder().record(events).await
    }

    /// The shared way to record: run tasks get a clone, so their events reach the
    /// live feed too.
    pub(crate) fn recorder(&self) -> super::recorder::Recorder {
        super::recorder::Recorder::new(
            self.store.clone(),
            self.live_tx.clone(),
            self.redactor.clone(),
        )
        .notifying(self.notifier.clone())
    }

    /// Start announcing notable events to the workflow's `notify:` targets; the
    /// outcomes are recorded (by a recorder that announces nothing).
    pub(crate) fn start_notifier(&mut self) {
        if self.notifier.is_some() {
            return;
        }
        let quiet = self.recorder();
        self.notifier =
            crate::notify::Notifier::start(&self.workflow.notify, self.redactor.clone(), quiet);
    }

    /// Replace the workflow (hot reload). Workspaces follow the new settings; the
    /// tracker counters carry over.
    pub(crate) fn set_workflow(&mut self, workflow: Arc<Workflow>, tracker: Arc<dyn Tracker>) {
        let (calls, errors) = self.counting.counts();
        self.counting = Arc::new(CountingTracker::new(tracker, calls, errors));
        self.tracker = self.counting.clone();
        self.workspaces = workspaces_of(&workflow);
        self.forge = workflow
            .forge
            .as_ref()
            .map(|f| crate::forge::Forge::sharing(f, self.tracker.github_http()));
        self.config_status = config_status(&workflow, self.counting.kind());
        self.redactor = Arc::new(crate::redact::Redactor::new(crate::redact::secrets_of(
            &workflow,
        )));
        let renotify = workflow.notify != self.workflow.notify;
        self.workflow = workflow;
        if renotify && tokio::runtime::Handle::try_current().is_ok() {
            // The old targets get what they have queued; the new ones start afresh
            // (a gate wait being timed is not carried over).
            if let Some(old) = self.notifier.take() {
                tokio::spawn(old.finish(std::time::Duration::from_secs(15)));
            }
            self.start_notifier();
        }
    }

    /// The receiver of run completions, taken once by the actor loop.
    pub(crate) fn take_done_rx(&mut self) -> mpsc::Receiver<String> {
        self.done_rx.take().unwrap_or_else(|| mpsc::channel(1).1)
    }

    /// The receiver of task reports, taken once by the actor loop.
    pub(crate) fn take_tasks_rx(&mut self) -> mpsc::UnboundedReceiver<super::inbox::TaskMsg> {
        self.tasks_rx
            .take()
            .unwrap_or_else(|| mpsc::unbounded_channel().1)
    }

    /// The receiver of agent activity, taken once by the actor loop.
    pub(crate) fn take_activity_rx(&mut self) -> mpsc::Receiver<Activity> {
        self.activity_rx
            .take()
            .unwrap_or_else(|| mpsc::channel(1).1)
    }

    pub fn live_runs(&self) -> usize {
        self.live.len()
    }
}
