//! Engine benchmarks: `cargo bench --bench engine` (a plain `main`, no harness).
//!
//! (a) store appends with the hash chain and projections, against raw SQLite inserts of
//!     the same rows with the store's own connection options (WAL, `synchronous=NORMAL`),
//!     one transaction per event in both; then batched appends;
//! (b) `verify` throughput;
//! (c) one dispatch tick over 1,000 tickets: `decide` for each, then dispatch order and
//!     the first slots under a concurrency cap.
//!
//! Everything runs in a temp dir and finishes well under a minute.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use indexmap::IndexMap;
use karajan::domain::priority::sort_for_dispatch;
use karajan::domain::{
    Action, Blocker, Cause, Columns, IssueRecord, Machine, Phase, RunStatus, StateKind, StateSpec,
    TicketSnapshot, TokenUsage, decide,
};
use karajan::store::append::payload_of;
use karajan::store::{EventKind, NewEvent, Store, sqlite};
use sqlx::SqlitePool;
use sqlx::sqlite::SqlitePoolOptions;

const SINGLE_EVENTS: u32 = 1_000;
const BATCHED_EVENTS: u32 = 20_000;
const BATCH: u32 = 100;
const TICKETS: usize = 1_000;
const TICKS: u32 = 50;
/// The global concurrency cap (`max_concurrent_agents`).
const CAP: usize = 64;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let rows = rt.block_on(store_benches());
    let tick = dispatch_tick_ms();
    println!();
    println!("{:<52} {:>14}", "benchmark", "result");
    println!("{}", "-".repeat(67));
    for (name, value) in rows {
        println!("{name:<52} {value:>14}");
    }
    println!(
        "{:<52} {:>14}",
        format!("decide + dispatch, {TICKETS} tickets (mean of {TICKS})"),
        format!("{tick:.3} ms/tick")
    );
}

/// A realistic mix: per ticket a transition, a run start, agent lines, a finish.
fn event(i: u32) -> NewEvent {
    let ticket = format!("ENG-{}", i / 6);
    let run_id = format!("run-{}", i / 6);
    let kind = match i % 6 {
        0 => EventKind::Transition {
            tracker_id: format!("tid-{ticket}"),
            from: None,
            to: "code".into(),
            to_kind: StateKind::Agent,
            cause: Cause::Picked,
            actor: "karajan".into(),
            feedback: None,
            review: None,
        },
        1 => EventKind::RunStarted {
            run_id,
            state: "code".into(),
            run_number: 1,
            attempt: 1,
            runner: "claude".into(),
            command: vec![
                "claude".into(),
                "-p".into(),
                "--output-format=stream-json".into(),
            ],
            config_digest: "c0ffee".into(),
            prompt_digest: "beef".into(),
            prompt_bytes: 4096,
            workspace: format!("/ws/{ticket}"),
            log_dir: format!("/logs/{ticket}"),
            resume_session: None,
            head: None,
        },
        2..=4 => EventKind::AgentEvent {
            run_id,
            event: serde_json::json!({"type": "assistant", "text": "editing src/main.rs", "n": i}),
        },
        _ => EventKind::RunFinished {
            run_id,
            status: RunStatus::Succeeded,
            exit_code: Some(0),
            signal: None,
            duration_ms: 61_000,
            tokens: TokenUsage {
                input: 12_000,
                output: 3_400,
                cache_read: 90_000,
                cache_write: 1_200,
            },
            cost_usd: Some(0.4213),
            turns: Some(12),
            session_id: Some("sess".into()),
            phase_after: Phase::Succeeded {
                run_id: format!("run-{}", i / 6),
                verdict: None,
            },
            attempts_after: 0,
            accounting: None,
            resume_fallback: None,
            head: None,
        },
    };
    NewEvent::for_issue(&ticket, kind)
}

fn rate(n: u32, elapsed: Duration) -> f64 {
    f64::from(n) / elapsed.as_secs_f64()
}

async fn raw_pool(path: &std::path::Path) -> SqlitePool {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(sqlite::write_options(path))
        .await
        .expect("raw pool");
    sqlx::query(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, issue TEXT, \
         kind TEXT NOT NULL, payload TEXT NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL)",
    )
    .execute(&pool)
    .await
    .expect("raw table");
    pool
}

async fn store_benches() -> Vec<(String, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = vec![];

    // (a) one transaction per event, both sides.
    let store = Store::open(&dir.path().join("a.db"), &dir.path().join("a.ckpt"))
        .await
        .expect("store");
    let events: Vec<NewEvent> = (0..SINGLE_EVENTS).map(event).collect();
    let start = Instant::now();
    for e in &events {
        store.append(vec![e.clone()]).await.expect("append");
    }
    let chained = rate(SINGLE_EVENTS, start.elapsed());

    let raw = raw_pool(&dir.path().join("raw.db")).await;
    let payloads: Vec<(Option<String>, &str, String)> = events
        .iter()
        .map(|e| {
            let payload = payload_of(e).expect("payload");
            (e.issue.clone(), e.kind.name(), payload.to_string())
        })
        .collect();
    let start = Instant::now();
    for (seq, (issue, kind, payload)) in (1i64..).zip(&payloads) {
        let mut tx = raw.begin().await.expect("begin");
        sqlx::query("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(seq)
            .bind("2026-11-21T07:00:00.123456Z")
            .bind(issue)
            .bind(*kind)
            .bind(payload)
            .bind(&[0u8; 32][..])
            .bind(&[0u8; 32][..])
            .execute(&mut *tx)
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
    }
    let plain = rate(SINGLE_EVENTS, start.elapsed());
    out.push((
        format!("append, 1 event/tx, chained ({SINGLE_EVENTS} events)"),
        format!("{chained:.0} ev/s"),
    ));
    out.push((
        format!("raw INSERT, 1 event/tx, same pragmas ({SINGLE_EVENTS})"),
        format!("{plain:.0} ev/s"),
    ));
    out.push((
        "chained / raw".to_string(),
        format!("{:.2}x", chained / plain),
    ));

    // Batched appends, into a fresh store that (b) then verifies.
    let big = Store::open(&dir.path().join("b.db"), &dir.path().join("b.ckpt"))
        .await
        .expect("store");
    let start = Instant::now();
    for b in 0..BATCHED_EVENTS / BATCH {
        let batch = (b * BATCH..(b + 1) * BATCH).map(event).collect();
        big.append(batch).await.expect("append batch");
    }
    out.push((
        format!("append, {BATCH} events/tx, chained ({BATCHED_EVENTS})"),
        format!("{:.0} ev/s", rate(BATCHED_EVENTS, start.elapsed())),
    ));

    // (b) verify.
    let start = Instant::now();
    let report = big.verify().await.expect("verify");
    let elapsed = start.elapsed();
    assert!(report.is_ok(), "benchmark chain must verify: {report:?}");
    out.push((
        format!("verify ({} events)", report.events),
        format!("{:.0} ev/s", rate(BATCHED_EVENTS, elapsed)),
    ));
    out
}

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid time")
        + chrono::Duration::minutes(minutes)
}

