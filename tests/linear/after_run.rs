//! After a run, a polling daemon decides on what its last poll read (issue 11 point 3:
//! "the poll's answer is trusted instead of a refresh after each run"): a run that
//! ended within a polling interval of the last poll costs no read of its ticket. A
//! `--once` run still reads the ticket again (its only poll came before the run; see
//! `e2e.rs`, three list reads per `--once` run).

use std::time::Duration;

use crate::e2e::support::Scratch;
use crate::web::webhooks::{HOUR, linear_daemon_parts, start, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_is_decided_on_the_last_poll_without_reading_its_ticket_again() {
    let s = Scratch::quickstart();
    s.script("agent.sh", "#!/bin/sh\ncat > /dev/null\necho done\n");
    let fake = crate::linear::fake::FakeLinear::start().await;
    let mut wf = linear_daemon_parts(&s, &fake);
    wf.server.webhooks = None;
    wf.polling.interval = HOUR;
    let id = fake.world().add_issue("Todo", "Add a friendly greeting");
    let tracker = karajan::tracker::from_config(&wf).unwrap();
    let d = start(wf, tracker).await;
    until("the run's move to the gate", || {
        fake.world().column_of(&id) == "Human Review"
    })
    .await;
    // Give a read after the run (were there one) the time to be made.
    tokio::time::sleep(Duration::from_millis(500)).await;
    d.stop().await;
    let reads: Vec<String> = fake
        .world()
        .requests
        .iter()
        .filter(|r| r.operation == "ListIssues")
        .map(|r| r.variables["filter"].to_string())
        .collect();
    assert_eq!(
        reads.len(),
        1,
        "the first poll and no read after the run: {reads:?}"
    );
    let moves = fake.count("MoveAndComment");
    assert_eq!(moves, 2, "picked up, then moved to the gate");
}
