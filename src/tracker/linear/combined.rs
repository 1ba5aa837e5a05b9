//! A move and its comment in one request: one GraphQL document with both mutations
//! (`issueUpdate` aliased `move`, `commentCreate` aliased `comment`), half the requests
//! of two calls. GraphQL runs a mutation's fields in order, and both payloads are
//! non-null, so a failed move stops the comment (`data` is then null and the error's
//! `path` names the failed part). Each part's outcome is read from the answer apart:
//! an error whose path is `comment` fails only the comment; a failure of the whole
//! request (rate limit, lost answer) is each part's failure.

use serde_json::Value;

use super::LinearTracker;
use super::ops::{self, MoveAndComment};
use super::transport::CallError;
use crate::domain::TicketRef;
use crate::tracker::{Moved, TrackerError};

type Outcomes = (Result<Moved, TrackerError>, Result<(), TrackerError>);

pub(super) async fn move_and_comment(
    tracker: &LinearTracker,
    ticket: &TicketRef,
    column: &str,
    body: &str,
) -> Outcomes {
    let state_id = match tracker.state_id(ticket, column).await {
        Ok(id) => id,
        Err(e) => {
            let not = TrackerError::not_attempted(&e);
            return (Err(e), Err(not));
        }
    };
    let answer = tracker
        .transport
        .call_parts::<MoveAndComment>(ops::move_and_comment::Variables {
            id: ticket.id.clone(),
            state_id,
            body: body.to_string(),
        })
        .await;
    let outcomes = match answer {
        Ok(envelope) => read_parts(&envelope, ticket, column),
        Err(e) => {
            let e = super::not_found_or(e, ticket, "MoveAndComment");
            (Err(e.duplicate()), Err(e))
        }
    };
    if outcomes.0.is_ok() {
        tracing::info!(issue = %ticket.identifier, %column, "moved Linear issue");
    }
    if outcomes.1.is_ok() {
        tracing::info!(issue = %ticket.identifier, "commented on Linear issue");
    }
    outcomes
}

/// Each part's outcome from a `{data, errors}` answer.
fn read_parts(envelope: &Value, ticket: &TicketRef, column: &str) -> Outcomes {
    let errors: Vec<&Value> = envelope
        .get("errors")
        .and_then(Value::as_array)
        .map(|e| e.iter().collect())
        .unwrap_or_default();
    let part_error = |alias: &str| -> Option<TrackerError> {
        let mine: Vec<&&Value> = errors
            .iter()
            .filter(|e| e.pointer("/path/0").and_then(Value::as_str) == Some(alias))
            .collect();
        if mine.is_empty() {
            return None;
        }
        let codes = super::transport::error_codes(mine.iter().copied().copied());
        let message = super::transport::error_message(mine.iter().copied().copied());
        let operation = if alias == "move" {
            "MoveAndComment (move)"
        } else {
            "MoveAndComment (comment)"
        };
        Some(super::not_found_or(
            CallError::Graphql { codes, message },
            ticket,
            operation,
        ))
    };
    let succeeded = |alias: &str| {
        envelope
            .pointer(&format!("/data/{alias}/success"))
            .and_then(Value::as_bool)
    };
    let moved = match part_error("move") {
        Some(e) => Err(e),
        // `data` is null when the comment failed after the move: no error means done.
        None if succeeded("move") == Some(false) => Err(TrackerError::Fatal(format!(
            "Linear did not move {} to `{column}`",
            ticket.identifier
        ))),
        // The issue's `updatedAt` after the move (absent when `data` is null).
        None => Ok(Moved {
            updated_at: envelope
                .pointer("/data/move/issue/updatedAt")
                .and_then(Value::as_str)
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc)),
        }),
    };
    let commented = match (&moved, part_error("comment")) {
        (Err(e), _) => Err(TrackerError::not_attempted(e)),
        (Ok(_), Some(e)) => Err(e),
        (Ok(_), None) if succeeded("comment") == Some(true) => Ok(()),
        (Ok(_), None) => Err(TrackerError::Fatal(format!(
            "Linear did not add the comment to {}",
            ticket.identifier
        ))),
    };
    (moved, commented)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t() -> TicketRef {
        TicketRef {
            id: "uuid".into(),
            identifier: "ENG-1".into(),
        }
    }

    #[test]
    fn both_parts_done() {
        let env = json!({"data": {"move": {"success": true}, "comment": {"success": true}}});
        let (m, c) = read_parts(&env, &t(), "Review");
        assert!(m.is_ok() && c.is_ok());
    }

    #[test]
    fn the_moves_answer_says_when_the_issue_changed() {
        let env = json!({"data": {
            "move": {"success": true, "issue": {"updatedAt": "2026-12-05T04:30:00.123Z"}},
            "comment": {"success": true}
        }});
        let (m, _) = read_parts(&env, &t(), "Review");
        let at = m.unwrap().updated_at.expect("the issue's updatedAt");
        assert_eq!(at.to_rfc3339(), "2026-12-05T04:30:00.123+00:00");
        // Nothing to say where the answer has no issue.
        let env = json!({"data": {"move": {"success": true}, "comment": {"success": true}}});
        assert_eq!(read_parts(&env, &t(), "Review").0.unwrap().updated_at, None);
    }

    #[test]
    fn a_failed_comment_leaves_the_move_done() {
        let env = json!({"data": null, "errors": [
            {"message": "body too long", "path": ["comment"], "extensions": {"code": "INVALID_INPUT"}}
        ]});
        let (m, c) = read_parts(&env, &t(), "Review");
        assert!(m.is_ok());
        assert!(
            matches!(c, Err(TrackerError::Fatal(ref s)) if s.contains("body too long")),
            "{c:?}"
        );
    }

    #[test]
    fn a_failed_move_stops_the_comment() {
        let env = json!({"data": null, "errors": [
            {"message": "Entity not found: Issue", "path": ["move"], "extensions": {"code": "INVALID_INPUT"}}
        ]});
        let (m, c) = read_parts(&env, &t(), "Review");
        assert!(matches!(m, Err(TrackerError::NotFound(_))), "{m:?}");
        assert!(matches!(c, Err(TrackerError::NotAttempted(_))), "{c:?}");
        assert!(c.unwrap_err().is_retryable());
    }
}
