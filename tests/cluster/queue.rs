//! The run queue on a real PostgreSQL store: a queued run is claimed by exactly one
//! node, only under the current term and with the planner's workflow digest; a run
//! that resumes a session goes first to the node holding it, and to another node only
//! after the wait or once that node is gone; reports are taken once, in order, and
//! only from the row's claimant; a silent claimant's runs are found lost.

use std::time::Duration;

use chrono::Utc;
use karajan::cluster::lease::{self, TRACKER};
use karajan::cluster::nodes::{self, Node};
use karajan::cluster::plan::{Report, RunPlan};
use karajan::cluster::queue;
use karajan::domain::TicketSnapshot;
use karajan::prompt::PromptContext;
use karajan::store::{EventKind, NewEvent};
use sqlx::PgPool;

use crate::pg::TestDb;

const TTL: Duration = Duration::from_secs(3);
const LONG: Duration = Duration::from_secs(600);

fn plan(ticket: &str, run_id: &str, resume: Option<&str>) -> RunPlan {
    let snapshot = TicketSnapshot {
        id: format!("id-{ticket}"),
        identifier: ticket.into(),
        title: "Title".into(),
        description: String::new(),
        url: None,
        labels: vec![],
        priority: None,
        column: "In Progress".into(),
        blocked_by: vec![],
        branch_name: None,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        recent_comments: None,
    };
    RunPlan {
        ctx: PromptContext::new(&snapshot, "work", 1, 1),
        snapshot,
        state: "work".into(),
        run_id: run_id.into(),
        run_number: 1,
        attempt: 1,
        branch: format!("karajan/{ticket}"),
        resume_session: resume.map(str::to_string),
        resume_usage: None,
        max_cost_usd: None,
        entered: true,
    }
}

async fn setup(test: &str) -> Option<(TestDb, PgPool, i64, Node, Node)> {
    let db = TestDb::create(test).await?;
    let pool = karajan::store::postgres::open_write(
        &karajan::store::PgUrl::parse(karajan::settings::Secret::new(db.url.clone())).expect("url"),
    )
    .await
    .expect("migrated");
    let term = lease::acquire(&pool, TRACKER, "n1", TTL)
        .await
        .expect("acquire")
        .expect("a term");
    let n1 = Node::this(Some("n1"), 2);
    let n2 = Node::this(Some("n2"), 2);
    for n in [&n1, &n2] {
        nodes::register(&pool, n, TTL).await.expect("register");
    }
    Some((db, pool, term, n1, n2))
}

