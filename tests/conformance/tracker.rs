//! Checks every `Tracker` adapter must pass, written once against a `Harness`.
//!
//! A harness owns a fresh, empty backend (a temp folder, a fake Linear or GitHub
//! server), builds the adapter under test with `TERMINAL_COLUMNS` as its terminal
//! columns, seeds tickets, and reads the backend *directly* (not through the adapter),
//! so a check can tell "the adapter says it moved" from "it moved".
//!
//! Checks name tickets by *seed id* (`CF-1`); `Harness::identifier` maps a seed id to
//! the identifier the tracker gives that ticket (`CF-1` locally, `acme/app#3` on
//! GitHub), and every harness method takes seed ids. What resolves a blocker is the
//! tracker's own rule (a terminal column locally, a closed issue on GitHub), so the
//! harness performs it (`resolve_blocker`) the way a human would in that backend.
//!
//! Instantiate with `tracker_conformance!(async { MyHarness::new().await })`: it
//! expands to one `#[tokio::test]` per check, each on a fresh harness.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use karajan::domain::{TicketRef, TicketSnapshot};
use karajan::tracker::Tracker;

/// Columns the harness must configure as terminal.
pub const TERMINAL_COLUMNS: &[&str] = &["Done", "Canceled"];

/// A ticket to create in the backend.
#[derive(Debug, Clone)]
pub struct Seed {
    pub identifier: String,
    pub title: String,
    pub column: String,
    pub priority: Option<u8>,
    pub labels: Vec<String>,
    pub blocked_by: Vec<String>,
    pub description: String,
}

impl Seed {
    pub fn new(identifier: &str, title: &str, column: &str) -> Self {
        Seed {
            identifier: identifier.to_string(),
            title: title.to_string(),
            column: column.to_string(),
            priority: None,
            labels: Vec::new(),
            blocked_by: Vec::new(),
            description: String::new(),
        }
    }

    pub fn priority(mut self, p: u8) -> Self {
        self.priority = Some(p);
        self
    }

    pub fn labels(mut self, labels: &[&str]) -> Self {
        self.labels = labels.iter().map(|l| l.to_string()).collect();
        self
    }

    pub fn blocked_by(mut self, ids: &[&str]) -> Self {
        self.blocked_by = ids.iter().map(|l| l.to_string()).collect();
        self
    }

    pub fn description(mut self, d: &str) -> Self {
        self.description = d.to_string();
        self
    }
}

