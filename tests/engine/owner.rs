//! Issue 11 point 1: the owner never waits. A tracker whose writes hang holds only the
//! ticket they belong to; different tickets' writes overlap while each ticket's own
//! writes keep their order.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use karajan::domain::{Comment, TicketRef, TicketSnapshot};
use karajan::orchestrator::{Engine, GateDecision, Options};
use karajan::store::Store;
use karajan::tracker::{Fetched, Tracker, TrackerCheck, TrackerError};
use tokio_util::sync::CancellationToken;

use super::support::{edit_workflow, write_ticket};
use crate::e2e::support::Scratch;

/// One write as the tracker saw it: which ticket, what, and when it arrived and ended
/// (positions in one global order of arrivals and ends).
#[derive(Debug, Clone)]
struct Write {
    ticket: String,
    what: String,
    arrived: usize,
    ended: usize,
}

/// The local tracker behind writes that take `delay`, or never answer for the tickets
/// in `hang` until `release` is notified. Reads go straight through.
pub(crate) struct Slow {
    inner: Arc<dyn Tracker>,
    delay: Duration,
    pub(crate) hang: Mutex<HashSet<String>>,
    /// Moves of a ticket to a column that are refused (a transient error).
    refuse: Mutex<HashSet<(String, String)>>,
    release: tokio::sync::Notify,
    clock: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    log: Mutex<Vec<Write>>,
    /// The engine's store, when set: each comment's arrival notes how far its events
    /// were durable (the WAL `fsync`ed) at that moment.
    store: Mutex<Option<Store>>,
    durable_at_arrival: Mutex<Vec<(String, i64)>>,
}

impl Slow {
    fn new(inner: Arc<dyn Tracker>, delay: Duration) -> Arc<Slow> {
        Arc::new(Slow {
            inner,
            delay,
            hang: Mutex::default(),
            refuse: Mutex::default(),
            release: tokio::sync::Notify::new(),
            clock: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            log: Mutex::default(),
            store: Mutex::default(),
            durable_at_arrival: Mutex::default(),
        })
    }

    async fn write<F>(&self, ticket: &TicketRef, what: String, f: F) -> Result<(), TrackerError>
    where
        F: std::future::Future<Output = Result<(), TrackerError>>,
    {
        let arrived = self.clock.fetch_add(1, Ordering::SeqCst);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let hung = self.hang.lock().unwrap().contains(&ticket.identifier);
        if hung {
            self.release.notified().await;
        }
        tokio::time::sleep(self.delay).await;
        let result = f.await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let ended = self.clock.fetch_add(1, Ordering::SeqCst);
        self.log.lock().unwrap().push(Write {
            ticket: ticket.identifier.clone(),
            what,
            arrived,
            ended,
        });
        result
    }
}

/// The intent id in a comment's hidden marker.
fn intent_of(body: &str) -> String {
    karajan::tracker::marker::parse_marker(body)
        .and_then(|m| m["intent"].as_str().map(str::to_string))
        .unwrap_or_default()
}

#[async_trait]
impl Tracker for Slow {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn fetch_candidates(&self, columns: &[String]) -> Result<Fetched, TrackerError> {
        self.inner.fetch_candidates(columns).await
    }
    async fn fetch_by_identifiers(
        &self,
        identifiers: &[String],
    ) -> Result<Vec<TicketSnapshot>, TrackerError> {
        self.inner.fetch_by_identifiers(identifiers).await
    }
    async fn move_ticket(&self, ticket: &TicketRef, column: &str) -> Result<(), TrackerError> {
        let what = format!("move {column}");
        let key = (ticket.identifier.clone(), column.to_string());
        if self.refuse.lock().unwrap().contains(&key) {
            return Err(TrackerError::Transient(format!("refused: {what}")));
        }
        self.write(ticket, what, self.inner.move_ticket(ticket, column))
            .await
    }
    async fn comment(&self, ticket: &TicketRef, body: &str) -> Result<(), TrackerError> {
        let store = self.store.lock().unwrap().clone();
        if let Some(store) = store {
            let head = store.durable_through();
            self.durable_at_arrival
                .lock()
                .unwrap()
                .push((intent_of(body), head));
        }
        let what = format!("comment {}", intent_of(body));
        self.write(ticket, what, self.inner.comment(ticket, body))
            .await
    }
    async fn comments(&self, ticket: &TicketRef) -> Result<Vec<Comment>, TrackerError> {
        self.inner.comments(ticket).await
    }
    async fn check(&self, columns: &[String]) -> Result<TrackerCheck, TrackerError> {
        self.inner.check(columns).await
    }
}

