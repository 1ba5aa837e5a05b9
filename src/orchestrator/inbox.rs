//! What the owner's tasks send back: every slow piece of work (a tracker read, a chain
//! of writes and hooks, a read of rework feedback) runs in a task and reports here, and
//! the owner handles the report as a message, like a run's completion.

use tokio::sync::oneshot;

use super::gates::{GateDecision, GateError, GateOutcome};
use crate::domain::TicketSnapshot;
use crate::store::NewEvent;
use crate::tracker::{Fetched, TrackerError};

/// A poll's answer: the candidates, and fresh snapshots of the tickets karajan is
/// responsible for that left the watched columns.
pub(crate) struct Observation {
    pub fetched: Fetched,
    pub refreshed: Vec<TicketSnapshot>,
    /// The tickets read, when only some were (a webhook's nudge); `None`: a whole poll.
    pub scope: Option<Vec<String>>,
}

/// A move of karajan's that landed: the column it made, and what the tracker said of
/// it (the ticket's last-change time after it, where the answer carries one).
#[derive(Debug, Clone)]
pub(crate) struct MoveLanded {
    pub column: String,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A report from one of the owner's tasks.
pub(crate) enum TaskMsg {
    /// One effect of a ticket's chain is done: record `events`. `moved_to`: a move that
    /// landed, so the owner's snapshot follows it without reading the tracker again.
    Effect {
        identifier: String,
        events: Vec<NewEvent>,
        moved_to: Option<MoveLanded>,
    },
    /// A ticket's chain has performed all it could; `blocked`: a write stayed owed and
    /// the writes after it were held back (they stay pending in the outbox).
    ChainEnded { identifier: String, blocked: bool },
    /// The poll started as number `seq` answered.
    Observed {
        seq: u64,
        result: Result<Observation, TrackerError>,
    },
    /// A ticket was read again after a run that no poll saw.
    Refreshed {
        identifier: String,
        result: Result<Option<TicketSnapshot>, TrackerError>,
    },
    /// The terminal sweep answered.
    Swept {
        result: Result<Fetched, TrackerError>,
    },
    /// The rework feedback of a ticket leaving its gate was read (or could not be).
    Feedback {
        snapshot: TicketSnapshot,
        state: String,
        entered_at: chrono::DateTime<chrono::Utc>,
        result: Result<Option<String>, TrackerError>,
    },
    /// The pull request of a ticket waiting at a gate that reads it was read (or could
    /// not be), for the visit of `state` entered at `entered_at`.
    PrStatus {
        identifier: String,
        state: String,
        entered_at: chrono::DateTime<chrono::Utc>,
        result: Result<crate::forge::PrStatus, TrackerError>,
    },
    /// A gate decision for a ticket no poll had shown yet, with the snapshot read for it.
    GateSnapshot {
        identifier: String,
        decision: GateDecision,
        actor: String,
        snapshot: Option<TicketSnapshot>,
        reply: oneshot::Sender<Result<GateOutcome, GateError>>,
    },
}
