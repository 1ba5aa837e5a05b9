//! The tick benchmark (issue 11 point 7): `cargo bench --bench tick`.
//!
//! One daemon tick over 10,000 candidate tickets, network excluded: the real engine
//! (`orchestrator::spawn`, on the binary's current-thread runtime) with an in-process
//! tracker that answers from memory. Half the board waits in Todo for a slot (both
//! slots are taken by agents that sleep), half waits at the gate with a record in the
//! store. Each measured tick is a refresh: the tracker read, the store's records,
//! `decide` for every ticket, dispatch order, and the read model's publish. The figure
//! is the process's CPU time (user + system, `/proc/self/stat`) per tick, goal ≤ 20 ms.
//!
//! The tracker answers as the incremental trackers do between full reads (their
//! candidate cache hands out the snapshots it keeps, shared); `BENCH_TICK_COPY=1`
//! makes it answer with a fresh copy of every ticket instead, as a full read that
//! parses every ticket anew does, to show what that costs the engine.

#[path = "drain/procstat.rs"]
mod procstat;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use karajan::domain::{Cause, Comment, StateKind, TicketRef, TicketSnapshot};
use karajan::orchestrator::{Engine, Options};
use karajan::store::{EventKind, NewEvent, Store};
use karajan::tracker::{Fetched, Tracker, TrackerCheck, TrackerError};
use tokio_util::sync::CancellationToken;

const TODO: usize = 5_000;
const AT_GATE: usize = 5_000;
const SLOTS: usize = 2;
const WARMUP: u32 = 3;
const TICKS: u32 = 30;

/// A tracker that holds the board in memory (moves change it) and counts what is
/// asked of it.
struct Board {
    tickets: std::sync::Mutex<Vec<Arc<TicketSnapshot>>>,
    /// Answer with fresh copies rather than the shared snapshots.
    copy: bool,
    reads: AtomicUsize,
    writes: AtomicUsize,
    /// The first writes, to show what the engine did when a tick was not idle.
    written: std::sync::Mutex<Vec<String>>,
}

impl Board {
    fn board(&self) -> std::sync::MutexGuard<'_, Vec<Arc<TicketSnapshot>>> {
        self.tickets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What a read answers: the board, shared or copied (see the module doc).
    fn answer(&self) -> Vec<Arc<TicketSnapshot>> {
        let board = self.board();
        if self.copy {
            board.iter().map(|t| Arc::new((**t).clone())).collect()
        } else {
            board.clone()
        }
    }

    fn wrote(&self, what: String) {
        self.writes.fetch_add(1, Ordering::SeqCst);
        let mut w = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if w.len() < 8 {
            w.push(what);
        }
    }
}

#[async_trait]
impl Tracker for Board {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn fetch_candidates(&self, _columns: &[String]) -> Result<Fetched, TrackerError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        Ok(Fetched {
            tickets: self.answer(),
            skipped: vec![],
        })
    }

    async fn fetch_by_identifiers(
        &self,
        identifiers: &[String],
    ) -> Result<Vec<TicketSnapshot>, TrackerError> {
        Ok(self
            .board()
            .iter()
            .filter(|t| identifiers.contains(&t.identifier))
            .map(|t| (**t).clone())
            .collect())
    }

    async fn move_ticket(&self, t: &TicketRef, column: &str) -> Result<(), TrackerError> {
        self.wrote(format!("move {} to {column}", t.identifier));
        if let Some(ticket) = self
            .board()
            .iter_mut()
            .find(|s| s.identifier == t.identifier)
        {
            Arc::make_mut(ticket).column = column.to_string();
        }
        Ok(())
    }

    async fn comment(&self, t: &TicketRef, body: &str) -> Result<(), TrackerError> {
        let line = body.lines().next().unwrap_or_default();
        self.wrote(format!("comment on {}: {line}", t.identifier));
        Ok(())
    }

    async fn comments(&self, _t: &TicketRef) -> Result<Vec<Comment>, TrackerError> {
        Ok(vec![])
    }

    async fn check(&self, _columns: &[String]) -> Result<TrackerCheck, TrackerError> {
        Ok(TrackerCheck::default())
    }
}

