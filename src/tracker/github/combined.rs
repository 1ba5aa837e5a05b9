//! A board move and its comment in one request (project mode): one GraphQL document
//! with `updateProjectV2ItemFieldValue` (aliased `move`) and `addComment` (aliased
//! `comment`). GitHub runs a mutation's fields in order and, its payloads being
//! nullable, runs the comment even when the move failed; each part's outcome is read
//! from the answer apart (an error's `path` names its part). A failure of the whole
//! request (rate limit, lost answer) is each part's. The checks before a move (a closed
//! issue, an unknown column) refuse it without a request; the comment is then not
//! attempted, as in `Tracker::move_and_comment`'s default.

use graphql_client::GraphQLQuery;
use serde_json::Value;

use super::GithubTracker;
use super::http::{GqlError, errors_to_tracker};
use super::project;
use super::queries::{MoveAndComment, move_and_comment};
use crate::domain::TicketRef;
use crate::tracker::{Moved, TrackerError};

type Outcomes = (Result<Moved, TrackerError>, Result<(), TrackerError>);

pub(super) async fn move_and_comment(
    t: &GithubTracker,
    ticket: &TicketRef,
    column: &str,
    body: &str,
) -> Outcomes {
    let prepared = match project::prepare_move(t, ticket, column).await {
        Ok(v) => v,
        Err(e) => {
            let not = TrackerError::not_attempted(&e);
            return (Err(e), Err(not));
        }
    };
    let request = MoveAndComment::build_query(move_and_comment::Variables {
        project_id: prepared.project_id,
        item_id: prepared.item_id,
        field_id: prepared.field_id,
        option_id: prepared.option_id,
        subject_id: ticket.id.clone(),
        body: body.to_string(),
    });
    let json = match serde_json::to_value(&request) {
        Ok(j) => j,
        Err(e) => {
            let e = TrackerError::Fatal(format!("cannot encode MoveAndComment: {e}"));
            return (Err(e.duplicate()), Err(e));
        }
    };
    // Not idempotent as a whole: the comment would post twice.
    let reply = match t.http.graphql_raw("MoveAndComment", &json, false).await {
        Ok(r) => r,
        Err(e) => return (Err(e.duplicate()), Err(e)),
    };
    let data = reply.data.unwrap_or(Value::Null);
    let part = |alias: &str, what: String| -> Result<(), TrackerError> {
        let mine: Vec<GqlError> = reply
            .errors
            .iter()
            .filter(|e| {
                e.path
                    .as_ref()
                    .and_then(|p| p.first())
                    .and_then(Value::as_str)
                    == Some(alias)
            })
            .cloned()
            .collect();
        if !mine.is_empty() {
            return Err(errors_to_tracker(&what, &mine));
        }
        match data.get(alias) {
            Some(v) if !v.is_null() => Ok(()),
            _ => Err(TrackerError::Malformed {
                source_name: "MoveAndComment".to_string(),
                message: format!("no answer for {what}"),
            }),
        }
    };
    let mut moved = part(
        "move",
        format!("moving {} to `{column}`", ticket.identifier),
    );
    if moved.is_ok() {
        moved = project::after_move(t, ticket, column).await;
    }
    let commented = part("comment", format!("commenting on {}", ticket.identifier));
    // The item's status changes, not the issue: GitHub's answer says nothing that a
    // read's `updatedAt` could be compared with.
    (moved.map(|()| Moved::default()), commented)
}
