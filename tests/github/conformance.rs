//! The shared `Tracker` conformance suite against the GitHub adapter and the fake
//! GitHub, once per mode.
//!
//! Seeds become issues of `acme/app` numbered in seed order (`CF-1` → `acme/app#1`);
//! a seed's column is its board status (project mode) or its state label (labels mode),
//! its priority a `priority:N` label. The board has an option, and the repository a
//! label, for every column the suite uses, as `karajan init --github-labels` and a
//! set-up board would. A blocker is resolved on GitHub when its issue is closed, so
//! `resolve_blocker` closes the issue and moves it to the terminal column; the adapter
//! runs with `close_on_terminal: true`, so karajan's own move to `Done` resolves too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use karajan::tracker::Tracker;
use karajan::tracker::github::GithubTracker;

use super::fake::{Fake, FakeIssue, OWNER, REPO};
use crate::conformance::tracker::{Harness, Seed, TERMINAL_COLUMNS};

/// Every column the suite seeds or moves to.
const COLUMNS: &[&str] = &[
    "Todo",
    "In Progress",
    "Human Review",
    "Backlog",
    "Done",
    "Canceled",
];

/// Numbers handed to ids that were never seeded (no such issue).
const UNSEEDED_FROM: i64 = 90_000;

pub struct GithubHarness {
    fake: Fake,
    labels_mode: bool,
    tracker: Arc<GithubTracker>,
    numbers: Mutex<HashMap<String, i64>>,
}

impl GithubHarness {
    pub async fn new(mode: &str) -> GithubHarness {
        let fake = Fake::start().await;
        let cols: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
        let config = super::config(
            &fake,
            mode,
            "priority: {label_prefix: \"priority:\"}\nclose_on_terminal: true\n",
        )
        .with_terminal_columns(TERMINAL_COLUMNS.iter().map(|c| c.to_string()).collect())
        .with_columns(cols.clone());
        let labels: Vec<String> = cols.iter().map(|c| config.state_label(c)).collect();
        {
            let mut s = fake.lock();
            s.options = cols;
            s.repo_labels.extend(labels);
        }
        let tracker = Arc::new(GithubTracker::new(config).expect("tracker"));
        GithubHarness {
            fake,
            labels_mode: mode == "labels",
            tracker,
            numbers: Mutex::new(HashMap::new()),
        }
    }

    fn number(&self, seed_id: &str) -> i64 {
        let mut numbers = self.numbers.lock().expect("numbers");
        if let Some(n) = numbers.get(seed_id) {
            return *n;
        }
        let n = UNSEEDED_FROM + numbers.len() as i64;
        numbers.insert(seed_id.to_string(), n);
        n
    }

    fn find(&self, seed_id: &str) -> Option<FakeIssue> {
        let n = self.number(seed_id);
        self.fake
            .lock()
            .issues
            .iter()
            .find(|i| i.number == n)
            .cloned()
    }

    fn state_label(&self, column: &str) -> String {
        self.tracker.config().state_label(column)
    }
}

#[async_trait]
impl Harness for GithubHarness {
    async fn tracker(&self) -> Arc<dyn Tracker> {
        self.tracker.clone()
    }

    /// GitHub reads leave the comments out (a run reads them): its comment connections
    /// cannot be filtered to humans, so a few recent ones would often be karajan's only.
    fn reads_recent_comments(&self) -> bool {
        false
    }

    async fn seed(&self, tickets: &[Seed]) {
        {
            let mut numbers = self.numbers.lock().expect("numbers");
            for t in tickets {
                let next = numbers.values().filter(|n| **n < UNSEEDED_FROM).count() as i64 + 1;
                numbers.insert(t.identifier.clone(), next);
            }
        }
        let issues: Vec<FakeIssue> = tickets
            .iter()
            .map(|t| {
                let mut labels = t.labels.clone();
                if let Some(p @ 1..=4) = t.priority {
                    labels.push(format!("priority:{p}"));
                }
                if self.labels_mode {
                    labels.push(self.state_label(&t.column));
                }
                FakeIssue {
                    number: self.number(&t.identifier),
                    title: t.title.clone(),
                    body: t.description.clone(),
                    open: true,
                    labels,
                    is_pr: false,
                    draft: false,
                    status: (!self.labels_mode).then(|| t.column.clone()),
                    priority_option: None,
                    comments: Vec::new(),
                    blocked_by: t.blocked_by.iter().map(|b| self.number(b)).collect(),
                    repo: format!("{OWNER}/{REPO}"),
                    updated_at: crate::github::fake::initial_update(self.number(&t.identifier)),
                }
            })
            .collect();
        self.fake.lock().issues.extend(issues);
    }

    fn identifier(&self, seed_id: &str) -> String {
        format!("{OWNER}/{REPO}#{}", self.number(seed_id))
    }

    async fn resolve_blocker(&self, seed_id: &str, terminal_column: &str) {
        let label = self.state_label(terminal_column);
        let labels_mode = self.labels_mode;
        let prefix = self.tracker.config().label_prefix.clone();
        self.fake.edit(self.number(seed_id), |issue| {
            issue.open = false;
            if labels_mode {
                issue.labels.retain(|l| !l.starts_with(&prefix));
                issue.labels.push(label);
            } else {
                issue.status = Some(terminal_column.to_string());
            }
        });
    }

    async fn column_of(&self, seed_id: &str) -> Option<String> {
        let issue = self.find(seed_id)?;
        if !self.labels_mode {
            return issue.status;
        }
        let states: Vec<&String> = issue
            .labels
            .iter()
            .filter(|l| l.starts_with(&self.tracker.config().label_prefix))
            .collect();
        assert!(states.len() <= 1, "several state labels: {states:?}");
        let label = states.first()?;
        COLUMNS
            .iter()
            .find(|c| self.state_label(c) == **label)
            .map(|c| c.to_string())
    }

    async fn comments_raw(&self, seed_id: &str) -> Vec<String> {
        self.find(seed_id)
            .map(|i| i.comments.into_iter().map(|(_, body, _)| body).collect())
            .unwrap_or_default()
    }
}

mod project {
    use super::GithubHarness;
    use crate::conformance::tracker::tracker_conformance;

    tracker_conformance!(GithubHarness::new("project"));
}

mod labels {
    use super::GithubHarness;
    use crate::conformance::tracker::tracker_conformance;

    tracker_conformance!(GithubHarness::new("labels"));
}
