//! `on_stage_enter` runs once per state entry, even when karajan's own move of the
//! ticket is slow: the run the entry starts creates the workspace meanwhile, and a
//! hook queued behind the move "for when the workspace exists" would then run a second
//! time beside the one the run's preparation ran.

use std::time::Duration;

use super::e2e::run_once;
use super::fake::{FakeLinear, Fault};
use crate::e2e::support::Scratch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_entry_hook_runs_once_when_the_move_is_slower_than_the_workspace() {
    let s = Scratch::quickstart();
    let log = s.path().join("hooks.log");
    let yaml = std::fs::read_to_string(s.workflow()).unwrap();
    std::fs::write(
        s.workflow(),
        yaml.replace("approved: Approved", "approved: Gate Approved")
            .replace(
                "hooks:\n  timeout: 30s\n",
                &format!(
                    "hooks:\n  timeout: 30s\n  on_stage_enter: 'echo \"enter $KARAJAN_ISSUE $KARAJAN_STATE\" >> {}'\n",
                    log.display()
                ),
            ),
    )
    .unwrap();
    let fake = FakeLinear::start().await;
    let id = fake.world().add_issue("Todo", "Add a friendly greeting");
    // The pick-up's move (with its comment) is answered too late (past the client's
    // timeout): its chain stays busy reading it back while the run's preparation makes
    // the workspace. (With the hook queued in that chain it ran twice: seen 3 of 3.)
    fake.fault_on("MoveAndComment", Fault::Slow(Duration::from_millis(1500)));
    run_once(s.path(), &fake).await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let entries = text
        .lines()
        .filter(|l| *l == format!("enter {id} implement"))
        .count();
    assert_eq!(entries, 1, "{text}");
}
