//! A Linear ticket's pull request, attached to the issue: recorded in the transaction
//! that first records the ticket's pull request (so a crash cannot lose it, and a later
//! update of the same pull request does not attach it again), performed by the
//! ticket's chain like any tracker write. Linear keeps one attachment per URL and issue,
//! so a retry is harmless.

use super::engine::Engine;
use super::intents::Intent;
use crate::store::{EventKind, IntentOp, NewEvent};

impl Engine {
    /// The attachment of a pull request the record does not have yet to its ticket,
    /// where the tracker has link attachments (Linear): its `IntentRecorded` event and
    /// the intent. Asked before the pull request is recorded.
    pub(crate) async fn attach_intent(
        &self,
        identifier: &str,
        url: &str,
        number: u64,
    ) -> Result<Option<(NewEvent, Intent)>, crate::store::StoreError> {
        if !self.tracker.attaches_links() {
            return Ok(None);
        }
        let Some(rec) = self.store.record(identifier).await? else {
            return Ok(None);
        };
        if rec
            .pull_request
            .as_ref()
            .is_some_and(|p| p.number == number)
        {
            return Ok(None); // attached when it was first recorded
        }
        let tracker_id = rec.tracker_id;
        let op = IntentOp::Attach {
            tracker_id,
            url: url.to_string(),
            title: format!("Pull request #{number}"),
        };
        let intent_id = super::ids::new_id("i");
        let event = NewEvent::for_issue(
            identifier,
            EventKind::IntentRecorded {
                intent_id: intent_id.clone(),
                op: op.clone(),
            },
        );
        Ok(Some((
            event,
            Intent {
                intent_id,
                identifier: identifier.to_string(),
                op,
            },
        )))
    }
}
