//! The one way the orchestrator records events: append them to the store in one
//! transaction, then announce each on the live feed.
//!
//! The actor and the run tasks (which record `run_spawned`, agent events and the
//! `after_run` hook beside the actor) share this, so the live feed (the dashboard's
//! Server-Sent Events) sees every recorded event, whoever recorded it. It is also where
//! secrets are blanked from what gets recorded (an agent's output, a hook's tail, a
//! failure reason, a comment body), so the chain never holds one. And it is the one
//! place notifications hook in: what it has appended goes to the `notify` watcher.
//!
//! A run's agent output lines are not one transaction each: [`forward_run_events`]
//! buffers them per run and records them together (at most a second late, see
//! [`LINE_FLUSH_INTERVAL`]); the dashboard's activity feed still sees each as it comes.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::live::{Activity, LiveEvent, LiveFeed};
use crate::agent::RunEvent;
use crate::notify::{Notifier, OutcomeSink};
use crate::redact::Redactor;
use crate::store::{EventKind, NewEvent, Store, StoreError, StoredEvent};

/// A cloneable handle on the store and the live feed.
#[derive(Clone)]
pub(crate) struct Recorder {
    target: Target,
    redactor: Arc<Redactor>,
}

#[derive(Clone)]
enum Target {
    Store {
        store: Store,
        live_tx: LiveFeed,
        /// Where notable events are announced (`notify:`), if anywhere.
        notifier: Option<Notifier>,
    },
    /// A cluster node running a run for the lease holder: the events go to the holder,
    /// which records them (see `cluster::queue`).
    Relay(Arc<dyn Relay>),
}

/// Where a run on another node than the lease holder's sends what it would record.
#[async_trait::async_trait]
pub(crate) trait Relay: Send + Sync {
    async fn relay(&self, events: Vec<NewEvent>) -> Result<(), StoreError>;
}

impl Recorder {
    pub fn new(store: Store, live_tx: LiveFeed, redactor: Arc<Redactor>) -> Self {
        Recorder {
            target: Target::Store {
                store,
                live_tx,
                notifier: None,
            },
            redactor,
        }
    }

    /// A recorder that hands its (scrubbed) events to `relay` instead of a store.
    pub fn relaying(relay: Arc<dyn Relay>, redactor: Arc<Redactor>) -> Self {
        Recorder {
            target: Target::Relay(relay),
            redactor,
        }
    }

    /// The same, announcing what it records to `notifier`.
    pub fn notifying(mut self, notifier: Option<Notifier>) -> Self {
        if let Target::Store { notifier: n, .. } = &mut self.target {
            *n = notifier;
        }
        self
    }

    /// The secrets' redactor, for what the caller hands on outside the record.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Whether this recorder appends to a store itself (not relaying to a lease holder).
    pub fn records_locally(&self) -> bool {
        matches!(self.target, Target::Store { .. })
    }

    /// Append events in one transaction, then announce them on the live feed (a feed
    /// without subscribers, or a lagging one, loses nothing: the store has the record).
    pub async fn record(&self, mut events: Vec<NewEvent>) -> Result<Vec<StoredEvent>, StoreError> {
        if events.is_empty() {
            return Ok(vec![]);
        }
        for e in &mut events {
            self.redactor.scrub_in_place(&mut e.kind);
        }
        let (store, live_tx, notifier) = match &self.target {
            Target::Store {
                store,
                live_tx,
                notifier,
            } => (store, live_tx, notifier),
            Target::Relay(relay) => return relay.relay(events).await.map(|()| vec![]),
        };
        let stored = store.append(events).await?;
        // Only the dashboard's event stream listens; with none open, no copies.
        if live_tx.listened() {
            for e in &stored {
                live_tx.send_with(|| LiveEvent::from_stored(e));
            }
        }
        if let Some(n) = notifier {
            n.observe(&stored);
        }
        Ok(stored)
    }
}

impl OutcomeSink for Recorder {
    async fn record(&self, events: Vec<NewEvent>) -> Result<(), StoreError> {
        Recorder::record(self, events).await.map(|_| ())
    }
}

/// How long an agent output line may wait before it is recorded.
pub(crate) const LINE_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// How many buffered lines are recorded at once without waiting for the interval.
pub(crate) const LINE_FLUSH_LINES: usize = 256;