fn snapshot(i: usize, column: &str) -> TicketSnapshot {
    let at = Utc::now() - chrono::Duration::minutes(i64::try_from(i).unwrap_or(0));
    TicketSnapshot {
        id: format!("id-{i}"),
        identifier: format!("ENG-{i}"),
        title: format!("Ticket {i}: make the thing better"),
        description: "A paragraph of description, as tickets have.\n".repeat(4),
        url: Some(format!("https://linear.app/acme/issue/ENG-{i}")),
        labels: vec!["backend".into()],
        priority: u8::try_from(i % 5).ok(),
        column: column.into(),
        blocked_by: vec![],
        branch_name: None,
        created_at: at,
        updated_at: at,
        recent_comments: None,
    }
}

fn workflow(dir: &std::path::Path) -> String {
    let repo =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/demo-repo.git");
    std::fs::create_dir_all(dir.join("tickets")).expect("tickets dir");
    std::fs::write(dir.join("prompt.md"), "Do {{ issue.identifier }}.\n").expect("prompt");
    format!(
        "tracker:\n  kind: local\n  dir: ./tickets\n\
         columns:\n  todo: Todo\n  active: In Progress\n  review: Human Review\n  \
         approved: Approved\n  rework: Rework\n  done: Done\n\
         polling:\n  interval: 1h\n\
         workspace:\n  root: ./workspaces\n  repo: {}\n\
         runners:\n  sleeper:\n    kind: command\n    \
         command: [\"sh\", \"-c\", \"cat > /dev/null; exec sleep 3600\"]\n\
         agent:\n  max_concurrent: {SLOTS}\n  kill_grace: 1s\n\
         states:\n  implement:\n    kind: agent\n    runner: sleeper\n    prompt: prompt.md\n    \
         next: review\n  review:\n    kind: gate\n    approve: done\n    rework: implement\n  \
         done:\n    kind: terminal\n",
        repo.display()
    )
}

fn cpu_secs() -> f64 {
    procstat::read(std::process::id()).map_or(0.0, |s| s.user_secs + s.system_secs)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(8)
        .build()
        .expect("tokio runtime");
    rt.block_on(bench());
}