pub(crate) async fn engine_on(s: &Scratch, delay: Duration) -> (Engine, Arc<Slow>) {
    let wf = karajan::workflow_load::load(&s.workflow()).unwrap_or_else(|e| panic!("{e}"));
    let slow = Slow::new(karajan::tracker::from_config(&wf).unwrap(), delay);
    std::fs::create_dir_all(wf.store.path.parent().unwrap()).unwrap();
    std::fs::create_dir_all(&wf.store.logs).unwrap();
    let store = Store::open(&wf.store.path, &wf.store.checkpoints)
        .await
        .unwrap();
    *slow.store.lock().unwrap() = Some(store.clone());
    (Engine::new(Arc::new(wf), slow.clone(), store), slow)
}

/// The store's events, read beside the runtime (the reader starts its own).
async fn events(db: std::path::PathBuf) -> Vec<(String, Option<String>, serde_json::Value)> {
    tokio::task::spawn_blocking(move || crate::e2e::support::events(&db))
        .await
        .unwrap()
}

async fn wait(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes to QS-1 never answer. An operator's approval of QS-1 is still recorded at
/// once, the approval of QS-2 is acted on (its next agent runs and it reaches Done),
/// and a new ticket is dispatched, all while QS-1's write hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_write_holds_neither_an_approval_nor_another_tickets_dispatch() {
    let s = Scratch::quickstart();
    edit_workflow(&s, "interval: 5s", "interval: 1h");
    let (engine, slow) = engine_on(&s, Duration::ZERO).await;
    let shutdown = CancellationToken::new();
    let opts = Options {
        once: false,
        watch: false,
        shutdown: shutdown.clone(),
    };
    let (handle, task) = karajan::orchestrator::spawn(engine, opts);
    let at_gate = |id: &str| handle.status().gates.iter().any(|g| g.identifier == id);
    // Each ticket: the pick-up move and comment, the gate move and comment.
    wait("every ticket at its gate, writes done", 60, || {
        ["QS-1", "QS-2", "QS-3"].iter().all(|id| at_gate(id))
            && slow.log.lock().unwrap().len() == 12
    })
    .await;

    slow.hang.lock().unwrap().insert("QS-1".into());
    let approve = |id: &'static str| {
        let handle = handle.clone();
        async move {
            tokio::time::timeout(
                Duration::from_secs(3),
                handle.gate(id, GateDecision::Approve, "ada"),
            )
            .await
            .unwrap_or_else(|_| panic!("the approval of {id} waited on the tracker"))
            .unwrap_or_else(|e| panic!("{id}: {e}"))
        }
    };
    let first = approve("QS-1").await;
    assert_eq!(first.to.as_deref(), Some("finalize"));
    // QS-1's move to In Progress now hangs. QS-2 is approved and goes all the way.
    let second = approve("QS-2").await;
    assert_eq!(second.to.as_deref(), Some("finalize"));
    wait("QS-2 finalized and Done", 30, || s.column("QS-2") == "Done").await;
    // A new ticket is picked and runs to its gate meanwhile.
    write_ticket(&s.path().join("tickets"), "QS-4", None, "a late ticket");
    handle.refresh().await;
    wait("QS-4 at its gate", 30, || {
        s.column("QS-4") == "Human Review"
    })
    .await;
    assert_eq!(
        s.column("QS-1"),
        "Human Review",
        "QS-1's move is still hanging"
    );
    let recorded = events(s.db()).await.into_iter().any(|(k, i, p)| {
        k == "transition" && i.as_deref() == Some("QS-1") && p["to"] == "finalize"
    });
    assert!(
        recorded,
        "QS-1's approval was recorded though its write hangs"
    );

    // Released, QS-1's writes land in order and it finishes too.
    slow.hang.lock().unwrap().clear();
    slow.release.notify_waiters();
    wait("QS-1 Done", 30, || s.column("QS-1") == "Done").await;
    shutdown.cancel();
    task.await.unwrap().unwrap();
}

