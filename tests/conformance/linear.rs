//! The conformance suite against `LinearTracker` talking to the in-process fake Linear
//! server (`tests/linear/fake.rs`), scoped to a project whose teams are created from the
//! seeded identifiers' prefixes.

use std::sync::Arc;

use async_trait::async_trait;
use karajan::tracker::Tracker;
use karajan::tracker::linear::LinearTracker;

use super::tracker::{Harness, Seed, TERMINAL_COLUMNS, tracker_conformance};
use crate::linear::fake::FakeLinear;

struct LinearHarness {
    fake: FakeLinear,
    tracker: Arc<LinearTracker>,
}

impl LinearHarness {
    async fn new() -> Self {
        let fake = FakeLinear::start().await;
        let mut config = crate::linear::config(&fake);
        config.terminal_columns = TERMINAL_COLUMNS.iter().map(|c| c.to_string()).collect();
        let tracker = Arc::new(LinearTracker::new(config).expect("tracker builds"));
        LinearHarness { fake, tracker }
    }
}

#[async_trait]
impl Harness for LinearHarness {
    async fn tracker(&self) -> Arc<dyn Tracker> {
        self.tracker.clone()
    }

    async fn seed(&self, tickets: &[Seed]) {
        let mut w = self.fake.world();
        for t in tickets {
            let issue = w.add_issue_as(&t.identifier, &t.title, &t.column);
            issue.priority = f64::from(t.priority.unwrap_or(0));
            issue.labels = t.labels.clone();
            issue.blocked_by = t.blocked_by.clone();
            issue.description = Some(t.description.clone()).filter(|d| !d.is_empty());
        }
    }

    async fn column_of(&self, identifier: &str) -> Option<String> {
        let w = self.fake.world();
        w.issues
            .iter()
            .any(|i| i.identifier == identifier)
            .then(|| w.column_of(identifier))
    }

    async fn resolve_blocker(&self, seed_id: &str, terminal_column: &str) {
        // Linear resolves a blocker by its state type: a terminal column is completed.
        self.fake.world().move_issue(seed_id, terminal_column);
    }

    async fn comments_raw(&self, identifier: &str) -> Vec<String> {
        let mut comments = self.fake.world().comments_of(identifier);
        comments.sort_by_key(|c| c.created_at);
        comments.into_iter().map(|c| c.body).collect()
    }
}

tracker_conformance!(LinearHarness::new());