async fn bench() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("workflow.yaml");
    std::fs::write(&path, workflow(dir.path())).expect("workflow");
    let wf = karajan::workflow_load::load(&path).expect("the bench workflow loads");
    std::fs::create_dir_all(&wf.store.logs).expect("logs dir");
    let store = Store::open(&wf.store.path, &wf.store.checkpoints)
        .await
        .expect("store");
    // The gate half is known to the store: each entered `review` once.
    let gate: Vec<NewEvent> = (TODO..TODO + AT_GATE)
        .map(|i| {
            NewEvent::for_issue(
                &format!("ENG-{i}"),
                EventKind::Transition {
                    tracker_id: format!("id-{i}"),
                    from: None,
                    to: "review".into(),
                    to_kind: StateKind::Gate,
                    cause: Cause::Picked,
                    actor: "karajan".into(),
                    feedback: None,
                    review: None,
                },
            )
        })
        .collect();
    for chunk in gate.chunks(500) {
        store.append(chunk.to_vec()).await.expect("seed the store");
    }
    let tickets: Vec<Arc<TicketSnapshot>> = (0..TODO)
        .map(|i| snapshot(i, "Todo"))
        .chain((TODO..TODO + AT_GATE).map(|i| snapshot(i, "Human Review")))
        .map(Arc::new)
        .collect();
    let copy = std::env::var("BENCH_TICK_COPY").is_ok_and(|v| v == "1");
    let board = Arc::new(Board {
        tickets: std::sync::Mutex::new(tickets),
        copy,
        reads: AtomicUsize::new(0),
        writes: AtomicUsize::new(0),
        written: std::sync::Mutex::new(vec![]),
    });
    let engine = Engine::new(Arc::new(wf), board.clone(), store);
    let shutdown = CancellationToken::new();
    let opts = Options {
        once: false,
        watch: false,
        shutdown: shutdown.clone(),
    };
    let (handle, task) = karajan::orchestrator::spawn(engine, opts);
    let mut view = handle.watch_status();

    // The first tick dispatches the slots; wait until both agents run.
    let first = Instant::now();
    while handle.status().running.len() < SLOTS {
        assert!(
            first.elapsed() < Duration::from_secs(120),
            "the first tick never filled the slots"
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), view.changed()).await;
    }
    let first_tick = first.elapsed();

    let mut tick = async || {
        view.borrow_and_update();
        let reads = board.reads.load(Ordering::SeqCst);
        handle.refresh().await;
        loop {
            view.changed().await.expect("the engine publishes");
            view.borrow_and_update();
            if board.reads.load(Ordering::SeqCst) > reads {
                break;
            }
        }
    };
    for _ in 0..WARMUP {
        tick().await;
    }
    let writes_before = board.writes.load(Ordering::SeqCst);
    let cpu0 = cpu_secs();
    let wall0 = Instant::now();
    for _ in 0..TICKS {
        tick().await;
    }
    let wall = wall0.elapsed().as_secs_f64() * 1000.0 / f64::from(TICKS);
    let cpu = (cpu_secs() - cpu0) * 1000.0 / f64::from(TICKS);
    let writes = board.writes.load(Ordering::SeqCst) - writes_before;
    let written = board
        .written
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();

    // What the in-memory tracker itself costs per tick (its answer), to set aside
    // from the engine's share.
    let clone0 = Instant::now();
    for _ in 0..TICKS {
        std::hint::black_box(board.answer());
    }
    let clone = clone0.elapsed().as_secs_f64() * 1000.0 / f64::from(TICKS);

    shutdown.cancel();
    task.await
        .expect("engine task")
        .expect("engine stopped cleanly");
    let stat = procstat::read(std::process::id()).unwrap_or_default();
    println!();
    println!(
        "tick: {} candidate tickets ({TODO} in Todo waiting for a slot, {AT_GATE} at the gate \
         with a record), {SLOTS} slots busy; mean of {TICKS} refresh ticks after {WARMUP} warm-up; \
         the tracker answers {}",
        TODO + AT_GATE,
        if copy {
            "with a fresh copy of every ticket (BENCH_TICK_COPY=1)"
        } else {
            "with the snapshots it keeps (shared)"
        }
    );
    println!("{}", "-".repeat(90));
    println!("{:<48} {:>14}   goal", "figure", "measured");
    println!(
        "{:<48} {:>14}   ≤ 20 ms",
        "CPU per tick (process, user + system)",
        format!("{cpu:.1} ms")
    );
    println!(
        "{:<48} {:>14}",
        "  of which the in-memory tracker's answer",
        format!("{clone:.1} ms")
    );
    println!("{:<48} {:>14}", "wall per tick", format!("{wall:.1} ms"));
    println!(
        "{:<48} {:>14}",
        "first tick (dispatch of the slots), wall",
        format!("{:.0} ms", first_tick.as_secs_f64() * 1000.0)
    );
    println!(
        "{:<48} {:>14}",
        "tracker writes during measured ticks",
        writes.to_string()
    );
    if writes > 0 {
        // Not an idle board: show what the engine was doing (the first writes).
        for w in written {
            println!("  {w}");
        }
    }
    println!(
        "{:<48} {:>14}",
        "peak RSS / RSS / threads of the bench process",
        format!(
            "{:.1} MB / {:.1} MB / {}",
            stat.peak_rss_kb as f64 / 1024.0,
            stat.rss_kb as f64 / 1024.0,
            stat.threads
        )
    );
}
