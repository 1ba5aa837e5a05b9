//! The Linear adapter against an in-process fake of Linear's GraphQL API.

mod after_run;
mod attach;
mod check;
mod combined;
mod comments;
mod e2e;
pub mod fake;
mod faults;
mod incremental;
mod lost_answers;
mod reads;
mod secrets;
mod stage_hook;
mod writes;

use std::time::Duration;

use karajan::config::Secret;
use karajan::tracker::linear::LinearTracker;
use karajan::tracker::linear::config::{LinearConfig, RetryPolicy};

use self::fake::{FakeLinear, KEY};
use crate::e2e::support::Scratch;

/// Names the quickstart's approval column as the fake's board does (`Gate Approved`,
/// as a Linear team might).
pub fn gate_approved(s: &Scratch) {
    let yaml = std::fs::read_to_string(s.workflow()).unwrap();
    std::fs::write(
        s.workflow(),
        yaml.replace("approved: Approved", "approved: Gate Approved"),
    )
    .unwrap();
}

/// A config pointing at the fake: project `proj1` of team ENG, fast retries, short timeouts.
pub fn config(fake: &FakeLinear) -> LinearConfig {
    let mut c = LinearConfig::new(Secret::new(KEY));
    c.endpoint = fake.url.clone();
    c.project = Some("proj1".into());
    c.terminal_columns = vec!["Done".into(), "Canceled".into()];
    c.request_timeout = Duration::from_millis(400);
    c.connect_timeout = Duration::from_millis(400);
    c.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    c
}

fn tracker(fake: &FakeLinear) -> LinearTracker {
    LinearTracker::new(config(fake)).expect("tracker builds")
}

fn columns(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}
