//! Store cost per ticket: `cargo bench --bench store` (a plain `main`, no harness).
//!
//! Replays the store traffic of one ticket through agent → gate → agent → done (44
//! events: transitions with their move/comment intents, two runs of 8 agent output lines
//! each, hooks, workspace) for `TICKETS` tickets against a real store in a temp dir, and
//! prints per ticket: SQL statements executed (counted from sqlx's `sqlx::query` log),
//! transactions (appends), the requests SQLite's worker thread waited for (its voluntary
//! context switches), checkpoint-file writes and WAL syncs (the store's own counters),
//! and wall time. Run it under `strace -f -c -e trace=fsync,fdatasync` to see
//! the fsyncs.
//!
//! Two shapes of the agent output lines are replayed: one append per line (how the run
//! task recorded them before it buffered them) and one append per run (what the
//! Recorder's buffer does when a run's lines arrive within its flush interval).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use karajan::domain::{Cause, Phase, RunStatus, StateKind, TokenUsage};
use karajan::store::{EventKind, IntentOp, NewEvent, Store};
use tracing_subscriber::layer::SubscriberExt;

const TICKETS: usize = 20;
const LINES_PER_RUN: usize = 8;

/// Counts the statements sqlx logs (one `sqlx::query` event per executed statement).
struct CountStatements(Arc<AtomicU64>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn ev(id: &str, kind: EventKind) -> NewEvent {
    NewEvent::for_issue(id, kind)
}

fn transition(from: Option<&str>, to: &str, to_kind: StateKind, cause: Cause) -> EventKind {
    EventKind::Transition {
        tracker_id: "tid".into(),
        from: from.map(str::to_string),
        to: to.into(),
        to_kind,
        cause,
        actor: "karajan".into(),
        feedback: None,
        review: None,
    }
}

fn intent(id: &str, n: &str, comment: bool) -> NewEvent {
    let op = if comment {
        IntentOp::Comment {
            tracker_id: "tid".into(),
            body: "karajan: moved".into(),
        }
    } else {
        IntentOp::Move {
            tracker_id: "tid".into(),
            column: "Next".into(),
        }
    };
    ev(
        id,
        EventKind::IntentRecorded {
            intent_id: format!("{id}-{n}"),
            op,
        },
    )
}

fn completed(id: &str, n: &str) -> NewEvent {
    ev(
        id,
        EventKind::IntentCompleted {
            intent_id: format!("{id}-{n}"),
            already_done: false,
        },
    )
}

fn hook(id: &str, name: &str) -> NewEvent {
    ev(
        id,
        EventKind::HookRan {
            hook: name.into(),
            state: Some("code".into()),
            ok: true,
            exit_code: Some(0),
            timed_out: false,
            duration_ms: 3,
            output_tail: String::new(),
        },
    )
}

/// One run's appends: started, spawned, the output lines (one append each, or all in
/// one), finished, after_run.
fn run(id: &str, n: u32, per_line: bool) -> Vec<Vec<NewEvent>> {
    let run_id = format!("{id}-run{n}");
    let mut out = vec![
        vec![ev(
            id,
            EventKind::RunStarted {
                run_id: run_id.clone(),
                state: format!("code{n}"),
                run_number: 1,
                attempt: 0,
                runner: "claude".into(),
                command: vec!["claude".into(), "-p".into()],
                config_digest: "c".into(),
                prompt_digest: "p".into(),
                prompt_bytes: 1200,
                workspace: "/w".into(),
                log_dir: "/l".into(),
                resume_session: None,
                head: None,
            },
        )],
        vec![ev(
            id,
            EventKind::RunSpawned {
                run_id: run_id.clone(),
                pid: 4242,
            },
        )],
    ];
    let lines: Vec<NewEvent> = (0..LINES_PER_RUN)
        .map(|i| {
            ev(
                id,
                EventKind::AgentEvent {
                    run_id: run_id.clone(),
                    event: serde_json::json!({"type": "assistant", "line": i,
                        "message": {"content": [{"type": "text", "text": "working on it"}]}}),
                },
            )
        })
        .collect();
    if per_line {
        out.extend(lines.into_iter().map(|l| vec![l]));
    } else {
        out.push(lines);
    }
    out.push(vec![ev(
        id,
        EventKind::RunFinished {
            run_id,
            status: RunStatus::Succeeded,
            exit_code: Some(0),
            signal: None,
            duration_ms: 900,
            tokens: TokenUsage {
                input: 100,
                output: 50,
                cache_read: 0,
                cache_write: 0,
            },
            cost_usd: Some(0.01),
            turns: Some(1),
            session_id: Some(format!("{id}-session")),
            phase_after: Phase::Succeeded {
                run_id: format!("{id}-run{n}"),
                verdict: None,
            },
            attempts_after: 0,
            accounting: None,
            resume_fallback: None,
            head: None,
        },
    )]);
    out.push(vec![hook(id, "after_run")]);
    out
}

/// The appends of one ticket through agent → gate → agent → done: 44 events.
fn ticket(id: &str, per_line: bool) -> Vec<Vec<NewEvent>> {
    let mut t = vec![
        vec![
            ev(
                id,
                transition(Some("Todo"), "code1", StateKind::Agent, Cause::Picked),
            ),
            intent(id, "m1", false),
        ],
        vec![completed(id, "m1")],
        vec![ev(
            id,
            EventKind::WorkspaceCreated {
                path: "/w".into(),
                branch: "b".into(),
            },
        )],
    ];
    t.extend(run(id, 1, per_line));
    let finished = Cause::AgentFinished {
        run_id: format!("{id}-run1"),
    };
    t.push(vec![
        ev(
            id,
            transition(Some("code1"), "review", StateKind::Gate, finished),
        ),
        intent(id, "m2", false),
        intent(id, "c2", true),
    ]);
    t.push(vec![completed(id, "m2")]);
    t.push(vec![completed(id, "c2")]);
    let approved = Cause::Approved {
        gate: "review".into(),
    };
    t.push(vec![
        ev(
            id,
            transition(Some("review"), "code2", StateKind::Agent, approved),
        ),
        intent(id, "m3", false),
        intent(id, "c3", true),
    ]);
    t.push(vec![completed(id, "m3")]);
    t.push(vec![completed(id, "c3")]);
    t.extend(run(id, 2, per_line));
    let finished = Cause::AgentFinished {
        run_id: format!("{id}-run2"),
    };
    t.push(vec![
        ev(
            id,
            transition(Some("code2"), "done", StateKind::Terminal, finished),
        ),
        intent(id, "m4", false),
        intent(id, "c4", true),
    ]);
    t.push(vec![completed(id, "m4")]);
    t.push(vec![completed(id, "c4")]);
    t.push(vec![ev(
        id,
        EventKind::WorkspaceRemoved { path: "/w".into() },
    )]);
    t
}

/// How many times the process's SQLite worker threads waited for a request (their
/// voluntary context switches, from `/proc`): each request to a connection's worker
/// thread (a statement, sqlx's ping of a connection given back to a pool) is one.
fn worker_waits() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.starts_with("sqlx-sqlite"))
        })
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
        .sum()
}

