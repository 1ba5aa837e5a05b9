//! The event store: projections, concurrency, read-only opening, and tamper detection
//! (the SQLite file is edited with raw SQL, as an attacker or a bad migration would).

mod concurrency;
mod history;
mod memory;
mod parity;
mod projections;
mod reset;
mod signed;
mod tamper;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use karajan::domain::{Cause, Phase, RunStatus, StateKind, TokenUsage};
use karajan::store::{EventKind, IntentOp, NewEvent, Store};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl Fixture {
    pub async fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(
            &dir.path().join("k.db"),
            &dir.path().join("k.db.checkpoints"),
        )
        .await
        .expect("store opens");
        Fixture { dir, store }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("k.db")
    }

    pub fn checkpoints(&self) -> PathBuf {
        self.dir.path().join("k.db.checkpoints")
    }

    /// A fresh handle on the same files (as after a restart).
    pub async fn reopen(&self) -> Store {
        Store::open(&self.db(), &self.checkpoints())
            .await
            .expect("store reopens")
    }

    /// Append, then flush the checkpoint file so tests can read or tamper with it.
    pub async fn append(&self, events: Vec<NewEvent>) -> Vec<karajan::store::StoredEvent> {
        let stored = self.store.append(events).await.expect("append");
        self.store.flush_checkpoints().await.expect("flush");
        stored
    }

    /// A raw connection for editing the file behind the store's back.
    pub async fn raw(&self) -> SqliteConnection {
        raw(&self.db()).await
    }
}

pub async fn raw(db: &Path) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(db))
        .await
        .expect("raw connection")
}

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("valid time")
        .with_timezone(&Utc)
}

pub fn picked(issue: &str, to: &str) -> NewEvent {
    transition(issue, to, StateKind::Agent, Cause::Picked)
}

/// The ticket reaches the terminal state `done`.
pub fn to_done(issue: &str) -> NewEvent {
    transition(issue, "done", StateKind::Terminal, Cause::Picked)
}

pub fn transition(issue: &str, to: &str, kind: StateKind, cause: Cause) -> NewEvent {
    NewEvent::for_issue(
        issue,
        EventKind::Transition {
            tracker_id: format!("tid-{issue}"),
            from: None,
            to: to.into(),
            to_kind: kind,
            cause,
            actor: "karajan".into(),
            feedback: None,
            review: None,
        },
    )
}

pub fn run_started(issue: &str, run_id: &str, state: &str, run_number: u32) -> NewEvent {
    NewEvent::for_issue(
        issue,
        EventKind::RunStarted {
            run_id: run_id.into(),
            state: state.into(),
            run_number,
            attempt: 1,
            runner: "claude".into(),
            command: vec!["claude".into(), "-p".into()],
            config_digest: "cfg".into(),
            prompt_digest: "prm".into(),
            prompt_bytes: 1234,
            workspace: format!("/ws/{issue}"),
            log_dir: format!("/logs/{run_id}"),
            resume_session: None,
            head: None,
        },
    )
}

pub fn run_finished(
    issue: &str,
    run_id: &str,
    status: RunStatus,
    phase_after: Phase,
    session: Option<&str>,
) -> NewEvent {
    NewEvent::for_issue(
        issue,
        EventKind::RunFinished {
            run_id: run_id.into(),
            status,
            exit_code: Some(1),
            signal: None,
            duration_ms: 4200,
            tokens: TokenUsage {
                input: 100,
                output: 20,
                cache_read: 7,
                cache_write: 3,
            },
            cost_usd: Some(0.25),
            turns: Some(4),
            session_id: session.map(str::to_string),
            phase_after,
            attempts_after: 1,
            accounting: None,
            resume_fallback: None,
            head: None,
        },
    )
}

pub fn intent(issue: &str, intent_id: &str, column: &str) -> NewEvent {
    NewEvent::for_issue(
        issue,
        EventKind::IntentRecorded {
            intent_id: intent_id.into(),
            op: IntentOp::Move {
                tracker_id: format!("tid-{issue}"),
                column: column.into(),
            },
        },
    )
}

/// One line of a run's agent output.
pub fn output_line(issue: &str, run_id: &str, n: u32) -> NewEvent {
    NewEvent::for_issue(
        issue,
        EventKind::AgentEvent {
            run_id: run_id.into(),
            event: serde_json::json!({"type": "assistant", "n": n}),
        },
    )
}

/// A global event with a recognisable payload.
pub fn note(n: u32) -> NewEvent {
    NewEvent::global(EventKind::TrackerError {
        error: format!("note {n}"),
    })
}