#[async_trait]
pub trait Harness: Send + Sync {
    /// The adapter under test, configured with `TERMINAL_COLUMNS`.
    async fn tracker(&self) -> Arc<dyn Tracker>;
    /// Create these tickets in the backend (`Seed::identifier` is the seed id).
    async fn seed(&self, tickets: &[Seed]);
    /// The tracker's identifier of the ticket seeded as `seed_id`. Ids never seeded map
    /// to identifiers of tickets that do not exist. The default is the seed id itself.
    fn identifier(&self, seed_id: &str) -> String {
        seed_id.to_string()
    }
    /// Finish the ticket in the backend, directly, so that the tracker's rule counts it
    /// as a resolved blocker, leaving it in `terminal_column` (one of
    /// `TERMINAL_COLUMNS`).
    async fn resolve_blocker(&self, seed_id: &str, terminal_column: &str);
    /// The ticket's column as the backend stores it (`None`: no such ticket).
    async fn column_of(&self, seed_id: &str) -> Option<String>;
    /// The ticket's comments as the backend stores them (possibly quoted or escaped),
    /// oldest first.
    async fn comments_raw(&self, seed_id: &str) -> Vec<String>;
    /// Whether the tracker's reads carry the newest human comments
    /// (`TicketSnapshot::recent_comments`); one that does not leaves them `None`, and a
    /// run then reads the comments itself.
    fn reads_recent_comments(&self) -> bool {
        true
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The tracker identifiers of these seed ids.
fn ids(h: &dyn Harness, seed_ids: &[&str]) -> BTreeSet<String> {
    seed_ids.iter().map(|s| h.identifier(s)).collect()
}

async fn fetch_one(h: &dyn Harness, tracker: &dyn Tracker, seed_id: &str) -> TicketSnapshot {
    let identifier = h.identifier(seed_id);
    let identifier = identifier.as_str();
    let mut found = tracker
        .fetch_by_identifiers(&strings(&[identifier]))
        .await
        .unwrap_or_else(|e| panic!("fetch {identifier}: {e}"));
    assert_eq!(found.len(), 1, "fetch {identifier}: {found:?}");
    found.remove(0)
}

fn identifiers<T: std::borrow::Borrow<TicketSnapshot>>(tickets: &[T]) -> BTreeSet<String> {
    tickets
        .iter()
        .map(|t| t.borrow().identifier.clone())
        .collect()
}

/// Candidates are exactly the tickets in the asked columns, with normalized fields.
pub async fn candidates_filtered_and_complete(h: &dyn Harness) {
    h.seed(&[
        Seed::new("CF-1", "Fix the login", "Todo")
            .priority(2)
            .labels(&["Bug", "UI"])
            .description("Line one.\n\nLine two."),
        Seed::new("CF-2", "Refactor", "In Progress").priority(0),
        Seed::new("CF-3", "Shipped", "Done"),
        Seed::new("CF-4", "Someday", "Backlog"),
    ])
    .await;
    let tracker = h.tracker().await;
    let fetched = tracker
        .fetch_candidates(&strings(&["Todo", "In Progress"]))
        .await
        .expect("fetch_candidates");
    assert!(fetched.skipped.is_empty(), "{:?}", fetched.skipped);
    assert_eq!(identifiers(&fetched.tickets), ids(h, &["CF-1", "CF-2"]));

    let one = fetched
        .tickets
        .iter()
        .find(|t| t.identifier == h.identifier("CF-1"))
        .expect("CF-1");
    assert_eq!(one.title, "Fix the login");
    assert_eq!(one.column, "Todo");
    assert_eq!(one.priority, Some(2));
    let labels: BTreeSet<&str> = one.labels.iter().map(String::as_str).collect();
    assert_eq!(labels, BTreeSet::from(["bug", "ui"]));
    assert_eq!(one.description.trim(), "Line one.\n\nLine two.");
    assert!(one.blocked_by.is_empty() && !one.is_blocked());
    assert!(!one.id.is_empty());
    assert!(one.url.as_deref().is_some_and(|u| !u.is_empty()));
    assert!(one.created_at <= one.updated_at);
    assert_eq!(one.ticket_ref().identifier, h.identifier("CF-1"));

    let two = fetched
        .tickets
        .iter()
        .find(|t| t.identifier == h.identifier("CF-2"))
        .expect("CF-2");
    assert_eq!(two.priority, None, "priority 0 means none");
    assert_eq!(two.column, "In Progress");
    assert!(two.labels.is_empty());

    let done = tracker
        .fetch_candidates(&strings(&["Done"]))
        .await
        .expect("done");
    assert_eq!(identifiers(&done.tickets), ids(h, &["CF-3"]));
    let none = tracker.fetch_candidates(&[]).await.expect("no columns");
    assert!(none.tickets.is_empty());
}

/// More than one request's worth (adapters batch by 50) comes back whole; unknown
/// identifiers are simply absent.
pub async fn fetch_by_identifiers_many_and_unknown(h: &dyn Harness) {
    let columns = ["Todo", "In Progress", "Done", "Backlog"];
    let seeds: Vec<Seed> = (1..=120)
        .map(|i| {
            Seed::new(
                &format!("FB-{i:03}"),
                &format!("Ticket {i}"),
                columns[i % 4],
            )
        })
        .collect();
    h.seed(&seeds).await;
    let tracker = h.tracker().await;
    let mut wanted: Vec<String> = seeds.iter().map(|s| h.identifier(&s.identifier)).collect();
    wanted.push(h.identifier("FB-999"));
    wanted.push(h.identifier("FB-007"));
    let got = tracker.fetch_by_identifiers(&wanted).await.expect("fetch");
    assert_eq!(got.len(), 120, "each requested ticket once");
    assert_eq!(
        identifiers(&got),
        seeds.iter().map(|s| h.identifier(&s.identifier)).collect()
    );
    for t in &got {
        let seed = seeds
            .iter()
            .find(|s| h.identifier(&s.identifier) == t.identifier)
            .expect("seeded");
        assert_eq!(t.column, seed.column, "{}", t.identifier);
        assert_eq!(t.title, seed.title);
    }
    let unknown = tracker
        .fetch_by_identifiers(&[h.identifier("FB-999")])
        .await
        .expect("unknown");
    assert!(unknown.is_empty());
    assert!(
        tracker
            .fetch_by_identifiers(&[])
            .await
            .expect("empty")
            .is_empty()
    );
}

/// A move shows in the next fetch and in the backend; moving twice is harmless.
pub async fn move_then_fetch(h: &dyn Harness) {
    h.seed(&[
        Seed::new("MV-1", "Move me", "Todo"),
        Seed::new("MV-2", "Stay", "Todo"),
    ])
    .await;
    let tracker = h.tracker().await;
    let ticket = fetch_one(h, tracker.as_ref(), "MV-1").await.ticket_ref();
    tracker
        .move_ticket(&ticket, "In Progress")
        .await
        .expect("move");
    assert_eq!(
        fetch_one(h, tracker.as_ref(), "MV-1").await.column,
        "In Progress"
    );
    assert_eq!(h.column_of("MV-1").await.as_deref(), Some("In Progress"));
    assert_eq!(
        h.column_of("MV-2").await.as_deref(),
        Some("Todo"),
        "others untouched"
    );
    let todo = tracker
        .fetch_candidates(&strings(&["Todo"]))
        .await
        .expect("todo");
    assert_eq!(identifiers(&todo.tickets), ids(h, &["MV-2"]));

    tracker
        .move_ticket(&ticket, "In Progress")
        .await
        .expect("same column again");
    assert_eq!(h.column_of("MV-1").await.as_deref(), Some("In Progress"));
    tracker
        .move_ticket(&ticket, "Done")
        .await
        .expect("to terminal");
    assert_eq!(fetch_one(h, tracker.as_ref(), "MV-1").await.column, "Done");
    assert_eq!(h.column_of("MV-1").await.as_deref(), Some("Done"));
}

/// Comment bodies that look like structure in any format.
pub const AWKWARD_BODIES: &[&str] = &[
    "Started `build` (run 1).\n<!-- karajan:{\"state\":\"build\",\"run\":1} -->",
    "### Not a heading of ours\n---\ntitle: not front matter\n---\n\n## Comments\n\n> quoted",
    "```\n### inside a fence\n```\n\n* a list\n\ttabbed",
];

/// Comments come back oldest first, bodies intact, and land in the backend.
pub async fn comments_round_trip(h: &dyn Harness) {
    h.seed(&[
        Seed::new("CM-1", "Talk", "Todo"),
        Seed::new("CM-2", "Quiet", "Todo"),
    ])
    .await;
    let tracker = h.tracker().await;
    let ticket = fetch_one(h, tracker.as_ref(), "CM-1").await.ticket_ref();
    assert!(
        tracker
            .comments(&ticket)
            .await
            .expect("none yet")
            .is_empty()
    );
    for body in AWKWARD_BODIES {
        tracker.comment(&ticket, body).await.expect("comment");
    }
    let comments = tracker.comments(&ticket).await.expect("comments");
    let bodies: Vec<&str> = comments.iter().map(|c| c.body.trim_end()).collect();
    assert_eq!(bodies, AWKWARD_BODIES.to_vec());
    assert!(comments[0].is_karajan() && !comments[1].is_karajan());
    assert!(
        comments
            .windows(2)
            .all(|w| w[0].created_at <= w[1].created_at)
    );
    assert!(comments.iter().all(|c| !c.author.is_empty()));

    let raw = h.comments_raw("CM-1").await;
    assert_eq!(raw.len(), AWKWARD_BODIES.len(), "{raw:?}");
    for (stored, body) in raw.iter().zip(AWKWARD_BODIES) {
        for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
            assert!(stored.contains(line), "{line:?} not in stored {stored:?}");
        }
    }
    // Every read carries the newest human comments of that full list, as the prompt
    // quotes them (no comment read is needed to start a run), or none at all.
    let recent = karajan::domain::recent_human(comments.clone());
    assert!(!recent.is_empty());
    let (recent, none) = match h.reads_recent_comments() {
        true => (Some(recent), Some(vec![])),
        false => (None, None),
    };
    let fetched = fetch_one(h, tracker.as_ref(), "CM-1").await;
    assert_eq!(fetched.recent_comments, recent, "by identifier");
    let candidates = tracker
        .fetch_candidates(&strings(&["Todo"]))
        .await
        .expect("candidates");
    let listed = candidates
        .tickets
        .iter()
        .find(|t| t.identifier == fetched.identifier)
        .expect("CM-1 is a candidate");
    assert_eq!(listed.recent_comments, recent, "candidates");
    let quiet = fetch_one(h, tracker.as_ref(), "CM-2").await;
    assert_eq!(quiet.recent_comments, none, "looked, found none");
    let other = quiet.ticket_ref();
    assert!(tracker.comments(&other).await.expect("other").is_empty());
    assert!(h.comments_raw("CM-2").await.is_empty());
    // A comment does not move the ticket.
    assert_eq!(h.column_of("CM-1").await.as_deref(), Some("Todo"));
}

/// A blocker is resolved exactly when the backend finishes its ticket (the harness
/// does it the tracker's way), and when karajan moves it to a terminal column; until
/// then the blocked ticket is blocked, in detail reads and in candidates alike.
pub async fn blocker_semantics(h: &dyn Harness) {
    h.seed(&[
        Seed::new("BL-1", "Open blocker", "Todo"),
        Seed::new("BL-2", "Done blocker", "In Progress"),
        Seed::new("BL-3", "Canceled blocker", "In Progress"),
        Seed::new("BL-4", "Waits", "Todo").blocked_by(&["BL-1"]),
        Seed::new("BL-5", "Free", "Todo").blocked_by(&["BL-2", "BL-3"]),
    ])
    .await;
    let tracker = h.tracker().await;
    let waits = fetch_one(h, tracker.as_ref(), "BL-4").await;
    assert_eq!(waits.blocked_by.len(), 1);
    assert_eq!(waits.blocked_by[0].identifier, h.identifier("BL-1"));
    assert!(!waits.blocked_by[0].resolved);
    assert!(waits.is_blocked());

    // One of two blockers finished: still blocked, by exactly the other one.
    h.resolve_blocker("BL-2", "Done").await;
    let half = fetch_one(h, tracker.as_ref(), "BL-5").await;
    let open: BTreeSet<String> = half
        .blocked_by
        .iter()
        .filter(|b| !b.resolved)
        .map(|b| b.identifier.clone())
        .collect();
    assert_eq!(open, ids(h, &["BL-3"]), "{:?}", half.blocked_by);
    assert!(half.is_blocked());

    h.resolve_blocker("BL-3", "Canceled").await;
    let free = fetch_one(h, tracker.as_ref(), "BL-5").await;
    let blockers: BTreeSet<String> = free
        .blocked_by
        .iter()
        .map(|b| b.identifier.clone())
        .collect();
    assert_eq!(blockers, ids(h, &["BL-2", "BL-3"]));
    assert!(free.blocked_by.iter().all(|b| b.resolved));
    assert!(!free.is_blocked());
    assert_eq!(h.column_of("BL-2").await.as_deref(), Some("Done"));
    assert_eq!(h.column_of("BL-3").await.as_deref(), Some("Canceled"));

    let candidates = tracker
        .fetch_candidates(&strings(&["Todo"]))
        .await
        .expect("todo");
    let listed = candidates
        .tickets
        .iter()
        .find(|t| t.identifier == h.identifier("BL-4"))
        .expect("BL-4");
    assert!(listed.is_blocked(), "candidates carry blocker state too");
    let listed = candidates
        .tickets
        .iter()
        .find(|t| t.identifier == h.identifier("BL-5"))
        .expect("BL-5");
    assert!(!listed.is_blocked(), "{:?}", listed.blocked_by);

    let blocker = fetch_one(h, tracker.as_ref(), "BL-1").await.ticket_ref();
    tracker
        .move_ticket(&blocker, "Done")
        .await
        .expect("finish blocker");
    assert!(!fetch_one(h, tracker.as_ref(), "BL-4").await.is_blocked());
}

/// `check` on a healthy backend reports facts and no errors, and writes nothing.
pub async fn check_healthy(h: &dyn Harness) {
    h.seed(&[
        Seed::new("CK-1", "One", "Todo"),
        Seed::new("CK-2", "Two", "In Progress"),
    ])
    .await;
    let tracker = h.tracker().await;
    let check = tracker
        .check(&strings(&["Todo", "In Progress"]))
        .await
        .expect("check");
    assert!(check.errors.is_empty(), "{:?}", check.errors);
    assert!(!check.facts.is_empty());
    assert_eq!(h.column_of("CK-1").await.as_deref(), Some("Todo"));
    assert!(h.comments_raw("CK-1").await.is_empty());
    assert!(!tracker.kind().is_empty());
}

/// A move and its comment together: both land; on a ticket that does not exist the
/// move fails for good and the comment is reported as not attempted, nothing written.
pub async fn move_and_comment_together(h: &dyn Harness) {
    h.seed(&[
        Seed::new("MC-1", "Move and say so", "Todo"),
        Seed::new("MC-2", "Stay quiet", "Todo"),
    ])
    .await;
    let tracker = h.tracker().await;
    let ticket = fetch_one(h, tracker.as_ref(), "MC-1").await.ticket_ref();
    let (moved, commented) = tracker
        .move_and_comment(&ticket, "In Progress", AWKWARD_BODIES[0])
        .await;
    moved.expect("moved");
    commented.expect("commented");
    assert_eq!(h.column_of("MC-1").await.as_deref(), Some("In Progress"));
    assert_eq!(
        fetch_one(h, tracker.as_ref(), "MC-1").await.column,
        "In Progress"
    );
    let comments = tracker.comments(&ticket).await.expect("comments");
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].body.trim_end(), AWKWARD_BODIES[0]);
    assert!(comments[0].is_karajan());
    assert_eq!(h.column_of("MC-2").await.as_deref(), Some("Todo"));
    assert!(h.comments_raw("MC-2").await.is_empty());

    let ghost = TicketRef {
        id: "no-such-ticket-id".to_string(),
        identifier: h.identifier("MC-404"),
    };
    let (moved, commented) = tracker.move_and_comment(&ghost, "Done", "hello").await;
    assert!(
        moved.as_ref().is_err_and(|e| !e.is_retryable()),
        "{moved:?}"
    );
    assert!(
        matches!(
            commented,
            Err(karajan::tracker::TrackerError::NotAttempted(_))
        ),
        "{commented:?}"
    );
    assert_eq!(h.comments_raw("MC-1").await.len(), 1);
}

