//! The newest human comments every Linear issue read carries
//! (`TicketSnapshot::recent_comments`), so that getting a run ready reads no comments:
//! the prompt quotes them from the snapshot the run started from.
//!
//! How they are asked for (`graphql/linear/ListIssues.graphql`):
//! - Filtered in the query, by body: a comment without karajan's hidden marker
//!   (`body: { notContains: COMMENT_MARKER_PREFIX }`), the same test as
//!   [`Comment::is_karajan`]. Not by author (`user: { isMe: { eq: false } }` exists):
//!   with a personal API key the key's owner is a human too, and their comments count.
//! - Both ends of the connection (`first` and `last`, ordered by `createdAt`): Linear
//!   documents the order field but not its direction, and the newest comments are at one
//!   of the two ends whichever it is. [`from_read`] merges them, oldest first, and keeps
//!   the newest [`RECENT_HUMAN_COMMENTS`]; it leaves out marked comments once more, so a
//!   filter Linear ignored could not put karajan's words in a prompt.
//!
//! Staleness. A snapshot is as fresh as the read that made it, and incremental polls
//! re-read only what changed (`crate::tracker::incremental`). Linear does not document
//! that a new comment touches the issue's `updatedAt` (its schema: "the last time at
//! which the entity was meaningfully updated"; a comment is an entity of its own), so
//! the incremental filter does not rely on it: it asks for issues updated since the last
//! read OR with a human comment created or edited since then ([`changed_since`]:
//! `comments: { some: { updatedAt, body } }`), in the same single request. A human's
//! comment therefore reaches the cached snapshot at the next poll, like any change of
//! the issue; a comment deleted since is dropped at the next full read (one poll in
//! `FULL_READ_EVERY`). karajan's own comments do not make an issue count as changed.

use super::normalize;
use super::ops::list_issues;
use crate::domain::ticket::COMMENT_MARKER_PREFIX;
use crate::domain::{Comment, RECENT_HUMAN_COMMENTS, recent_human};

/// How many comments each end of the connection brings (`$recentComments`).
pub(super) const COUNT: i64 = RECENT_HUMAN_COMMENTS as i64;

/// Comments without karajan's hidden marker (`$humanComments`).
pub(super) fn human_comments() -> list_issues::CommentFilter {
    list_issues::CommentFilter {
        body: Some(list_issues::StringComparator {
            not_contains: Some(COMMENT_MARKER_PREFIX.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The `or` of an incremental read: issues updated at or after `since`, and issues with a
/// human comment created or edited at or after `since`.
pub(super) fn changed_since(since: chrono::DateTime<chrono::Utc>) -> Vec<list_issues::IssueFilter> {
    let at_or_after = || list_issues::DateComparator {
        gte: Some(normalize::timestamp(since)),
    };
    vec![
        list_issues::IssueFilter {
            updated_at: Some(at_or_after()),
            ..Default::default()
        },
        list_issues::IssueFilter {
            comments: Some(list_issues::CommentCollectionFilter {
                some: Some(list_issues::CommentFilter {
                    updated_at: Some(at_or_after()),
                    ..human_comments()
                }),
            }),
            ..Default::default()
        },
    ]
}

/// The newest human comments of an issue from the two ends of its connection (each
/// `(id, comment)`, in whatever order Linear sent them): oldest first, each once.
pub(super) fn from_read(ends: Vec<(String, Comment)>) -> Vec<Comment> {
    let mut all = ends;
    normalize::sort_comments(&mut all);
    all.dedup_by(|a, b| a.0 == b.0);
    recent_human(all.into_iter().map(|(_, c)| c))
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;

    fn c(n: i64, body: &str) -> (String, Comment) {
        (
            format!("c{n}"),
            Comment {
                author: "Grace".into(),
                body: body.into(),
                created_at: Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap() + Duration::hours(n),
            },
        )
    }

    #[test]
    fn both_ends_merge_into_the_newest_human_comments_oldest_first() {
        let bodies = |v: Vec<Comment>| v.into_iter().map(|c| c.body).collect::<Vec<_>>();
        // Ascending: `first` is the oldest five, `last` the newest five.
        let head = (1..=5).map(|n| c(n, &format!("h{n}")));
        let tail = (4..=8).map(|n| c(n, &format!("h{n}")));
        assert_eq!(
            bodies(from_read(head.chain(tail).collect())),
            ["h4", "h5", "h6", "h7", "h8"]
        );
        // Descending, a marked comment that slipped through, and fewer than five.
        let ends = vec![
            c(3, "h3"),
            c(2, "<!-- karajan:{} -->"),
            c(1, "h1"),
            c(3, "h3"),
            c(2, "<!-- karajan:{} -->"),
            c(1, "h1"),
        ];
        assert_eq!(bodies(from_read(ends)), ["h1", "h3"]);
        assert!(from_read(vec![]).is_empty());
    }

    #[test]
    fn the_incremental_filter_asks_for_updates_or_human_comments() {
        let since = Utc.with_ymd_and_hms(2024, 5, 1, 9, 0, 0).unwrap();
        let or = serde_json::to_value(changed_since(since)).unwrap();
        assert_eq!(
            or,
            serde_json::json!([
                {"updatedAt": {"gte": "2024-05-01T09:00:00.000Z"}},
                {"comments": {"some": {
                    "body": {"notContains": "<!-- karajan:"},
                    "updatedAt": {"gte": "2024-05-01T09:00:00.000Z"}
                }}}
            ])
        );
    }
}
