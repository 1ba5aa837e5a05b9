//! Every node runs agents (issue 14 item 2): the lease holder queues the runs it
//! decides, every node claims them up to its own `max_concurrent`, and the cluster's
//! capacity is the live nodes' slots together. A node that dies while running an agent
//! takes the agent with it (its guard), and its run is recorded interrupted once its
//! heartbeat is a ttl old, then retried on another node.

use std::time::{Duration, Instant};

use super::e2e::{Cluster, TTL_MS, assert_clean};

/// Each node's `running` column (its heartbeat's count of the agents it runs).
async fn running(c: &Cluster) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT name, running FROM nodes ORDER BY name")
        .fetch_all(&c.pool)
        .await
        .expect("nodes")
}

/// `tickets` held tickets, n1 leading, n2 beside it, one slot each, each running one.
async fn two_busy_nodes(test: &str, tickets: usize) -> Option<Cluster> {
    let mut c = Cluster::new(test, tickets).await?;
    c.hold();
    c.lead("n1", 1).await;
    c.start("n2", 1);
    c.until("an agent on each node", Duration::from_secs(30), || async {
        !c.agents_of("n1").is_empty() && !c.agents_of("n2").is_empty()
    })
    .await;
    Some(c)
}

async fn finished(c: &Cluster) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE kind = 'run_finished'")
        .fetch_one(&c.pool)
        .await
        .expect("runs")
}

async fn interrupted(c: &Cluster) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE kind = 'run_finished' \
         AND payload::json ->> 'status' = 'interrupted'",
    )
    .fetch_one(&c.pool)
    .await
    .expect("runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_runs_agents_and_a_dead_nodes_run_is_retried_on_another() {
    let Some(mut c) = Cluster::new("cluster::runs::every_node", 3).await else {
        return;
    };
    c.hold();
    c.lead("n1", 1).await;
    c.start("n2", 1);
    c.start("n3", 1);
    // One slot per node: the three tickets run at once only if every node runs one.
    c.until(
        "one agent on each of the three nodes",
        Duration::from_secs(30),
        || async {
            ["n1", "n2", "n3"]
                .iter()
                .all(|n| !c.agents_of(n).is_empty())
        },
    )
    .await;
    c.until(
        "each node's heartbeat counting its agent",
        Duration::from_secs(10),
        || async { running(&c).await.iter().all(|(_, n)| *n == 1) },
    )
    .await;
    assert_eq!(c.spawned_runs().await, 3, "{}", c.logs());
    assert_eq!(c.holder().await.map(|(h, _)| h).as_deref(), Some("n1"));
    let life = c.life();
    let on_n2 = life
        .lines()
        .find_map(|l| l.strip_prefix("start n2 "))
        .and_then(|l| l.split_whitespace().next())
        .expect("n2 runs a ticket")
        .to_string();

    // n2 dies: its agent with it at once, its run recorded interrupted by the holder a
    // ttl after n2's last heartbeat (plus the holder's one-second check).
    c.kill("n2");
    let killed = Instant::now();
    c.until(
        "n2's agent to die with it",
        Duration::from_secs(2),
        || async { c.agents_of("n2").is_empty() },
    )
    .await;
    c.until(
        "the holder to record n2's run interrupted",
        Duration::from_millis(TTL_MS) + Duration::from_secs(5),
        || async { interrupted(&c).await == 1 },
    )
    .await;
    let lost_after = killed.elapsed();
    assert!(
        c.node_log("n1").contains("stopped answering"),
        "{}",
        c.node_log("n1")
    );
    // n2 is dead: the retry runs on n1 or n3, once their slots free up.
    c.release();
    c.until("every ticket Done", Duration::from_secs(60), || async {
        c.in_column("Done") == 3
    })
    .await;
    // The tickets ended: each live node removes its own copy of their workspaces (n2,
    // killed, keeps its one until it runs again).
    let workspaces = |n: &str| {
        std::fs::read_dir(c.node_dir(n).join(".karajan/workspaces"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("CL-"))
                    .count()
            })
            .unwrap_or(0)
    };
    c.until(
        "n1's and n3's workspaces removed",
        Duration::from_secs(15),
        || async { workspaces("n1") == 0 && workspaces("n3") == 0 },
    )
    .await;
    assert_eq!(workspaces("n2"), 1);
    c.stop_all();
    assert_clean(&c, 3, "n1");
    let life = c.life();
    let retried_on: Vec<&str> = life
        .lines()
        .filter(|l| l.starts_with("start ") && l.contains(&format!(" {on_n2} ")))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(retried_on.len(), 2, "{on_n2} ran twice:\n{life}");
    assert_eq!(retried_on[0], "n2");
    assert_ne!(retried_on[1], "n2", "retried on a live node:\n{life}");
    // The holder recorded every run the other nodes ran: one chain, one writer.
    assert_eq!(finished(&c).await, 4, "three runs and one retry");
    // Each run's evidence names its node, whose folder holds its logs (all on this one
    // host here, so `verify --logs` on n1 finds and checks every one of them).
    let mut nodes: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT payload::json ->> 'node' FROM events WHERE kind = 'run_evidence' ORDER BY 1",
    )
    .fetch_all(&c.pool)
    .await
    .expect("evidence");
    nodes.dedup();
    assert_eq!(
        nodes,
        [Some("n1".into()), Some("n3".into())],
        "n2's only run died with it"
    );
    let logs = crate::e2e::support::command()
        .args(["verify", "workflow.yaml", "--logs"])
        .current_dir(c.node_dir("n1"))
        .output()
        .expect("verify --logs");
    let out = String::from_utf8_lossy(&logs.stdout);
    assert!(
        logs.status.success() && out.contains("of 3 runs verified"),
        "{out}"
    );
    eprintln!("n2's run recorded interrupted {lost_after:?} after its kill (ttl {TTL_MS} ms)");
}