async fn replay(per_line: bool, statements: &AtomicU64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("store.db");
    let store = Store::open(&db, &karajan::store::checkpoint::default_path(&db))
        .await
        .expect("store opens");
    let before = store.stats();
    let statements_before = statements.load(Ordering::Relaxed);
    let waits_before = worker_waits();
    let mut events = 0;
    let mut appends = 0;
    let started = Instant::now();
    for n in 0..TICKETS {
        for batch in ticket(&format!("ENG-{n}"), per_line) {
            events += batch.len();
            appends += 1;
            store.append(batch).await.expect("append");
        }
    }
    // Before the close: the worker threads end with their connections.
    let waits = worker_waits() - waits_before;
    store.close().await;
    let wall = started.elapsed();
    let after = store.stats();
    let per = |x: u64| x as f64 / TICKETS as f64;
    println!(
        "{:<28} events {:>4.1}  appends {:>4.1}  transactions {:>4.1} ({:>4.1} in one request)  \
         statements {:>6.1}  SQLite worker waits {:>5.1}  checkpoint writes {:>5.2}  \
         WAL syncs {:>5.2}  wall {:>7.2} ms  (per ticket, {TICKETS} tickets)",
        if per_line {
            "one append per output line"
        } else {
            "output lines buffered per run"
        },
        per(events as u64),
        per(appends),
        per(after.transactions - before.transactions),
        per(after.one_request - before.one_request),
        per(statements.load(Ordering::Relaxed) - statements_before),
        per(waits),
        per(after.checkpoint_writes - before.checkpoint_writes),
        per(after.wal_syncs - before.wal_syncs),
        wall.as_secs_f64() * 1000.0 / TICKETS as f64,
    );
}

fn main() {
    let statements = Arc::new(AtomicU64::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(CountStatements(statements.clone()))
        .with(
            tracing_subscriber::filter::Targets::new()
                .with_target("sqlx::query", tracing::Level::TRACE),
        );
    tracing::subscriber::set_global_default(subscriber).expect("subscriber");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        replay(true, &statements).await;
        replay(false, &statements).await;
    });
}
