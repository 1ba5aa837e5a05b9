//! The `tickets` projection row <-> `IssueRecord`, including the phase's data columns
//! (whose presence the migration's CHECKs tie to the phase label) and the two tables
//! that mirror parts of the record: `rework_counts` and `retry_queue`.

use std::collections::BTreeMap;

use super::StoreError;
use super::backend::{Conn, DbRow, on_conn};
use super::script::Script;
use super::sqlite::{format_time, from_json, json_text, parse_time, to_u32};
use crate::domain::{IssueRecord, Phase};

/// The phase as the row stores it.
#[derive(Debug, Default, PartialEq)]
struct PhaseColumns {
    run_id: Option<String>,
    attempt: Option<i64>,
    started_at: Option<String>,
    due_at: Option<String>,
    error: Option<String>,
    reason: Option<String>,
    held_column: Option<String>,
    /// The verdict of a review's succeeded run (JSON).
    verdict: Option<String>,
}

fn phase_columns(phase: &Phase) -> PhaseColumns {
    let none = PhaseColumns::default();
    match phase {
        Phase::Ready | Phase::Waiting | Phase::Done => none,
        Phase::Running {
            run_id,
            attempt,
            started_at,
        } => PhaseColumns {
            run_id: Some(run_id.clone()),
            attempt: Some(i64::from(*attempt)),
            started_at: Some(format_time(*started_at)),
            ..none
        },
        Phase::Succeeded { run_id, verdict } => PhaseColumns {
            run_id: Some(run_id.clone()),
            verdict: verdict.as_ref().and_then(|v| serde_json::to_string(v).ok()),
            ..none
        },
        Phase::RetryWaiting {
            attempt,
            due_at,
            error,
        } => PhaseColumns {
            attempt: Some(i64::from(*attempt)),
            due_at: Some(format_time(*due_at)),
            error: Some(error.clone()),
            ..none
        },
        Phase::Escalated { reason } => PhaseColumns {
            reason: Some(reason.clone()),
            ..none
        },
        Phase::Held { column } => PhaseColumns {
            held_column: Some(column.clone()),
            ..none
        },
    }
}

fn required<T>(value: Option<T>, identifier: &str, column: &str) -> Result<T, StoreError> {
    value.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "ticket {identifier}: `{column}` is missing for its phase"
        ))
    })
}

fn phase_from_row(row: &impl DbRow, identifier: &str) -> Result<Phase, StoreError> {
    let label: String = row.col("phase")?;
    let run_id: Option<String> = row.col("run_id")?;
    let attempt: Option<i64> = row.col("attempt")?;
    let attempt = attempt
        .map(|a| to_u32(a, &format!("ticket {identifier} attempt")))
        .transpose()?;
    let time = |column: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        let text: Option<String> = row.col(column)?;
        text.map(|t| parse_time(&t, &format!("ticket {identifier} {column}")))
            .transpose()
    };
    Ok(match label.as_str() {
        "ready" => Phase::Ready,
        "waiting" => Phase::Waiting,
        "done" => Phase::Done,
        "running" => Phase::Running {
            run_id: required(run_id, identifier, "run_id")?,
            attempt: required(attempt, identifier, "attempt")?,
            started_at: required(time("started_at")?, identifier, "started_at")?,
        },
        "succeeded" => Phase::Succeeded {
            run_id: required(run_id, identifier, "run_id")?,
            verdict: {
                let text: Option<String> = row.col("verdict")?;
                text.map(|t| from_json(&t, &format!("ticket {identifier} verdict")))
                    .transpose()?
            },
        },
        "retry_waiting" => Phase::RetryWaiting {
            attempt: required(attempt, identifier, "attempt")?,
            due_at: required(time("due_at")?, identifier, "due_at")?,
            error: required(row.col("error")?, identifier, "error")?,
        },
        "escalated" => Phase::Escalated {
            reason: required(row.col("reason")?, identifier, "reason")?,
        },
        "held" => Phase::Held {
            column: required(row.col("held_column")?, identifier, "held_column")?,
        },
        other => {
            return Err(StoreError::Corrupt(format!(
                "ticket {identifier}: unknown phase `{other}`"
            )));
        }
    })
}

pub const TICKET_COLUMNS: &str = "identifier, tracker_id, state, phase, run_id, attempt, \
     started_at, due_at, error, reason, held_column, attempts, entered_at, runs, pull_request, \
     verdict";

/// Decode a `tickets` row (selected with [`TICKET_COLUMNS`]); `rework` and
/// `pending_intents` come from their own tables.
pub fn record_from_row(
    row: &impl DbRow,
    rework: BTreeMap<String, u32>,
    pending_intents: u32,
) -> Result<IssueRecord, StoreError> {
    let identifier: String = row.col("identifier")?;
    let phase = phase_from_row(row, &identifier)?;
    let runs_text: String = row.col("runs")?;
    let entered_at: String = row.col("entered_at")?;
    let pull_request: Option<String> = row.col("pull_request")?;
    let pull_request = pull_request
        .map(|t| from_json(&t, &format!("ticket {identifier} pull_request")))
        .transpose()?;
    Ok(IssueRecord {
        tracker_id: row.col("tracker_id")?,
        state: row.col("state")?,
        phase,
        rework,
        runs: from_json(&runs_text, &format!("ticket {identifier} runs"))?,
        attempts: to_u32(row.col("attempts")?, "ticket attempts")?,
        entered_at: parse_time(&entered_at, &format!("ticket {identifier} entered_at"))?,
        pending_intents,
        pull_request,
        identifier,
    })
}

