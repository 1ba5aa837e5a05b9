//! Point 9: the first poll moves out of Todo only the tickets it can run now.

use super::support::{edit_workflow, write_ticket};
use crate::e2e::support::{Scratch, events, stderr};

#[test]
fn the_first_tick_takes_only_as_many_tickets_as_there_are_slots() {
    let s = Scratch::quickstart();
    let tickets = s.path().join("tickets");
    for f in ["QS-1", "QS-2", "QS-3"] {
        std::fs::remove_file(tickets.join(format!("{f}.md"))).unwrap();
    }
    for i in 1..=12 {
        write_ticket(&tickets, &format!("T-{i:02}"), None, &format!("ticket {i}"));
    }
    // The quickstart allows 3 agents at once.
    let wf = std::fs::read_to_string(s.workflow()).unwrap();
    assert!(wf.contains("max_concurrent: 3\n"));
    let before: Vec<(String, String)> = (1..=12)
        .map(|i| {
            let name = format!("T-{i:02}");
            let text = std::fs::read_to_string(tickets.join(format!("{name}.md"))).unwrap();
            (name, text)
        })
        .collect();
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut left = vec![];
    let mut untouched = 0;
    for (name, text) in &before {
        let now = std::fs::read_to_string(tickets.join(format!("{name}.md"))).unwrap();
        if &now == text {
            untouched += 1;
        } else {
            left.push(name.clone());
        }
    }
    assert_eq!(left.len(), 3, "exactly 3 tickets left Todo: {left:?}");
    assert_eq!(
        untouched, 9,
        "the other 9 files are byte for byte unchanged"
    );
    for name in &left {
        assert_eq!(
            super::support::column_of(&tickets.join(format!("{name}.md"))),
            "Human Review"
        );
    }
    // The store knows only the tickets it took.
    let evs = events(&s.db());
    let mut picked: Vec<String> = evs
        .iter()
        .filter(|(k, _, p)| k == "transition" && p["cause"] == "picked")
        .filter_map(|(_, i, _)| i.clone())
        .collect();
    picked.sort();
    assert_eq!(picked, left, "only the admitted tickets were picked");
    // Priority order among equals is by creation then identifier: the first three.
    assert_eq!(left, vec!["T-01", "T-02", "T-03"]);
}

#[test]
fn a_per_state_cap_limits_the_first_tick_too() {
    let s = Scratch::quickstart();
    edit_workflow(
        &s,
        "  max_concurrent: 3\n",
        "  max_concurrent: 3\n  max_concurrent_by_state:\n    implement: 1\n",
    );
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cols: Vec<String> = ["QS-1", "QS-2", "QS-3"]
        .iter()
        .map(|id| s.column(id))
        .collect();
    assert_eq!(
        cols.iter().filter(|c| *c == "Todo").count(),
        2,
        "one slot for `implement`: two tickets stay in Todo: {cols:?}"
    );
}

/// The daemon takes a waiting ticket as soon as a run frees a slot, not a poll later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_frees_its_slot_for_a_waiting_ticket_at_once() {
    use std::sync::Arc;
    use std::time::Duration;

    use karajan::orchestrator::{Engine, Options};
    use karajan::store::Store;
    use tokio_util::sync::CancellationToken;

    let s = Scratch::quickstart();
    edit_workflow(&s, "max_concurrent: 3", "max_concurrent: 1");
    edit_workflow(&s, "interval: 5s", "interval: 1h");
    let wf = karajan::workflow_load::load(&s.workflow()).unwrap_or_else(|e| panic!("{e}"));
    let tracker = karajan::tracker::from_config(&wf).unwrap();
    std::fs::create_dir_all(wf.store.path.parent().unwrap()).unwrap();
    std::fs::create_dir_all(&wf.store.logs).unwrap();
    let store = Store::open(&wf.store.path, &wf.store.checkpoints)
        .await
        .unwrap();
    let engine = Engine::new(Arc::new(wf), tracker, store);
    let shutdown = CancellationToken::new();
    let opts = Options {
        once: false,
        watch: false,
        shutdown: shutdown.clone(),
    };
    let (_handle, task) = karajan::orchestrator::spawn(engine, opts);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let all_at_gate = || {
        ["QS-1", "QS-2", "QS-3"]
            .iter()
            .all(|id| s.column(id) == "Human Review")
    };
    while !all_at_gate() {
        assert!(
            std::time::Instant::now() < deadline,
            "with one slot and an hour between polls, each finished run hands its slot on"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    task.await.unwrap().unwrap();
}
