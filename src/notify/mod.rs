//! Notifications, so that no escalation is silent (issue 15 item 7): what a human must
//! hear about without watching the dashboard is sent to the `notify:` targets (a
//! generic JSON webhook, a Slack-compatible incoming webhook).
//!
//! One hook: the orchestrator's [`Recorder`](crate::orchestrator) hands every event
//! it has appended to [`Notifier::observe`], which keeps only the kinds that matter
//! and never waits (a full queue drops the event with a warning, the record has it).
//! Behind it, one task ([`watch`]) turns events into `Notification`s (a gate entry
//! becomes one only after `gate_delay` if the ticket is still there; failed runs
//! only when `failure_streak` of them come in a row), and one task per target
//! ([`deliver`]) posts them: rate limited, retried with backoff (honouring
//! `Retry-After`), each outcome recorded as `notification_sent` /
//! `notification_failed` with the target's name and attempts, never its URL. The body
//! is scrubbed by the project's redactor before it leaves.

mod deliver;
mod payload;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use deliver::{Attempt, Policy};
use watch::notable;

use crate::config::NotifyConfig;
use crate::redact::Redactor;
use crate::store::{EventKind, NewEvent, StoreError, StoredEvent};

/// How many events may wait for the watcher before new ones are dropped.
const EVENT_QUEUE: usize = 256;

/// How many notifications may wait for a target before new ones are dropped.
const TARGET_QUEUE: usize = 64;

/// Where delivery outcomes are recorded (the orchestrator's recorder, or a test's list).
pub(crate) trait OutcomeSink: Send + Sync + 'static {
    fn record(
        &self,
        events: Vec<NewEvent>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

/// The cloneable, never-blocking handle the recorder holds.
#[derive(Clone)]
pub(crate) struct Notifier {
    tx: mpsc::Sender<StoredEvent>,
    closing: CancellationToken,
    tasks: Arc<tokio::sync::Mutex<Option<JoinSet<()>>>>,
}

impl Notifier {
    /// Start the watcher and one delivery task per target; `None` without targets.
    pub fn start<S: OutcomeSink + Clone>(
        config: &NotifyConfig,
        redactor: Arc<Redactor>,
        sink: S,
    ) -> Option<Notifier> {
        if config.targets.is_empty() {
            return None;
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("karajan/", env!("CARGO_PKG_VERSION")))
            .build()
            .ok()?;
        let mut tasks = JoinSet::new();
        let mut outs = Vec::new();
        for target in &config.targets {
            let (tx, rx) = mpsc::channel(TARGET_QUEUE);
            outs.push((target.clone(), tx));
            let post = deliver::HttpPost {
                client: client.clone(),
                url: target.url.expose().to_string(),
            };
            let (name, kind) = (target.name.clone(), target.kind);
            let (redactor, sink) = (redactor.clone(), sink.clone());
            tasks.spawn(async move {
                deliver::run(rx, post, name, kind, Policy::default(), redactor, sink).await;
            });
        }
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        let (delay, streak) = (config.gate_delay, config.failure_streak);
        let closing = CancellationToken::new();
        tasks.spawn(watch::run(rx, closing.clone(), outs, delay, streak));
        Some(Notifier {
            tx,
            closing,
            tasks: Arc::new(tokio::sync::Mutex::new(Some(tasks))),
        })
    }

    /// Hand over what was just recorded; never waits.
    pub fn observe(&self, events: &[StoredEvent]) {
        for e in events.iter().filter(|e| notable(&e.kind)) {
            if self.tx.try_send(e.clone()).is_err() {
                tracing::warn!(kind = %e.kind, "notification queue full or closed; event not announced");
            }
        }
    }

    /// At shutdown: stop taking events and let the queued notifications go out (their
    /// outcomes recorded), for at most `within`.
    pub async fn finish(self, within: Duration) {
        // Other clones (a run task's recorder) may outlive this one: the watcher is
        // told to drain what it has and stop, which closes the targets' queues.
        self.closing.cancel();
        let Some(mut tasks) = self.tasks.lock().await.take() else {
            return;
        };
        let drained =
            tokio::time::timeout(within, async { while tasks.join_next().await.is_some() {} })
                .await;
        if drained.is_err() {
            tracing::warn!("notifications still pending at shutdown were dropped");
            tasks.abort_all();
        }
    }
}

/// The recorded outcome of one delivery.
pub(crate) fn outcome_event(target: &str, event: &str, attempt: &Attempt) -> NewEvent {
    NewEvent::global(match &attempt.outcome {
        Ok(()) => EventKind::NotificationSent {
            target: target.to_string(),
            event: event.to_string(),
            attempts: attempt.attempts,
        },
        Err(error) => EventKind::NotificationFailed {
            target: target.to_string(),
            event: event.to_string(),
            attempts: attempt.attempts,
            error: error.clone(),
        },
    })
}
