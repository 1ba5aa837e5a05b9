//! With webhooks on, an idle daemon reads the tracker only at its consistency polls:
//! tracker calls counted at an in-process wrapper around the local tracker, against
//! the same daemon without webhooks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use karajan::domain::{Comment, TicketRef, TicketSnapshot};
use karajan::tracker::{Fetched, Tracker, TrackerCheck, TrackerError};

use super::webhooks::{HOUR, start, workflow};
use crate::e2e::support::Scratch;

/// Counts every tracker call, around the local tracker.
struct Counting {
    inner: Arc<dyn Tracker>,
    calls: Mutex<Vec<&'static str>>,
}

impl Counting {
    fn note(&self, what: &'static str) {
        self.calls.lock().unwrap().push(what);
    }
}

#[async_trait]
impl Tracker for Counting {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn fetch_candidates(&self, columns: &[String]) -> Result<Fetched, TrackerError> {
        self.note("fetch_candidates");
        self.inner.fetch_candidates(columns).await
    }
    async fn fetch_by_identifiers(
        &self,
        identifiers: &[String],
    ) -> Result<Vec<TicketSnapshot>, TrackerError> {
        self.note("fetch_by_identifiers");
        self.inner.fetch_by_identifiers(identifiers).await
    }
    async fn move_ticket(&self, ticket: &TicketRef, column: &str) -> Result<(), TrackerError> {
        self.note("move_ticket");
        self.inner.move_ticket(ticket, column).await
    }
    async fn comment(&self, ticket: &TicketRef, body: &str) -> Result<(), TrackerError> {
        self.note("comment");
        self.inner.comment(ticket, body).await
    }
    async fn comments(&self, ticket: &TicketRef) -> Result<Vec<Comment>, TrackerError> {
        self.note("comments");
        self.inner.comments(ticket).await
    }
    async fn check(&self, columns: &[String]) -> Result<TrackerCheck, TrackerError> {
        self.note("check");
        self.inner.check(columns).await
    }
    async fn terminal_sweep(&self) -> Result<Fetched, TrackerError> {
        self.note("terminal_sweep");
        self.inner.terminal_sweep().await
    }
}

/// Runs an idle daemon (no tickets) for `span`; the tracker calls it made.
///
/// Real time, not a paused clock: the store's connection pool times every acquire
/// (30 s), and tokio's auto-advance jumps to that deadline while a query waits on the
/// SQLite thread. The assertion is on counts with a wide margin, not on timing: with
/// webhooks the next consistency poll is an hour away.
async fn idle_calls(webhooks: bool, span: Duration) -> Vec<&'static str> {
    let s = Scratch::quickstart();
    let mut wf = workflow(&s, HOUR);
    wf.polling.interval = Duration::from_millis(50);
    if !webhooks {
        wf.server.webhooks = None;
    }
    let tracker = Arc::new(Counting {
        inner: karajan::tracker::from_config(&wf).unwrap(),
        calls: Mutex::new(Vec::new()),
    });
    let d = start(wf, tracker.clone()).await;
    tokio::time::sleep(span).await;
    d.stop().await;
    tracker.calls.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_webhooks_an_idle_daemon_reads_the_tracker_only_at_consistency_polls() {
    // `polling.interval` is 50 ms, `server.webhooks.poll_interval` an hour.
    let span = Duration::from_secs(1);
    let on = idle_calls(true, span).await;
    assert_eq!(
        on,
        vec!["fetch_candidates"],
        "the poll at start, then nothing until the next consistency poll"
    );
    // The same idle daemon without webhooks polls every 50 ms.
    let off = idle_calls(false, span).await;
    let polls = off.iter().filter(|w| **w == "fetch_candidates").count();
    assert!(polls >= 5, "{polls} polls without webhooks: {off:?}");
}