async fn claim(pool: &PgPool, n: &Node, digest: &str, free: usize) -> Vec<String> {
    queue::claim(pool, &n.name, &n.instance, digest, free, LONG, TTL)
        .await
        .expect("claim")
        .into_iter()
        .map(|c| c.plan.run_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_claimed_once_under_its_term_and_digest() {
    let Some((_db, pool, term, n1, n2)) = setup("cluster::queue::claimed_once").await else {
        return;
    };
    for i in 1..=5 {
        queue::enqueue(
            &pool,
            term,
            "d1",
            &plan(&format!("T-{i}"), &format!("r{i}"), None),
        )
        .await
        .expect("enqueue");
    }
    queue::enqueue(&pool, term, "d2", &plan("T-9", "r9", None))
        .await
        .expect("enqueue");
    // Two nodes claim at the same time: every run once, each up to its free slots.
    let (a, b) = tokio::join!(claim(&pool, &n1, "d1", 3), claim(&pool, &n2, "d1", 3));
    assert_eq!(a.len() + b.len(), 5, "{a:?} {b:?}");
    assert!(a.len() <= 3 && b.len() <= 3);
    let mut all: Vec<String> = a.iter().chain(&b).cloned().collect();
    all.sort();
    assert_eq!(all, ["r1", "r2", "r3", "r4", "r5"], "no run claimed twice");
    // Another workflow's run waits for a node running that workflow; a node with
    // another text sees it waiting (and says so).
    assert!(claim(&pool, &n1, "d1", 5).await.is_empty());
    assert_eq!(
        queue::foreign_digests(&pool, "d1", Duration::ZERO)
            .await
            .expect("foreign"),
        [("d2".to_string(), 1)]
    );
    assert!(
        queue::foreign_digests(&pool, "d1", LONG)
            .await
            .expect("foreign")
            .is_empty(),
        "only runs that waited longer than the age"
    );
    assert_eq!(claim(&pool, &n2, "d2", 5).await, ["r9"]);
    // A run of an ended term is never claimed: its holder is gone.
    queue::enqueue(&pool, term, "d1", &plan("T-7", "r7", None))
        .await
        .expect("enqueue");
    sqlx::query("UPDATE leases SET token = token + 1")
        .execute(&pool)
        .await
        .expect("a new term");
    assert!(claim(&pool, &n1, "d1", 5).await.is_empty());
    // The new term waits for the old term's claimed rows while their nodes live, and
    // removes the unclaimed one at once.
    assert_eq!(
        queue::old_term_rows(&pool, term + 1, TTL)
            .await
            .expect("old rows"),
        6
    );
    // Their nodes stop them and remove their rows.
    for r in &a {
        queue::drop_claim(&pool, r, &n1.instance)
            .await
            .expect("drop");
    }
    for r in b.iter().chain([&"r9".to_string()]) {
        queue::drop_claim(&pool, r, &n2.instance)
            .await
            .expect("drop");
    }
    assert_eq!(
        queue::old_term_rows(&pool, term + 1, TTL)
            .await
            .expect("old rows"),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_session_goes_to_its_node_first() {
    let Some((_db, pool, term, n1, n2)) = setup("cluster::queue::session_first").await else {
        return;
    };
    queue::remember_session(&pool, "s-1", "n1")
        .await
        .expect("session");
    queue::enqueue(&pool, term, "d", &plan("T-1", "r1", Some("s-1")))
        .await
        .expect("enqueue");
    queue::enqueue(&pool, term, "d", &plan("T-2", "r2", None))
        .await
        .expect("enqueue");
    // n2 may take the run without a session, not the one n1 holds the session of.
    assert_eq!(claim(&pool, &n2, "d", 5).await, ["r2"]);
    let got = queue::claim(&pool, &n1.name, &n1.instance, "d", 5, LONG, TTL)
        .await
        .expect("claim");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].plan.run_id, "r1");
    assert_eq!(got[0].session_node.as_deref(), Some("n1"));

    // The session's node is silent (a ttl without a heartbeat): another node takes it,
    // told whose session it was.
    queue::enqueue(&pool, term, "d", &plan("T-3", "r3", Some("s-1")))
        .await
        .expect("enqueue");
    assert!(claim(&pool, &n2, "d", 5).await.is_empty());
    sqlx::query("UPDATE nodes SET heartbeat_at = now() - interval '1 hour' WHERE name = 'n1'")
        .execute(&pool)
        .await
        .expect("n1 silent");
    let got = queue::claim(&pool, &n2.name, &n2.instance, "d", 5, LONG, TTL)
        .await
        .expect("claim");
    assert_eq!(got[0].plan.run_id, "r3");
    assert_eq!(got[0].session_node.as_deref(), Some("n1"));

    // Or its node is alive but busy: after the wait, anyone.
    sqlx::query("UPDATE nodes SET heartbeat_at = now() WHERE name = 'n1'")
        .execute(&pool)
        .await
        .expect("n1 back");
    queue::enqueue(&pool, term, "d", &plan("T-4", "r4", Some("s-1")))
        .await
        .expect("enqueue");
    let waited = queue::claim(&pool, &n2.name, &n2.instance, "d", 5, Duration::ZERO, TTL)
        .await
        .expect("claim");
    assert_eq!(waited.len(), 1, "after the wait another node takes it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_come_once_in_order_from_the_claimant_only() {
    let Some((_db, pool, term, n1, n2)) = setup("cluster::queue::reports").await else {
        return;
    };
    queue::enqueue(&pool, term, "d", &plan("T-1", "r1", None))
        .await
        .expect("enqueue");
    assert_eq!(claim(&pool, &n1, "d", 1).await, ["r1"]);
    let batch = |n: u32| {
        Report::Events(vec![
            NewEvent::for_issue(
                "T-1",
                EventKind::RunSpawned {
                    run_id: "r1".into(),
                    pid: n,
                },
            )
            .into(),
        ])
    };
    for n in 1..=3 {
        assert!(
            queue::report(&pool, "r1", &n1.instance, &batch(n))
                .await
                .expect("report")
        );
    }
    assert!(
        !queue::report(&pool, "r1", &n2.instance, &batch(9))
            .await
            .expect("report"),
        "a node that did not claim the run cannot report on it"
    );
    let taken = queue::take_reports(&pool, 100).await.expect("take");
    let pids: Vec<u32> = taken
        .iter()
        .map(|(_, r)| match r {
            Report::Events(e) => match &e[0].kind {
                EventKind::RunSpawned { pid, .. } => *pid,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(pids, [1, 2, 3]);
    assert!(
        queue::take_reports(&pool, 100)
            .await
            .expect("take")
            .is_empty()
    );

    // n1 falls silent: its run is lost; n2's fresh heartbeat keeps its own.
    queue::enqueue(&pool, term, "d", &plan("T-2", "r2", None))
        .await
        .expect("enqueue");
    assert_eq!(claim(&pool, &n2, "d", 1).await, ["r2"]);
    assert!(
        queue::lost_claims(&pool, term, TTL)
            .await
            .expect("lost")
            .is_empty()
    );
    sqlx::query("UPDATE nodes SET heartbeat_at = now() - interval '1 hour' WHERE name = 'n1'")
        .execute(&pool)
        .await
        .expect("n1 silent");
    assert_eq!(
        queue::lost_claims(&pool, term, TTL).await.expect("lost"),
        [("r1".to_string(), "n1".to_string())]
    );
    assert_eq!(queue::capacity(&pool, TTL).await.expect("capacity"), 2);
    // Once the holder gave the run up, its old claimant's reports are refused.
    queue::remove(&pool, "r1").await.expect("remove");
    assert!(
        !queue::report(&pool, "r1", &n1.instance, &batch(4))
            .await
            .expect("report")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_takes_an_unclaimed_run_off_the_queue_and_asks_a_claimant_to_stop() {
    let Some((_db, pool, term, n1, _n2)) = setup("cluster::queue::stop").await else {
        return;
    };
    queue::enqueue(&pool, term, "d", &plan("T-1", "r1", None))
        .await
        .expect("enqueue");
    queue::enqueue(&pool, term, "d", &plan("T-2", "r2", None))
        .await
        .expect("enqueue");
    assert!(
        queue::cancel(&pool, "r1", "moved away")
            .await
            .expect("cancel"),
        "nobody claimed it: it is gone"
    );
    assert_eq!(claim(&pool, &n1, "d", 5).await, ["r2"]);
    assert!(
        !queue::cancel(&pool, "r2", "moved away")
            .await
            .expect("cancel"),
        "claimed: its node is asked to stop it"
    );
    let w = queue::watch(&pool, &n1.instance).await.expect("watch");
    assert_eq!(w.token, term);
    assert_eq!(
        w.rows,
        [("r2".to_string(), term, Some("moved away".to_string()))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_run_wakes_the_waiting_nodes() {
    let Some((_db, pool, term, _n1, _n2)) = setup("cluster::queue::wakes").await else {
        return;
    };
    let mut wake = karajan::cluster::wake::Wake::listen(&pool).await;
    let queued = {
        let pool = pool.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            queue::enqueue(&pool, term, "d", &plan("T-1", "r1", None))
                .await
                .expect("enqueue");
        })
    };
    let waited = std::time::Instant::now();
    wake.wait(Duration::from_secs(30)).await;
    let waited = waited.elapsed();
    queued.await.expect("queued");
    assert!(
        waited < Duration::from_secs(10),
        "woken by the queue's notification, not the 30 s fallback: {waited:?}"
    );
}
