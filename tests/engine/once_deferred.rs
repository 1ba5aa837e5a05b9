//! `run --once` runs what its tick decided, including a decision the tick had to defer
//! because the ticket's write was still out: a restart after a crash drains the writes
//! the crashed daemon still owed, and a ticket whose owed write was still out when the
//! tick's read answered is decided when that write ends. Found by CI (the e2e orphan
//! test, under load): its retry was decided after the tick had ended, when `--once`
//! starts nothing new, so it was left for the next run.

use std::time::Duration;

use karajan::orchestrator::Options;
use tokio_util::sync::CancellationToken;

use super::owner::engine_on;
use crate::e2e::support::Scratch;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// How many agents started for `ticket` (each notes its start).
fn starts(s: &Scratch, ticket: &str) -> usize {
    std::fs::read_to_string(s.path().join("starts").join(ticket))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn once_runs_a_retry_it_deferred_behind_an_owed_write() {
    let s = Scratch::quickstart();
    let root = s.path().display().to_string();
    std::fs::create_dir_all(s.path().join("starts")).unwrap();
    // Each agent notes its start; it runs until stopped unless `fast` exists.
    s.script(
        "agent.sh",
        &format!(
            "#!/bin/sh\necho start >> '{root}/starts/'\"$KARAJAN_ISSUE\"\ncat > /dev/null\n\
             if [ -e '{root}/fast' ]; then exit 0; fi\nexec sleep 1000\n"
        ),
    );

    // A daemon whose writes to QS-1 never answer: QS-1's pick-up move and comment stay
    // owed while its agent runs. Then it dies (its runtime dropped: nothing more is
    // recorded, as after a SIGKILL).
    let crashed = runtime();
    crashed.block_on(async {
        let (engine, slow) = engine_on(&s, Duration::ZERO).await;
        slow.hang.lock().unwrap().insert("QS-1".into());
        let opts = Options {
            once: false,
            watch: false,
            shutdown: CancellationToken::new(),
        };
        let (_handle, _task) = karajan::orchestrator::spawn(engine, opts);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while ["QS-1", "QS-2", "QS-3"].iter().any(|t| starts(&s, t) == 0) {
            assert!(tokio::time::Instant::now() < deadline, "the agents started");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    drop(crashed);

    // `--once` after it: the interrupted runs are retried at once; QS-1's owed writes
    // are drained first and take 300 ms, longer than the tick's read.
    std::fs::write(s.path().join("fast"), "").unwrap();
    runtime().block_on(async {
        let (engine, _slow) = engine_on(&s, Duration::from_millis(300)).await;
        let opts = Options {
            once: true,
            watch: false,
            shutdown: CancellationToken::new(),
        };
        let (_handle, task) = karajan::orchestrator::spawn(engine, opts);
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("--once ends")
            .unwrap()
            .unwrap();
    });
    // (QS-2's and QS-3's pick-up writes may have been owed too: the crash came as soon
    // as their agents started.)
    let all: Vec<usize> = ["QS-1", "QS-2", "QS-3"]
        .iter()
        .map(|t| starts(&s, t))
        .collect();
    assert_eq!(
        all,
        vec![2, 2, 2],
        "each ticket: the interrupted run and its retry, once its owed writes ended"
    );
}