/// Where a run's events are recorded: the [`Recorder`], or a test's list.
pub(crate) trait RunSink {
    fn record(
        &self,
        events: Vec<NewEvent>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

impl RunSink for Recorder {
    async fn record(&self, events: Vec<NewEvent>) -> Result<(), StoreError> {
        Recorder::record(self, events).await.map(|_| ())
    }
}

/// Persist what one run's agent reports, in few transactions: its process group at once
/// (crash recovery needs it), its output lines buffered and recorded together, at the
/// latest [`LINE_FLUSH_INTERVAL`] after the first of them, when [`LINE_FLUSH_LINES`]
/// are waiting, and when the run ends (the channel closes). Order is kept: an event
/// recorded at once goes after the lines buffered before it, in the same transaction.
///
/// Every event is shown on the dashboard's activity feed as it arrives (`activity_tx`),
/// before and whatever the record does; the live feed of recorded events follows each
/// flush.
///
/// With `hold_tail`, the lines still waiting when the run ends are not recorded but
/// returned, for the caller to record in the transaction of the run's `run_finished`
/// (one append where it took two; see `run_task`). Otherwise they are recorded, and
/// nothing is returned.
pub(crate) async fn forward_run_events(
    sink: &impl RunSink,
    id: &str,
    run_id: &str,
    mut rx: mpsc::Receiver<RunEvent>,
    activity_tx: &mpsc::Sender<Activity>,
    hold_tail: bool,
) -> Vec<NewEvent> {
    let mut buffer: Vec<NewEvent> = Vec::new();
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        let next = match due {
            Some(at) => tokio::select! {
                next = rx.recv() => next,
                () = tokio::time::sleep_until(at) => {
                    flush(sink, id, run_id, &mut buffer).await;
                    due = None;
                    continue;
                }
            },
            None => rx.recv().await,
        };
        let Some(event) = next else {
            if !hold_tail {
                flush(sink, id, run_id, &mut buffer).await;
            }
            return buffer;
        };
        // Display only: a full channel drops activity, never the record. A JSON event
        // goes there as the little the activity summary reads of it.
        let shown = match &event {
            RunEvent::Json { at, value } => RunEvent::Json {
                at: *at,
                value: super::live::glance(value),
            },
            other => other.clone(),
        };
        let _ = activity_tx.try_send(Activity {
            identifier: id.to_string(),
            run_id: run_id.to_string(),
            event: shown,
        });
        match event {
            RunEvent::Spawned { pid } => {
                buffer.push(NewEvent::for_issue(
                    id,
                    EventKind::RunSpawned {
                        run_id: run_id.to_string(),
                        pid,
                    },
                ));
                flush(sink, id, run_id, &mut buffer).await;
                due = None;
            }
            RunEvent::Json { value, .. } => {
                buffer.push(NewEvent::for_issue(
                    id,
                    EventKind::AgentEvent {
                        run_id: run_id.to_string(),
                        event: value,
                    },
                ));
                if buffer.len() >= LINE_FLUSH_LINES {
                    flush(sink, id, run_id, &mut buffer).await;
                    due = None;
                } else if due.is_none() {
                    due = Some(tokio::time::Instant::now() + LINE_FLUSH_INTERVAL);
                }
            }
            RunEvent::Session { .. } | RunEvent::Activity { .. } | RunEvent::Usage { .. } => {}
        }
    }
}

async fn flush(sink: &impl RunSink, id: &str, run_id: &str, buffer: &mut Vec<NewEvent>) {
    if buffer.is_empty() {
        return;
    }
    if let Err(e) = sink.record(std::mem::take(buffer)).await {
        tracing::error!(ticket = %id, run = %run_id, error = %e, "could not record agent events");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// Records each batch with the (paused) time it was recorded at.
    #[derive(Default)]
    struct Batches(
        std::sync::Mutex<Vec<(Duration, Vec<&'static str>)>>,
        Option<Instant>,
    );

    impl RunSink for Batches {
        async fn record(&self, events: Vec<NewEvent>) -> Result<(), StoreError> {
            let at = self.1.map(|s| s.elapsed()).unwrap_or_default();
            let kinds = events.iter().map(|e| e.kind.name()).collect();
            self.0.lock().expect("lock").push((at, kinds));
            Ok(())
        }
    }

    fn line(n: u32) -> RunEvent {
        RunEvent::Json {
            at: chrono::Utc::now(),
            value: serde_json::json!({"type": "assistant", "n": n}),
        }
    }

    async fn run(script: Vec<(Duration, RunEvent)>) -> (Vec<(Duration, Vec<&'static str>)>, usize) {
        let sink = Batches(Default::default(), Some(Instant::now()));
        let (tx, rx) = mpsc::channel(1024);
        let (activity_tx, mut activity_rx) = mpsc::channel(1024);
        let feeder = tokio::spawn(async move {
            for (wait, event) in script {
                tokio::time::sleep(wait).await;
                tx.send(event).await.expect("send");
            }
        });
        let tail = forward_run_events(&sink, "ENG-1", "r1", rx, &activity_tx, false).await;
        assert!(tail.is_empty(), "a tail not held is recorded");
        feeder.await.expect("feeder");
        let mut shown = 0;
        while activity_rx.try_recv().is_ok() {
            shown += 1;
        }
        (sink.0.into_inner().expect("lock"), shown)
    }

    #[tokio::test(start_paused = true)]
    async fn output_lines_are_recorded_together_within_the_interval() {
        let ms = Duration::from_millis;
        let mut script = vec![(ms(0), RunEvent::Spawned { pid: 7 })];
        // 16 lines, one every 90 ms from 90 ms on (no line falls on a flush instant).
        script.extend((0..16).map(|n| (ms(90), line(n))));
        // Quiet for 3 s, then one last line; the run ends 10 ms later.
        script.push((ms(3000), line(99)));
        script.push((
            ms(10),
            RunEvent::Activity {
                at: chrono::Utc::now(),
                summary: "done".into(),
            },
        ));
        let (batches, shown) = run(script).await;
        // Every event reached the activity feed at once, whatever the record does.
        assert_eq!(shown, 19);
        let summary: Vec<(Duration, usize)> = batches.iter().map(|(t, k)| (*t, k.len())).collect();
        assert_eq!(
            summary,
            vec![
                // The spawn at once.
                (ms(0), 1),
                // The first line (90 ms) waits a second: the lines of 90..=1080 ms.
                (ms(1090), 12),
                // The next (1170 ms) a second later: the rest, 1170..=1440 ms.
                (ms(2170), 4),
                // The last line (4440 ms) at the run's end, 10 ms later.
                (ms(4450), 1),
            ]
        );
        assert_eq!(batches[0].1, vec!["run_spawned"]);
        assert!(
            batches[1..]
                .iter()
                .all(|(_, k)| k.iter().all(|k| *k == "agent_event"))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_flushes_by_count_and_the_spawn_keeps_its_place() {
        let mut script: Vec<(Duration, RunEvent)> = (0..LINE_FLUSH_LINES as u32 + 3)
            .map(|n| (Duration::ZERO, line(n)))
            .collect();
        script.push((Duration::ZERO, RunEvent::Spawned { pid: 7 }));
        let (batches, _) = run(script).await;
        let kinds: Vec<usize> = batches.iter().map(|(_, k)| k.len()).collect();
        assert_eq!(kinds, vec![LINE_FLUSH_LINES, 4]);
        // The spawn comes after the lines that came before it, in their transaction.
        assert_eq!(batches[1].1.last(), Some(&"run_spawned"));
        assert!(batches.iter().all(|(t, _)| t.is_zero()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_tail_is_handed_back_unrecorded() {
        let sink = Batches(Default::default(), Some(Instant::now()));
        let (tx, rx) = mpsc::channel(1024);
        let (activity_tx, _activity_rx) = mpsc::channel(1024);
        tx.send(RunEvent::Spawned { pid: 7 }).await.expect("send");
        for n in 0..3 {
            tx.send(line(n)).await.expect("send");
        }
        drop(tx);
        let tail = forward_run_events(&sink, "ENG-1", "r1", rx, &activity_tx, true).await;
        let recorded = sink.0.into_inner().expect("lock");
        let kinds: Vec<_> = recorded.iter().map(|(_, k)| k.clone()).collect();
        assert_eq!(
            kinds,
            vec![vec!["run_spawned"]],
            "only the spawn was recorded"
        );
        let held: Vec<_> = tail.iter().map(|e| e.kind.name()).collect();
        assert_eq!(
            held,
            vec!["agent_event"; 3],
            "the lines are handed back, in order"
        );
    }
}
