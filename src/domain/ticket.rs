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
    /// What the read that made this snapshot brought of the ticket's comments: its
    /// newest human ones (those without karajan's marker, see [`Comment::is_karajan`]),
    /// at most [`RECENT_HUMAN_COMMENTS`], oldest first; `Some(vec![])` when it looked and
    /// found none. `None` when the read does not carry comments (GitHub, a stand-in built
    /// from the store): whoever needs them asks the tracker (`Tracker::comments`).
    /// Trackers that fill it keep it as fresh as the rest of the snapshot, so a run's
    /// prompt can quote them without a read of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_comments: Option<Vec<Comment>>,
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

/// How many of a ticket's newest human comments a read carries and a prompt quotes.
pub const RECENT_HUMAN_COMMENTS: usize = 5;

/// The newest [`RECENT_HUMAN_COMMENTS`] human comments of `comments` (oldest first, as
/// given), karajan's own left out.
pub fn recent_human(comments: impl IntoIterator<Item = Comment>) -> Vec<Comment> {
    let human: Vec<Comment> = comments.into_iter().filter(|c| !c.is_karajan()).collect();
    let skip = human.len().saturating_sub(RECENT_HUMAN_COMMENTS);
    human.into_iter().skip(skip).collect()
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