/// Six tickets, every write slow: writes of different tickets overlap, while each
/// ticket's writes arrive one at a time, in the order their intents were recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_writes_overlap_but_each_tickets_keep_their_order() {
    let s = Scratch::quickstart();
    edit_workflow(&s, "max_concurrent: 3", "max_concurrent: 6");
    for i in 4..=6 {
        write_ticket(
            &s.path().join("tickets"),
            &format!("QS-{i}"),
            None,
            &format!("ticket {i}"),
        );
    }
    let (engine, slow) = engine_on(&s, Duration::from_millis(150)).await;
    let opts = Options {
        once: true,
        watch: false,
        shutdown: CancellationToken::new(),
    };
    let (_handle, task) = karajan::orchestrator::spawn(engine, opts);
    task.await.unwrap().unwrap();

    // Every comment left only once its intent was durable: the WAL was `fsync`ed past
    // the intent's row when the comment arrived.
    let store = Store::open_read_only(&s.db()).await.unwrap().unwrap();
    let mut seq_of: HashMap<String, i64> = HashMap::new();
    let mut after = 0;
    loop {
        let page = store.events_page(after, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in page {
            if e.kind == "intent_recorded" {
                seq_of.insert(e.payload["intent_id"].as_str().unwrap().to_string(), e.seq);
            }
        }
    }
    let durable = slow.durable_at_arrival.lock().unwrap().clone();
    assert_eq!(durable.len(), 12, "two comments per ticket");
    for (intent, head) in &durable {
        assert!(
            *head >= seq_of[intent],
            "comment {intent} left before its intent (seq {}) was durable (durable through {head})",
            seq_of[intent]
        );
    }
    let log = slow.log.lock().unwrap().clone();
    let max = slow.max_in_flight.load(Ordering::SeqCst);
    assert!(
        max >= 3,
        "writes of different tickets overlap: at most {max} at once"
    );
    // What each ticket's intents were, in the order they were recorded.
    let mut recorded: HashMap<String, Vec<String>> = HashMap::new();
    for (kind, issue, p) in events(s.db()).await {
        // Pushes go to the forge, not the tracker.
        if kind != "intent_recorded" || p["op"] == "push" {
            continue;
        }
        let what = match p["column"].as_str() {
            Some(column) => format!("move {column}"),
            None => format!("comment {}", p["intent_id"].as_str().unwrap()),
        };
        recorded.entry(issue.unwrap()).or_default().push(what);
    }
    for i in 1..=6 {
        let id = format!("QS-{i}");
        let mut mine: Vec<&Write> = log.iter().filter(|w| w.ticket == id).collect();
        mine.sort_by_key(|w| w.arrived);
        for pair in mine.windows(2) {
            assert!(
                pair[1].arrived > pair[0].ended,
                "{id}: a write arrived before the one before it had ended: {pair:?}"
            );
        }
        let seen: Vec<String> = mine.iter().map(|w| w.what.clone()).collect();
        assert_eq!(seen, recorded[&id], "{id}: writes in their recorded order");
        assert_eq!(s.column(&id), "Human Review", "{id}");
    }
}

/// QS-1's move to its gate's column fails and stays owed. An operator approves it
/// anyway: the approval's writes queue behind the owed move, so once the tracker takes
/// moves again the ticket ends Done, not pulled back to Human Review by the old move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_never_overtakes_a_move_still_owed() {
    let s = Scratch::quickstart();
    edit_workflow(&s, "interval: 5s", "interval: 1h");
    let (engine, slow) = engine_on(&s, Duration::ZERO).await;
    slow.refuse
        .lock()
        .unwrap()
        .insert(("QS-1".into(), "Human Review".into()));
    let shutdown = CancellationToken::new();
    let opts = Options {
        once: false,
        watch: false,
        shutdown: shutdown.clone(),
    };
    let (handle, task) = karajan::orchestrator::spawn(engine, opts);
    let db = s.db();
    let owed = || {
        let db = db.clone();
        async move {
            events(db).await.into_iter().any(|(k, i, p)| {
                k == "intent_failed" && i.as_deref() == Some("QS-1") && p["retryable"] == true
            })
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !owed().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gate move never failed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.column("QS-1"), "In Progress");
    let outcome = tokio::time::timeout(
        Duration::from_secs(3),
        handle.gate("QS-1", GateDecision::Approve, "ada"),
    )
    .await
    .expect("answered at once")
    .expect("approved");
    assert_eq!(outcome.to.as_deref(), Some("finalize"));
    // The tracker takes moves again; the next poll drains what is owed, in order.
    slow.refuse.lock().unwrap().clear();
    tokio::time::sleep(Duration::from_millis(500)).await;
    handle.refresh().await;
    wait("QS-1 Done", 30, || s.column("QS-1") == "Done").await;
    handle.refresh().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        s.column("QS-1"),
        "Done",
        "an old move pulled the ticket back"
    );
    let moves: Vec<String> = slow
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|w| w.ticket == "QS-1" && w.what.starts_with("move"))
        .map(|w| w.what.clone())
        .collect();
    assert_eq!(
        moves,
        [
            "move In Progress",
            "move Human Review",
            "move In Progress",
            "move Done"
        ],
        "the owed gate move landed before the approval's moves"
    );
    shutdown.cancel();
    task.await.unwrap().unwrap();
}