/// A node that runs an agent and is paused past a ttl (SIGSTOP): its agent's guard kills
/// the agent before the holder counts the node dead and retries the run elsewhere;
/// resumed, the node finds the run given up and reports nothing more about it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_nodes_agent_dies_before_its_run_is_retried_elsewhere() {
    use nix::sys::signal::Signal;
    let Some(mut c) = two_busy_nodes("cluster::runs::paused_node", 2).await else {
        return;
    };
    c.signal("n2", Signal::SIGSTOP);
    let paused = Instant::now();
    c.until(
        "n2's agent killed by its guard while n2 is paused",
        Duration::from_millis(TTL_MS + 1000),
        || async { c.agents_of("n2").is_empty() },
    )
    .await;
    let agent_gone = paused.elapsed();
    c.until(
        "the holder to record n2's run interrupted",
        Duration::from_millis(TTL_MS) + Duration::from_secs(5),
        || async { interrupted(&c).await == 1 },
    )
    .await;
    let recorded = paused.elapsed();
    assert!(
        agent_gone < recorded,
        "the agent died ({agent_gone:?}) before its run was given up ({recorded:?})"
    );
    c.signal("n2", Signal::SIGCONT);
    c.release();
    c.until("every ticket Done", Duration::from_secs(60), || async {
        c.in_column("Done") == 2
    })
    .await;
    c.stop_all();
    assert_clean(&c, 2, "n1");
    assert_eq!(
        finished(&c).await,
        3,
        "two runs and one retry; n2 reported nothing late"
    );
    eprintln!("paused node: agent gone after {agent_gone:?}, run given up after {recorded:?}");
}

/// A node claims only runs planned with its own workflow text: after an edit on one node
/// (here n1's prompt; its decider runs with `--no-watch`, so it keeps planning with the
/// old text), that node leaves the runs to the nodes that have the planner's text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_another_workflow_text_leaves_the_runs_to_the_others() {
    let Some(mut c) = two_busy_nodes("cluster::runs::another_workflow", 4).await else {
        return;
    };
    std::fs::write(
        c.node_dir("n1").join("prompts/work.md"),
        "Do {{ issue.title }}, differently.\n",
    )
    .expect("edit");
    c.until(
        "n1 to read its edited workflow",
        Duration::from_secs(10),
        || async { c.node_log("n1").contains("workflow changed") },
    )
    .await;
    c.release();
    c.until("every ticket Done", Duration::from_secs(60), || async {
        c.in_column("Done") == 4
    })
    .await;
    c.stop_all();
    assert_clean(&c, 4, "n1");
    let life = c.life();
    let starts: Vec<&str> = life.lines().filter(|l| l.starts_with("start ")).collect();
    assert_eq!(starts.len(), 4, "{life}");
    assert_eq!(
        starts.iter().filter(|l| l.starts_with("start n1 ")).count(),
        1,
        "n1 ran only the run it held before the edit:\n{life}"
    );
}

/// A queued run that no node claimed (here none runs the planner's workflow text) and
/// that is stopped (its ticket canceled) is taken off the queue and recorded started and
/// cancelled, as an attempt aborted before its agent: never finished without a start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_before_any_node_claimed_it_is_recorded_started_and_cancelled() {
    let Some(mut c) = Cluster::new("cluster::runs::unclaimed_stop", 0).await else {
        return;
    };
    c.lead("n1", 1).await;
    // n1's claim loop reads the edited prompt; its decider (`--no-watch`) keeps the old.
    std::fs::write(
        c.node_dir("n1").join("prompts/work.md"),
        "Do {{ issue.title }}, differently.\n",
    )
    .expect("edit");
    c.until(
        "n1's claim loop to read the edited workflow",
        Duration::from_secs(10),
        || async { c.node_log("n1").contains("workflow changed") },
    )
    .await;
    c.add_ticket(1);
    c.until("the run queued", Duration::from_secs(30), || async {
        c.node_log("n1").contains("run started ticket=CL-1")
    })
    .await;
    // The human cancels what they see in progress: karajan's own move (a task of its
    // own, which may land after the run started) would otherwise overwrite the cancel,
    // as a tracker's last writer wins.
    c.until("karajan's move landed", Duration::from_secs(30), || async {
        c.in_column("In Progress") == 1
    })
    .await;
    c.move_to("CL-1", "Canceled");
    c.until("the run stopped", Duration::from_secs(30), || async {
        finished(&c).await == 1
    })
    .await;
    let runs: Vec<(String, String)> = sqlx::query_as(
        "SELECT kind, payload FROM events WHERE kind IN ('run_started', 'run_finished') \
         ORDER BY seq",
    )
    .fetch_all(&c.pool)
    .await
    .expect("runs");
    c.stop_all();
    let kinds: Vec<&str> = runs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["run_started", "run_finished"], "{runs:?}");
    assert!(
        runs[1].1.contains("stopped before a node claimed it"),
        "{runs:?}"
    );
    assert!(c.life().is_empty(), "no agent ran: {}", c.life());
    let verify = c.verify("n1");
    assert!(verify.status.success(), "{verify:?}");
}
