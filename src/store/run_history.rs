//! What planning a run reads of a ticket's history, in one query: why the ticket is
//! where it is (its latest transition: a rework's count, feedback and verdict), when its
//! latest run ended, and for a run that resumes a session, that session and what it had
//! used so far (CLIs such as Codex report a thread's cumulative usage, so a run's own
//! share is what comes on top of it). Each statement on SQLite is a request to the
//! connection's worker thread and an answer back; a run's planning made four, one now
//! (issue 11).

use super::StoreError;
use super::StoredEvent;
use super::backend::{DbRow, Dialect, Pool, on_pool};
use super::read::events_of_kind;
use super::sqlite::{from_json, parse_time};
use crate::domain::TokenUsage;
use crate::domain::run::session_total;

/// What planning a run reads of a ticket's history (see [`run_history`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunHistory {
    /// The payload of the ticket's latest `transition` event (why it is here: a rework
    /// carries the count, the feedback and the reviewer's verdict).
    pub last_transition: Option<serde_json::Value>,
    /// When its latest finished run finished.
    pub last_run_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The session the asked runner kind last recorded on it (`None` when not asked).
    pub session: Option<String>,
    /// What that session had used by its latest run that reported a total (see
    /// [`session_total`]): a resumed run's own share is what comes on top of it.
    pub session_usage: Option<TokenUsage>,
}

/// Four indexed lookups as one statement: a run's planning asks them all, and each
/// statement on SQLite is a request to its worker thread and an answer back. The
/// last is the payload of the session's latest `run_finished` that holds a total where
/// [`session_total`] looks for one (`accounting.thread_tokens`, or `tokens` in a payload
/// without `accounting`); the engines spell the JSON paths differently.
pub(super) fn run_history_sql(dialect: Dialect) -> &'static str {
    macro_rules! history {
        ($json:literal) => {
            concat!(
                "SELECT \
                 (SELECT payload FROM events WHERE issue = $1 AND kind = 'transition' \
                  ORDER BY seq DESC LIMIT 1) AS last_transition, \
                 (SELECT max(finished_at) FROM runs WHERE identifier = $1) AS last_run_at, \
                 s.session_id AS session, \
                 (SELECT payload FROM events WHERE issue = $1 AND kind = 'run_finished' \
                  AND ",
                $json,
                " ->> 'session_id' = s.session_id \
                  AND coalesce(",
                $json,
                " -> 'accounting' -> 'thread_tokens', \
                  CASE WHEN ",
                $json,
                " -> 'accounting' IS NULL THEN ",
                $json,
                " -> 'tokens' END) \
                  IS NOT NULL ORDER BY seq DESC LIMIT 1) AS session_run \
                 FROM (SELECT (SELECT session_id FROM sessions \
                  WHERE identifier = $1 AND runner = $2) AS session_id) AS s"
            )
        };
    }
    match dialect {
        Dialect::Sqlite => history!("payload"),
        Dialect::Postgres => history!("CAST(payload AS jsonb)"),
    }
}

/// The ticket's latest transition, the end of its latest finished run and, when
/// `runner` is given, that runner kind's latest session on it and what that session had
/// used, in one query.
pub async fn run_history(
    pool: &Pool,
    identifier: &str,
    runner: Option<&str>,
) -> Result<RunHistory, StoreError> {
    // `picked`: what the session's latest run with a total said (see below).
    let (mut history, picked) = on_pool!(pool, |p| {
        let row = sqlx::query(run_history_sql(pool.dialect()))
            .bind(identifier)
            .bind(runner)
            .fetch_one(p)
            .await?;
        let transition: Option<String> = row.col("last_transition")?;
        let finished: Option<String> = row.col("last_run_at")?;
        let session: Option<String> = row.col("session")?;
        let session_run: Option<String> = row.col("session_run")?;
        let session_usage = match (&session, session_run) {
            (Some(s), Some(run)) => {
                let run: serde_json::Value =
                    from_json(&run, &format!("{identifier}'s run of session {s}"))?;
                // `None` here: the query's test is looser than the payload's shape (a
                // total that is JSON null, say); the whole history answers below.
                Some(session_total(&run, s))
            }
            _ => None,
        };
        (
            RunHistory {
                last_transition: transition
                    .map(|t| from_json(&t, &format!("{identifier}'s latest transition")))
                    .transpose()?,
                last_run_at: finished
                    .map(|t| parse_time(&t, &format!("{identifier}'s latest run end")))
                    .transpose()?,
                session,
                session_usage: None,
            },
            session_usage,
        )
    });
    history.session_usage = match (picked, &history.session) {
        (Some(Some(usage)), _) => Some(usage),
        (Some(None), Some(s)) => latest_session_total(
            &events_of_kind(pool, identifier, "run_finished", false).await?,
            s,
        ),
        _ => None,
    };
    Ok(history)
}

/// The total `session` had reported by its latest run (of `events`, in seq order) that
/// knew one (see [`session_total`]).
fn latest_session_total(events: &[StoredEvent], session: &str) -> Option<TokenUsage> {
    events
        .iter()
        .rev()
        .filter(|e| e.kind == "run_finished")
        .find_map(|e| session_total(&e.payload, session))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(payload: serde_json::Value) -> StoredEvent {
        StoredEvent {
            seq: 1,
            at: chrono::Utc::now(),
            issue: Some("ENG-1".into()),
            kind: "run_finished".into(),
            payload,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn a_sessions_usage_is_the_latest_known_total_of_that_session() {
        use serde_json::json;
        let t = |input| TokenUsage {
            input,
            ..Default::default()
        };
        let events = vec![
            // Recorded before `accounting` existed: its tokens were the thread's total.
            finished(json!({"session_id": "th", "tokens": t(10)})),
            finished(
                json!({"session_id": "th", "tokens": t(5), "accounting": {"usage": "reported", "thread_tokens": t(15)}}),
            ),
            finished(json!({"session_id": "other", "tokens": t(99)})),
            // Killed before Codex reported usage: no total; the one before stands.
            finished(
                json!({"session_id": "th", "tokens": t(0), "accounting": {"usage": "unknown"}}),
            ),
            // A total the query's test takes (not SQL NULL) that is no usage: skipped.
            finished(
                json!({"session_id": "th", "tokens": t(1), "accounting": {"usage": "reported", "thread_tokens": null}}),
            ),
        ];
        assert_eq!(latest_session_total(&events, "th"), Some(t(15)));
        assert_eq!(latest_session_total(&events[..1], "th"), Some(t(10)));
        assert_eq!(latest_session_total(&events, "nope"), None);
    }
}