/// Writes to a ticket that does not exist fail (and are not retryable forever).
pub async fn writes_to_unknown_tickets_fail(h: &dyn Harness) {
    h.seed(&[Seed::new("UK-1", "Exists", "Todo")]).await;
    let tracker = h.tracker().await;
    let ghost = TicketRef {
        id: "no-such-ticket-id".to_string(),
        identifier: h.identifier("UK-404"),
    };
    let moved = tracker.move_ticket(&ghost, "Done").await;
    assert!(
        moved.as_ref().is_err_and(|e| !e.is_retryable()),
        "{moved:?}"
    );
    let commented = tracker.comment(&ghost, "hello").await;
    assert!(
        commented.as_ref().is_err_and(|e| !e.is_retryable()),
        "{commented:?}"
    );
    assert_eq!(h.column_of("UK-1").await.as_deref(), Some("Todo"));
}

/// One `#[tokio::test]` per check, each on a fresh harness built by `$make` (an
/// expression evaluating to a future of the harness).
macro_rules! tracker_conformance {
    ($make:expr) => {
        #[tokio::test]
        async fn candidates_filtered_and_complete() {
            let h = $make.await;
            $crate::conformance::tracker::candidates_filtered_and_complete(&h).await;
        }

        #[tokio::test]
        async fn fetch_by_identifiers_many_and_unknown() {
            let h = $make.await;
            $crate::conformance::tracker::fetch_by_identifiers_many_and_unknown(&h).await;
        }

        #[tokio::test]
        async fn move_then_fetch() {
            let h = $make.await;
            $crate::conformance::tracker::move_then_fetch(&h).await;
        }

        #[tokio::test]
        async fn comments_round_trip() {
            let h = $make.await;
            $crate::conformance::tracker::comments_round_trip(&h).await;
        }

        #[tokio::test]
        async fn blocker_semantics() {
            let h = $make.await;
            $crate::conformance::tracker::blocker_semantics(&h).await;
        }

        #[tokio::test]
        async fn check_healthy() {
            let h = $make.await;
            $crate::conformance::tracker::check_healthy(&h).await;
        }

        #[tokio::test]
        async fn move_and_comment_together() {
            let h = $make.await;
            $crate::conformance::tracker::move_and_comment_together(&h).await;
        }

        #[tokio::test]
        async fn writes_to_unknown_tickets_fail() {
            let h = $make.await;
            $crate::conformance::tracker::writes_to_unknown_tickets_fail(&h).await;
        }
    };
}
pub(crate) use tracker_conformance;
