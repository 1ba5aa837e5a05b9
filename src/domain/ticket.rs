//! What a tracker tells us about a ticket, normalized across Linear, GitHub and the
//! local folder. Adapters produce these; nothing downstream sees tracker-specific shapes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The two names of a ticket: the tracker's stable id (used for writes) and the
/// human identifier (`ENG-42`, `owner/repo#7`, `fix-login`) used everywhere else.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TicketRef {
    pub id: String,
    pub identifier: String,
}

/// A ticket that blocks another one, with whether it is finished (completed or canceled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocker {
    pub identifier: String,
    pub resolved: bool,
}

/// A ticket as the tracker shows it right now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketSnapshot {
    pub id: String,
    pub identifier: String,
    pub title: String,
    pub description: String,
    pub url: Option<String>,
    /// Lowercased.
    pub labels: Vec<String>,
    /// 1 (urgent) .. 4 (low); `None` means no priority and sorts last.
    pub priority: Option<u8>,
    /// The tracker's own column name.
    pub column: String,
    pub blocked_by: Vec<Blocker>,
    pub branch_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TicketSnapshot {
    pub fn ticket_ref(&self) -> TicketRef {
        TicketRef {
            id: self.id.clone(),
            identifier: self.identifier.clone(),
        }
    }

    /// True when some blocker is neither completed nor canceled.
    pub fn is_blocked(&self) -> bool {
        self.blocked_by.iter().any(|b| !b.resolved)
    }
}

/// A comment on a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub author: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// The hidden marker that karajan puts in every comment it writes.
pub const COMMENT_MARKER_PREFIX: &str = "<!-- karajan:";

impl Comment {
    /// Whether karajan wrote this comment (it carries the hidden marker).
    pub fn is_karajan(&self) -> bool {
        self.body.contains(COMMENT_MARKER_PREFIX)
    }
}