fn machine() -> Machine {
    let mut states = IndexMap::new();
    let agent = |next: &str, column: &str| StateSpec::Agent {
        next: next.into(),
        column: column.into(),
        review: None,
    };
    states.insert("plan".to_string(), agent("code", "In Progress"));
    states.insert("code".to_string(), agent("review", "In Progress"));
    states.insert(
        "review".to_string(),
        StateSpec::Gate {
            approve: "done".into(),
            rework: "code".into(),
            max_rework: 3,
            column: "Human Review".into(),
            merge: None,
            watch: None,
        },
    );
    states.insert(
        "done".to_string(),
        StateSpec::Terminal {
            column: "Done".into(),
        },
    );
    Machine {
        entry: "plan".into(),
        states,
        columns: Columns {
            todo: "Todo".into(),
            active: "In Progress".into(),
            review: "Human Review".into(),
            approved: "Approved".into(),
            rework: "Rework".into(),
            done: "Done".into(),
            terminal: vec!["Canceled".into()],
        },
        max_attempts: 3,
    }
}

/// 1,000 tickets in mixed columns, most with a record in a matching phase.
fn tickets() -> Vec<(TicketSnapshot, Option<IssueRecord>)> {
    let columns = [
        "Todo",
        "In Progress",
        "Human Review",
        "Approved",
        "Rework",
        "Done",
    ];
    (0..TICKETS)
        .map(|i| {
            let n = i64::try_from(i).expect("small");
            let column = columns[i % columns.len()];
            let snap = TicketSnapshot {
                id: format!("id-{i}"),
                identifier: format!("ENG-{i}"),
                title: format!("ticket {i}"),
                description: "do the thing".into(),
                url: None,
                labels: vec!["backend".into()],
                priority: u8::try_from(i % 5).ok(),
                column: column.into(),
                blocked_by: if i % 17 == 0 {
                    vec![Blocker {
                        identifier: "ENG-0".into(),
                        resolved: false,
                    }]
                } else {
                    vec![]
                },
                branch_name: None,
                created_at: at(-n),
                updated_at: at(0),
                recent_comments: None,
            };
            let record = match (column, i % 4) {
                ("Todo", 0) => None,
                ("In Progress", r) => {
                    let mut rec = IssueRecord::new(&snap.identifier, &snap.id, "code", at(-5));
                    rec.phase = match r {
                        0 => Phase::Running {
                            run_id: format!("run-{i}"),
                            attempt: 1,
                            started_at: at(-1),
                        },
                        1 => Phase::RetryWaiting {
                            attempt: 2,
                            due_at: at(-1),
                            error: "exit 1".into(),
                        },
                        _ => Phase::Ready,
                    };
                    Some(rec)
                }
                ("Human Review" | "Approved" | "Rework", _) => {
                    let mut rec = IssueRecord::new(&snap.identifier, &snap.id, "review", at(-5));
                    rec.phase = Phase::Waiting;
                    Some(rec)
                }
                _ => Some(IssueRecord::new(&snap.identifier, &snap.id, "plan", at(-5))),
            };
            (snap, record)
        })
        .collect()
}

/// Mean milliseconds of one tick: decide every ticket, order the dispatchable ones,
/// take the free slots.
fn dispatch_tick_ms() -> f64 {
    let machine = machine();
    let tickets = tickets();
    let now = at(0);
    let mut total = Duration::ZERO;
    let mut dispatched = 0;
    for _ in 0..TICKS {
        let start = Instant::now();
        let mut running = 0;
        let mut candidates = vec![];
        for (snap, record) in &tickets {
            if record.as_ref().is_some_and(IssueRecord::is_running) {
                running += 1;
            }
            let actions = decide(snap, record.as_ref(), &machine, now);
            if actions.iter().any(|a| matches!(a, Action::StartRun { .. })) {
                candidates.push(snap.clone());
            }
        }
        sort_for_dispatch(&mut candidates);
        let slots = CAP.saturating_sub(running);
        let chosen: Vec<&TicketSnapshot> = candidates.iter().take(slots).collect();
        dispatched = std::hint::black_box(chosen.len());
        total += start.elapsed();
    }
    assert!(dispatched > 0, "the benchmark must dispatch something");
    total.as_secs_f64() * 1000.0 / f64::from(TICKS)
}