/// One ticket's record as the projection holds it (`pending_intents` left at 0), its
/// rework counts included: one statement.
pub async fn load(
    conn: &mut Conn<'_>,
    identifier: &str,
) -> Result<Option<IssueRecord>, StoreError> {
    let sql = conn.dialect().load_ticket();
    on_conn!(conn, |c| {
        let row = sqlx::query(sql).bind(identifier).fetch_optional(c).await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let rework: String = row.col("rework")?;
        let rework = from_json(&rework, &format!("ticket {identifier} rework"))?;
        record_from_row(&row, rework, 0).map(Some)
    })
}

/// How many unconfirmed tracker writes `identifier` has.
pub async fn pending_count(conn: &mut Conn<'_>, identifier: &str) -> Result<u32, StoreError> {
    let n: i64 = on_conn!(conn, |c| {
        sqlx::query_scalar("SELECT count(*) FROM pending_intents WHERE identifier = $1")
            .bind(identifier)
            .fetch_one(c)
            .await
    })?;
    to_u32(n, "pending count")
}

/// Push the record's write (upsert), its rework counts, and its retry-queue row
/// (present iff the phase is `retry_waiting`) to `script`. `before` is the record as
/// the projection holds it: the rework counts and the retry-queue row are only written
/// when they change.
pub(super) fn save(
    script: &mut Script,
    before: Option<&IssueRecord>,
    record: &IssueRecord,
    seq: i64,
) -> Result<(), StoreError> {
    let id = record.identifier.as_str();
    let cols = phase_columns(&record.phase);
    script.push(
        "INSERT INTO tickets (identifier, tracker_id, state, phase, run_id, attempt, \
         started_at, due_at, error, reason, held_column, attempts, entered_at, runs, pull_request, \
         verdict, updated_seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (identifier) DO UPDATE SET tracker_id = excluded.tracker_id, \
         state = excluded.state, phase = excluded.phase, run_id = excluded.run_id, \
         attempt = excluded.attempt, started_at = excluded.started_at, \
         due_at = excluded.due_at, error = excluded.error, reason = excluded.reason, \
         held_column = excluded.held_column, attempts = excluded.attempts, \
         entered_at = excluded.entered_at, runs = excluded.runs, \
         pull_request = excluded.pull_request, verdict = excluded.verdict, updated_seq = excluded.updated_seq",
        vec![
            id.into(),
            (&record.tracker_id).into(),
            (&record.state).into(),
            record.phase.label().into(),
            cols.run_id.into(),
            cols.attempt.into(),
            cols.started_at.into(),
            cols.due_at.into(),
            cols.error.into(),
            cols.reason.into(),
            cols.held_column.into(),
            i64::from(record.attempts).into(),
            format_time(record.entered_at).into(),
            json_text(&record.runs, "run numbers")?.into(),
            record
                .pull_request
                .as_ref()
                .map(|p| json_text(p, "pull request"))
                .transpose()?
                .into(),
            cols.verdict.into(),
            seq.into(),
        ],
    );
    let rework_before = before.map(|b| &b.rework);
    if rework_before != Some(&record.rework) && !(before.is_none() && record.rework.is_empty()) {
        save_rework(script, record);
    }
    let was_waiting = before.is_some_and(|b| matches!(b.phase, Phase::RetryWaiting { .. }));
    save_retry(script, record, was_waiting);
    Ok(())
}

fn save_rework(script: &mut Script, record: &IssueRecord) {
    let id = record.identifier.as_str();
    script.push(
        "DELETE FROM rework_counts WHERE identifier = $1",
        vec![id.into()],
    );
    for (gate, count) in &record.rework {
        script.push(
            "INSERT INTO rework_counts (identifier, gate, count) VALUES ($1, $2, $3)",
            vec![id.into(), gate.into(), i64::from(*count).into()],
        );
    }
}

fn save_retry(script: &mut Script, record: &IssueRecord, was_waiting: bool) {
    let id = record.identifier.as_str();
    match &record.phase {
        Phase::RetryWaiting {
            attempt,
            due_at,
            error,
        } => script.push(
            "INSERT INTO retry_queue (identifier, state, attempt, due_at, error) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (identifier) DO UPDATE SET \
             state = excluded.state, attempt = excluded.attempt, \
             due_at = excluded.due_at, error = excluded.error",
            vec![
                id.into(),
                (&record.state).into(),
                i64::from(*attempt).into(),
                format_time(*due_at).into(),
                error.into(),
            ],
        ),
        _ if was_waiting => script.push(
            "DELETE FROM retry_queue WHERE identifier = $1",
            vec![id.into()],
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_columns_fill_only_the_phase_data() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456789Z")
            .expect("valid")
            .with_timezone(&chrono::Utc);
        let running = phase_columns(&Phase::Running {
            run_id: "r".into(),
            attempt: 2,
            started_at: t,
        });
        assert_eq!(running.run_id.as_deref(), Some("r"));
        assert_eq!(running.attempt, Some(2));
        assert_eq!(
            running.started_at.as_deref(),
            Some("2026-01-02T03:04:05.123456789Z")
        );
        assert_eq!(running.due_at, None);
        assert_eq!(phase_columns(&Phase::Waiting), PhaseColumns::default());
        let held = phase_columns(&Phase::Held {
            column: "Blocked".into(),
        });
        assert_eq!(held.held_column.as_deref(), Some("Blocked"));
        assert_eq!(held.run_id, None);
    }
}
