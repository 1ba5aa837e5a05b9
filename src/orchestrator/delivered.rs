//! A webhook delivery that carries its ticket's data, acted on as a read.
//!
//! Linear's `Issue` delivery holds the issue after the change, signed by Linear: the
//! same words a read of the ticket would answer at that `updatedAt` (so does GitHub's
//! `issues` delivery in labels mode: the REST issue; each tracker decodes its own,
//! `Tracker::read_delivery`). Reading the ticket
//! again cost a request and, worse, a wait behind the reads and writes already in
//! flight (the drain bench's approval → agent took 0.06–0.16 s at the median with
//! it, 0.007–0.010 s without), so a delivery newer than anything karajan knows of its
//! ticket is decided at once, as a read of that ticket alone, through the same rules
//! as a read (a ticket with work in flight keeps the owner's snapshot; a move of
//! karajan's that landed meanwhile is weighed by its stamp).
//!
//! Three things keep it as safe as the read it replaces:
//! - only a ticket karajan has read is taken from a delivery (what the delivery lacks,
//!   its blockers and recent comments, comes from that read), and only a delivery
//!   stamped later than every word karajan has of the ticket (its last read, its last
//!   move's answer, an earlier delivery); an older or equally stamped one that shows
//!   anything else is read instead, and one showing what karajan knows (its own move,
//!   delivered back) is done with;
//! - reads are applied in the order they began, and a delivery is acted on while a read
//!   begun earlier may still be out: that read cannot speak for the ticket unless it
//!   shows a later change (`keep_delivered`), or it would undo what the delivery did;
//! - anything a delivery cannot say (another tracker, a missing field, an archived
//!   issue, a ticket never read) is read, as every delivery was before.

use std::collections::HashMap;
use std::sync::Arc;

use tracing::debug;

use super::engine::Engine;
use super::inbox::Observation;
use crate::domain::TicketSnapshot;
use crate::store::StoreError;

impl Engine {
    /// A webhook delivered `identifier`'s change with the ticket's `data`.
    pub(crate) async fn on_delivery(
        &mut self,
        identifier: String,
        data: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let Some(known) = self.snapshots.get(&identifier).cloned() else {
            debug!(ticket = %identifier, "a delivery of a ticket not read yet: reading it");
            self.nudge(vec![identifier]);
            return Ok(());
        };
        let fresh = match self.tracker.read_delivery(data, &known) {
            Ok(fresh) => fresh,
            Err(why) => {
                debug!(ticket = %identifier, %why, "a delivery that cannot stand for a read: reading the ticket");
                self.nudge(vec![identifier]);
                return Ok(());
            }
        };
        let latest = [
            self.chain_moved_at.get(&identifier).copied(),
            self.delivered.get(&identifier).map(|(_, at)| *at),
        ]
        .into_iter()
        .flatten()
        .fold(known.updated_at, std::cmp::max);
        if fresh.updated_at <= latest {
            if shows_the_same(&fresh, &known) {
                debug!(ticket = %identifier, "a delivery of what karajan knows (its own move, delivered back)");
            } else {
                debug!(ticket = %identifier, delivered = %fresh.updated_at, known = %latest, "a delivery not later than what karajan knows: reading the ticket");
                self.nudge(vec![identifier]);
            }
            return Ok(());
        }
        debug!(ticket = %identifier, column = %fresh.column, "acting on a delivered change");
        self.fetch_seq += 1;
        let seq = self.fetch_seq;
        self.delivered
            .insert(identifier.clone(), (seq, fresh.updated_at));
        let obs = Observation {
            fetched: crate::tracker::Fetched {
                tickets: vec![Arc::new(fresh)],
                skipped: vec![],
            },
            refreshed: vec![],
            scope: Some(vec![identifier]),
        };
        self.decide_observed(seq, obs).await?;
        self.note_recorded_columns().await?;
        // A ticket the decision wants read again (a move of karajan's that landed
        // without a stamp) is read now, unless a read is out: it is read after that.
        self.read_nudged();
        Ok(())
    }

    /// A read numbered `seq` answered `snaps` for `scope` (`None`: every ticket). For a
    /// ticket acted on from a delivery after this read began, the read is older news
    /// unless it shows a change stamped no earlier than the delivery's: the owner's
    /// snapshot stands in for it. A read begun after the delivery speaks for the ticket
    /// again.
    pub(crate) fn keep_delivered(
        &mut self,
        seq: u64,
        scope: Option<&[String]>,
        snaps: &mut HashMap<String, Arc<TicketSnapshot>>,
    ) {
        if self.delivered.is_empty() {
            return;
        }
        let snapshots = &self.snapshots;
        self.delivered.retain(|id, (at_seq, at)| {
            let covers = scope.is_none_or(|s| s.iter().any(|x| x == id));
            if !covers || seq == *at_seq {
                return true;
            }
            if seq > *at_seq {
                return false;
            }
            let stands = snaps.get(id).is_some_and(|s| s.updated_at >= *at);
            if !stands && let Some(owner) = snapshots.get(id) {
                debug!(ticket = %id, "a read begun before a delivery acted on: the delivery stands");
                snaps.insert(id.clone(), owner.clone());
            }
            true
        });
    }
}

/// Whether a delivery shows nothing karajan's snapshot does not.
fn shows_the_same(delivered: &TicketSnapshot, known: &TicketSnapshot) -> bool {
    delivered.column == known.column
        && delivered.labels == known.labels
        && delivered.title == known.title
        && delivered.description == known.description
        && delivered.priority == known.priority
}
