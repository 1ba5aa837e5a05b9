//! The real binary as a cluster: several `karajan run --node` processes on one
//! PostgreSQL database, the local tracker shared between them, fake agents that log
//! their lives (and any overlap) to one shared file.
//!
//! - a SIGKILLed lease holder: its agents die with it (within a second or two), a
//!   standby takes the lease within the documented bound, every ticket ends Done, no
//!   ticket ever has two live agents, no tracker write is made twice, `verify` passes;
//! - a paused holder (SIGSTOP past its lease, then SIGCONT): its agents are stopped
//!   while it is paused, it cannot write, and it goes back to standby;
//! - three nodes draining 30 tickets while the holder and then another node are
//!   killed and restarted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::e2e::support::{command, copy_tree, processes_with_env, repo_root};
use crate::pg::TestDb;

/// The lease ttl the tests run with: failover within `TTL + TTL / 3`.
pub const TTL_MS: u64 = 3000;

/// What a failover measured from the kill may take beyond the bound (which counts from
/// the holder's last renewal, at or before the kill): the database's round trips and
/// this test's 50 ms polling, on a loaded machine.
const SLACK: Duration = Duration::from_secs(1);

fn bound() -> Duration {
    Duration::from_millis(TTL_MS + TTL_MS / 3)
}

pub struct Cluster {
    pub root: tempfile::TempDir,
    pub db: TestDb,
    pub pool: PgPool,
    nodes: BTreeMap<String, Child>,
    /// The agent states, forge and agent body every node's folder is written with.
    pub flavor: Flavor,
}

/// What the nodes run: the default is one agent state (`work`) with no forge, and an
/// agent that waits while `hold` exists.
pub struct Flavor {
    /// YAML from `states:` on, and anything after it.
    pub states: String,
    /// The agent script after its overlap check and `start` line (`{name}`, the node
    /// running it, and `{root}` are replaced); it must log `end …` itself.
    pub body: String,
    /// Push each ticket's branch after each successful run (`forge: { kind: git }`).
    pub forge: bool,
    /// More `runners:` entries (YAML, indented by two) beside `fake`.
    pub runners: String,
    /// More `columns:` lines (YAML, indented by two).
    pub columns: String,
}

impl Default for Flavor {
    fn default() -> Flavor {
        Flavor {
            states: "states:\n  work:\n    kind: agent\n    runner: fake\n    prompt: prompts/work.md\n    next: done\n".into(),
            body: r#"while [ -e "{root}/hold" ]; do sleep 0.1; done
sleep 0.3
echo "end {name} $KARAJAN_ISSUE $KARAJAN_RUN_ID $(date +%s%N)" >> "$log"
"#
            .into(),
            forge: false,
            runners: String::new(),
            columns: String::new(),
        }
    }
}

impl Cluster {
    /// A database, a tracker with `tickets` tickets in Todo, a bare repository.
    pub async fn new(test: &str, tickets: usize) -> Option<Cluster> {
        let db = TestDb::create(test).await?;
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("tickets");
        std::fs::create_dir_all(&dir).expect("tickets");
        for i in 1..=tickets {
            add_ticket(&dir, i);
        }
        copy_tree(
            &repo_root().join("examples/quickstart/demo-repo.git"),
            &root.path().join("repo.git"),
        );
        let pool = PgPool::connect(&db.url).await.expect("pool");
        Some(Cluster {
            root,
            db,
            pool,
            nodes: BTreeMap::new(),
            flavor: Flavor::default(),
        })
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn node_dir(&self, name: &str) -> PathBuf {
        self.root().join(name)
    }

    /// A new ticket `CL-<i>` in Todo.
    pub fn add_ticket(&self, i: usize) {
        add_ticket(&self.root().join("tickets"), i);
    }

    /// Move `ticket` to `column` in the local tracker (a human's move).
    pub fn move_to(&self, ticket: &str, column: &str) {
        let path = self.root().join("tickets").join(format!("{ticket}.md"));
        let text = std::fs::read_to_string(&path).expect("ticket");
        let moved: String = text
            .lines()
            .map(|l| {
                if l.starts_with("state: ") {
                    format!("state: {column}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(&path, moved).expect("move");
    }

    /// Agents wait (the default agent body) until [`Cluster::release`].
    pub fn hold(&self) {
        std::fs::write(self.root().join("hold"), "").expect("hold");
    }

    pub fn release(&self) {
        std::fs::remove_file(self.root().join("hold")).expect("release the agents");
    }

    /// Start node `name` alone and wait until it holds the tracker lease.
    pub async fn lead(&mut self, name: &str, slots: usize) {
        self.start(name, slots);
        self.until(
            &format!("{name} holds the lease"),
            Duration::from_secs(30),
            || async { self.holder().await.is_some_and(|(h, _)| h == name) },
        )
        .await;
    }

    /// The agents' shared log: `start|end NODE TICKET RUN NANOS`, `OVERLAP …`.
    pub fn life(&self) -> String {
        std::fs::read_to_string(self.root().join("life.log")).unwrap_or_default()
    }

    /// Write node `name`'s folder (its workflow and prompt, the same text on every node,
    /// so every node runs the runs any node plans) if new, and start it. The agent is one
    /// script for all nodes; it knows its node from its log folder (`{root}/NODE/…`).
    pub fn start(&mut self, name: &str, slots: usize) {
        let dir = self.node_dir(name);
        let root = self.root().display().to_string();
        let agent = self.root().join("agent.sh");
        if !agent.exists() {
            // Overlap: the ticket's lock file names the agent that took it last; it must
            // not be alive when the next one starts.
            std::fs::write(
                &agent,
                format!(
                    r#"#!/bin/sh
cat > /dev/null
node=$(echo "$KARAJAN_LOG_DIR" | sed "s|^{root}/||; s|/.*||")
log="{root}/life.log"
lock="{root}/$KARAJAN_ISSUE.pid"
# The lock names the ticket's last agent by pid and start time (a pid alone may have
# been reused). Alive: that very process, neither a zombie (a paused node cannot reap
# its killed agents) nor dead and being reaped right now (state X).
if [ -e "$lock" ]; then
  read holder hstart < "$lock"
  stat=$(sed 's/.*) //' "/proc/$holder/stat" 2>/dev/null)
  state=$(echo "$stat" | cut -d' ' -f1)
  start=$(echo "$stat" | cut -d' ' -f20)
  if [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ] && [ "$state" != x ] && [ "$start" = "$hstart" ]; then
    echo "OVERLAP $node $KARAJAN_ISSUE $holder" >> "$log"
  fi
fi
echo "$$ $(sed 's/.*) //' /proc/$$/stat | cut -d' ' -f20)" > "$lock"
echo "start $node $KARAJAN_ISSUE $KARAJAN_RUN_ID $(date +%s%N)" >> "$log"
{body}"#,
                    body = self
                        .flavor
                        .body
                        .replace("{name}", "$node")
                        .replace("{root}", &root),
                ),
            )
            .expect("agent");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        if !dir.exists() {
            std::fs::create_dir_all(dir.join("prompts")).expect("node dir");
            std::fs::write(dir.join("prompts/work.md"), "Do {{ issue.title }}.\n").expect("prompt");
            std::fs::write(
                dir.join("workflow.yaml"),
                format!(
                    r#"tracker:
  kind: local
  dir: {root}/tickets
columns:
  todo: Todo
  active: In Progress
  done: Done
  terminal: [Canceled]
{columns}polling:
  interval: 1s
workspace:
  root: ./.karajan/workspaces
  repo: {root}/repo.git
  branch: "karajan/{{{{ issue.identifier }}}}"
{forge}runners:
  fake:
    kind: command
    command: ["{agent}"]
{runners}agent:
  max_concurrent: {slots}
  max_retry_backoff: 1s
  max_attempts: 5
  stall_timeout: 2m
  turn_timeout: 10m
  kill_grace: 1s
{states}  done:
    kind: terminal
  canceled:
    kind: terminal
    column: Canceled
store:
  url: {url}
  cluster: true
  lease_ttl: {TTL_MS}ms
"#,
                    agent = agent.display(),
                    url = self.db.url,
                    states = self.flavor.states,
                    runners = self.flavor.runners,
                    columns = self.flavor.columns,
                    forge = if self.flavor.forge {
                        "forge: { kind: git }\n"
                    } else {
                        ""
                    },
                ),
            )
            .expect("workflow");
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("node.log"))
            .expect("log");
        let child = command()
            .args([
                "run",
                "workflow.yaml",
                "--no-watch",
                "--port",
                "0",
                "--node",
                name,
            ])
            .current_dir(&dir)
            // `CLUSTER_LOG=karajan=debug` shows each node's decisions when a test fails.
            .env(
                "KARAJAN_LOG",
                std::env::var("CLUSTER_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("node starts");
        self.nodes.insert(name.to_string(), child);
    }

    pub fn node_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.node_dir(name).join("node.log")).unwrap_or_default()
    }

    pub fn logs(&self) -> String {
        self.nodes
            .keys()
            .map(|n| format!("--- {n} ---\n{}", self.node_log(n)))
            .collect()
    }

    pub fn pid(&self, name: &str) -> i32 {
        i32::try_from(self.nodes[name].id()).expect("pid")
    }

    pub fn signal(&self, name: &str, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid(name)), sig).expect("signal");
    }

    /// SIGKILL node `name` and reap it.
    pub fn kill(&mut self, name: &str) {
        let mut child = self.nodes.remove(name).expect("a running node");
        child.kill().expect("kill");
        child.wait().expect("reap");
        // Kept for its log.
        self.nodes.insert(name.to_string(), child);
    }

    /// SIGTERM every node and wait for each.
    pub fn stop_all(&mut self) {
        for child in self.nodes.values_mut() {
            if child.try_wait().ok().flatten().is_none() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(0)),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
        }
        for child in self.nodes.values_mut() {
            let _ = child.wait();
        }
    }

    /// The node's agents still alive (their environment names its log folder).
    pub fn agents_of(&self, name: &str) -> Vec<u32> {
        processes_with_env(&format!(
            "KARAJAN_LOG_DIR={}",
            self.node_dir(name).display()
        ))
    }

    /// The live holder of the tracker lease, with its token.
    pub async fn holder(&self) -> Option<(String, i64)> {
        sqlx::query_as(
            "SELECT holder, token FROM leases WHERE name = 'tracker' AND expires_at > now() \
             AND holder IS NOT NULL",
        )
        .fetch_optional(&self.pool)
        .await
        .ok()
        .flatten()
    }

    /// Wait (up to `limit`) for `f`; panics with the nodes' logs.
    pub async fn until<F, Fut>(&self, what: &str, limit: Duration, mut f: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = Instant::now();
        while !f().await {
            assert!(
                start.elapsed() < limit,
                "timed out waiting for {what}\n{}\nlife:\n{}\ntickets:\n{}",
                self.logs(),
                self.life(),
                self.tickets_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The ticket files (a node killed mid-write may leave a hidden temporary file).
    fn ticket_files(&self) -> Vec<std::fs::DirEntry> {
        std::fs::read_dir(self.root().join("tickets"))
            .expect("tickets")
            .flatten()
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                !name.starts_with('.') && name.ends_with(".md")
            })
            .collect()
    }

    /// Every ticket file's text, for a failure's message.
    fn tickets_text(&self) -> String {
        self.ticket_files()
            .iter()
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// How many tickets are in `column` in the tracker.
    pub fn in_column(&self, column: &str) -> usize {
        self.ticket_files()
            .into_iter()
            .filter(|e| {
                std::fs::read_to_string(e.path())
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l.trim() == format!("state: {column}"))
            })
            .count()
    }

    pub async fn spawned_runs(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE kind = 'run_spawned'")
            .fetch_one(&self.pool)
            .await
            .unwrap_or(0)
    }

    /// Every karajan marker's intent in the tickets' comments, by ticket: a write made
    /// twice shows its intent twice.
    pub fn duplicate_writes(&self) -> Vec<String> {
        let mut dups = vec![];
        for e in self.ticket_files() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let mut seen = BTreeSet::new();
            for (i, _) in text.match_indices("\"intent\":\"") {
                let rest = &text[i + 10..];
                let id = &rest[..rest.find('"').unwrap_or(0)];
                if !seen.insert(id.to_string()) {
                    dups.push(format!("{}: {id}", e.path().display()));
                }
            }
        }
        dups
    }

    /// The `killed` flag of every `run_orphaned` event: whether the new holder's recovery
    /// found an agent of the old holder still alive and had to kill it.
    pub async fn orphans_killed(&self) -> Vec<bool> {
        sqlx::query_scalar(
            "SELECT CAST(payload::json ->> 'killed' AS boolean) FROM events \
             WHERE kind = 'run_orphaned' ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await
        .expect("orphans")
    }

    /// `karajan verify` in node `name`'s folder.
    pub fn verify(&self, name: &str) -> std::process::Output {
        command()
            .args(["verify", "workflow.yaml"])
            .current_dir(self.node_dir(name))
            .output()
            .expect("verify runs")
    }
}

fn add_ticket(dir: &Path, i: usize) {
    std::fs::write(
        dir.join(format!("CL-{i}.md")),
        format!(
            "---\nid: CL-{i}\ntitle: Cluster ticket {i}\nstate: Todo\npriority: 2\n\
             created_at: 2026-11-01T09:00:00Z\n---\nDo thing {i}.\n"
        ),
    )
    .expect("ticket");
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.nodes.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Per ticket, its runs' (start, end) nanos from the agents' log; an agent killed
/// before it ended has no end.
fn runs_by_ticket(life: &str) -> BTreeMap<String, Vec<(u128, Option<u128>)>> {
    let mut starts: BTreeMap<String, (String, u128)> = BTreeMap::new();
    let mut out: BTreeMap<String, Vec<(u128, Option<u128>)>> = BTreeMap::new();
    for line in life.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 5 {
            continue;
        }
        let at: u128 = f[4].parse().unwrap_or(0);
        match f[0] {
            "start" => {
                starts.insert(f[3].to_string(), (f[2].to_string(), at));
            }
            "end" => {
                if let Some((ticket, s)) = starts.remove(f[3]) {
                    out.entry(ticket).or_default().push((s, Some(at)));
                }
            }
            _ => {}
        }
    }
    for (ticket, s) in starts.into_values() {
        out.entry(ticket).or_default().push((s, None));
    }
    out
}

/// The checks every scenario ends with.
pub fn assert_clean(c: &Cluster, tickets: usize, verify_on: &str) {
    let life = c.life();
    assert!(
        !life.contains("OVERLAP"),
        "two live agents on one ticket:\n{life}\n{}",
        c.logs()
    );
    // Runs that ended must not overlap another run of their ticket.
    for (ticket, mut runs) in runs_by_ticket(&life) {
        runs.sort();
        for pair in runs.windows(2) {
            if let (s1, Some(e1)) = pair[0] {
                assert!(
                    pair[1].0 >= e1 || pair[1].0 < s1,
                    "{ticket} overlaps:\n{life}"
                );
            }
        }
    }
    assert_eq!(
        c.in_column("Done"),
        tickets,
        "every ticket Done\n{}",
        c.logs()
    );
    let dups = c.duplicate_writes();
    assert!(dups.is_empty(), "tracker writes made twice: {dups:?}");
    let verify = c.verify(verify_on);
    assert!(
        verify.status.success(),
        "verify:\n{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holders_agents_die_with_it_and_a_standby_takes_over_in_bound() {
    let Some(mut c) = Cluster::new("cluster::e2e::a_killed_holder", 4).await else {
        return;
    };
    c.hold();
    c.lead("n1", 4).await;
    // Every node runs agents: n2 starts once n1 runs all four.
    c.until(
        "four agents running on n1",
        Duration::from_secs(30),
        || async { c.spawned_runs().await >= 4 && c.agents_of("n1").len() >= 4 },
    )
    .await;
    c.start("n2", 4);
    c.until("n2 in standby", Duration::from_secs(10), || async {
        c.node_log("n2").contains("standby")
    })
    .await;
    c.kill("n1");
    let killed = Instant::now();
    c.until(
        "n1's agents to die with it",
        Duration::from_secs(2),
        || async { c.agents_of("n1").is_empty() },
    )
    .await;
    c.until(
        "n2 to take the lease",
        bound() + Duration::from_secs(3),
        || async { c.holder().await.is_some_and(|(h, _)| h == "n2") },
    )
    .await;
    let failover = killed.elapsed();
    c.until("n2's recovery", Duration::from_secs(15), || async {
        c.orphans_killed().await.len() >= 4
    })
    .await;
    assert_eq!(
        c.orphans_killed().await,
        [false; 4],
        "n1's agents were dead before n2's recovery looked"
    );
    // The new holder's dashboard and JSON API show the nodes.
    c.until("n2's dashboard", Duration::from_secs(10), || async {
        c.node_dir("n2").join(".karajan/dashboard.addr").is_file()
    })
    .await;
    let dir = c.node_dir("n2").join(".karajan");
    let addr = std::fs::read_to_string(dir.join("dashboard.addr")).expect("addr");
    let token = std::fs::read_to_string(dir.join("dashboard.token")).expect("token");
    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("http://{}{path}", addr.trim()))
            .bearer_auth(token.trim())
            .send()
    };
    let state: serde_json::Value = get("/api/v1/state")
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    let nodes = state["nodes"].as_array().expect("nodes in the state");
    let names: Vec<(&str, bool)> = nodes
        .iter()
        .map(|n| (n["name"].as_str().unwrap_or("?"), n["leader"] == true))
        .collect();
    assert_eq!(names, [("n1", false), ("n2", true)], "{state}");
    let page = get("/").await.expect("page").text().await.expect("text");
    assert!(
        page.contains("<h2>Nodes</h2>") && page.contains("lease holder"),
        "{page}"
    );
    // The documented bound from the holder's last renewal, plus the poll of this test.
    assert!(failover <= bound() + SLACK, "{failover:?}");
    c.release();
    c.until("every ticket Done", Duration::from_secs(60), || async {
        c.in_column("Done") == 4
    })
    .await;
    c.stop_all();
    assert_clean(&c, 4, "n2");
    let life = c.life();
    for i in 1..=4 {
        let n2 = life
            .lines()
            .filter(|l| l.starts_with(&format!("start n2 CL-{i} ")))
            .count();
        assert_eq!(n2, 1, "CL-{i} retried once on n2:\n{life}");
    }
    eprintln!("failover took {failover:?} (bound {:?})", bound());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_paused_past_its_lease_loses_its_agents_and_cannot_write() {
    use nix::sys::signal::Signal;
    let Some(mut c) = Cluster::new("cluster::e2e::a_paused_holder", 3).await else {
        return;
    };
    c.hold();
    c.lead("n1", 3).await;
    c.until(
        "three agents running on n1",
        Duration::from_secs(30),
        || async { c.spawned_runs().await >= 3 && c.agents_of("n1").len() >= 3 },
    )
    .await;
    c.start("n2", 3);
    c.until("n2 in standby", Duration::from_secs(10), || async {
        c.node_log("n2").contains("standby")
    })
    .await;
    c.signal("n1", Signal::SIGSTOP);
    let paused = Instant::now();
    // The paused node's agents are killed by their guards when its term runs out,
    // before another node can take the lease.
    c.until(
        "n1's agents stopped while it is paused",
        Duration::from_millis(TTL_MS + 1000),
        || async { c.agents_of("n1").is_empty() },
    )
    .await;
    let agents_gone = paused.elapsed();
    c.until(
        "n2 to take the lease",
        bound() + Duration::from_secs(3),
        || async { c.holder().await.is_some_and(|(h, _)| h == "n2") },
    )
    .await;
    let taken = paused.elapsed();
    // On one host the new holder's recovery could kill them too; it found none alive:
    // their guards had killed them while n1 was still frozen, before the lease moved.
    c.until("n2's recovery", Duration::from_secs(15), || async {
        c.orphans_killed().await.len() >= 3
    })
    .await;
    assert_eq!(c.orphans_killed().await, [false; 3], "{}", c.logs());
    // That n2's agents never ran beside n1's is checked by the agents themselves (an
    // OVERLAP line when the ticket's previous agent is still alive; see `assert_clean`).
    c.until(
        "n2 retries the three tickets",
        Duration::from_secs(30),
        || async { c.life().matches("start n2 ").count() >= 3 },
    )
    .await;
    c.signal("n1", Signal::SIGCONT);
    c.until(
        "n1 to find its lease lost and go back to standby",
        Duration::from_secs(15),
        || async { c.node_log("n1").contains("back to standby") },
    )
    .await;
    let n1 = c.node_log("n1");
    assert!(n1.contains("tracker lease lost"), "{n1}");
    assert!(c.agents_of("n1").is_empty());
    c.release();
    c.until("every ticket Done", Duration::from_secs(60), || async {
        c.in_column("Done") == 3
    })
    .await;
    c.stop_all();
    assert_clean(&c, 3, "n2");
    // n1 wrote nothing after its pause: each of its runs was finished once, by n2.
    let finished: Vec<(String, i64)> = sqlx::query_as(
        "SELECT payload::json ->> 'run_id', count(*) FROM events WHERE kind = 'run_finished' \
         GROUP BY 1",
    )
    .fetch_all(&c.pool)
    .await
    .expect("runs");
    for (run, n) in &finished {
        assert_eq!(*n, 1, "run {run} finished {n} times");
    }
    let holders: Vec<(String, i64)> = sqlx::query_as(
        "SELECT payload::json ->> 'status', count(*) FROM events WHERE kind = 'run_finished' \
         GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&c.pool)
    .await
    .expect("statuses");
    assert!(
        holders.iter().any(|(s, n)| s == "interrupted" && *n == 3),
        "n1's three runs were recorded interrupted by n2: {holders:?}"
    );
    eprintln!("paused: agents gone after {agents_gone:?}, lease taken after {taken:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_drain_thirty_tickets_across_two_kills_and_restarts() {
    const TICKETS: usize = 30;
    let Some(mut c) = Cluster::new("cluster::e2e::three_nodes", TICKETS).await else {
        return;
    };
    for n in ["n1", "n2", "n3"] {
        c.start(n, 3);
    }
    c.until("a lease holder", Duration::from_secs(30), || async {
        c.holder().await.is_some()
    })
    .await;
    c.until("a few tickets done", Duration::from_secs(60), || async {
        c.in_column("Done") >= 5
    })
    .await;
    let mut failovers = vec![];
    // Round 0 kills the lease holder; round 1 a node that is not (every node runs
    // agents: its runs are retried on the others, and the lease stays where it is).
    for round in 0..2 {
        let holder = c.holder().await.map(|(h, _)| h).expect("a holder");
        let victim = if round == 0 {
            holder.clone()
        } else {
            let mut other = None;
            c.until(
                "another node running agents",
                Duration::from_secs(30),
                || {
                    let found = ["n1", "n2", "n3"]
                        .into_iter()
                        .find(|n| *n != holder && !c.agents_of(n).is_empty());
                    other = found.map(str::to_string);
                    async move { found.is_some() }
                },
            )
            .await;
            other.expect("a node")
        };
        c.kill(&victim);
        let killed = Instant::now();
        assert!(
            c.in_column("Done") < TICKETS,
            "round {round}: killed mid-drain"
        );
        c.until(
            "its agents to die with it",
            Duration::from_secs(2),
            || async { c.agents_of(&victim).is_empty() },
        )
        .await;
        if victim == holder {
            c.until(
                "another node to take the lease",
                bound() + Duration::from_secs(3),
                || async { c.holder().await.is_some_and(|(h, _)| h != victim) },
            )
            .await;
            failovers.push(killed.elapsed());
        } else {
            assert_eq!(
                c.holder().await.map(|(h, _)| h),
                Some(holder.clone()),
                "the lease stays with its holder"
            );
        }
        c.start(&victim, 3);
        let target = c.in_column("Done") + 6;
        c.until("more tickets done", Duration::from_secs(90), || async {
            c.in_column("Done") >= target.min(TICKETS)
        })
        .await;
    }
    c.until("every ticket Done", Duration::from_secs(120), || async {
        c.in_column("Done") == TICKETS
    })
    .await;
    // `status` shows the three nodes, one of them the lease holder.
    let status = command()
        .args(["status", "workflow.yaml", "--json"])
        .current_dir(c.node_dir("n3"))
        .output()
        .expect("status");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    let nodes = json["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3, "{json}");
    assert_eq!(
        nodes.iter().filter(|n| n["leader"] == true).count(),
        1,
        "{nodes:?}"
    );
    assert!(nodes.iter().all(|n| n["slots"] == 3), "{nodes:?}");
    let text = command()
        .args(["status", "workflow.yaml"])
        .current_dir(c.node_dir("n1"))
        .output()
        .expect("status");
    assert!(String::from_utf8_lossy(&text.stdout).contains("lease holder"));
    let last = c.holder().await.map(|(h, _)| h).expect("a holder");
    c.stop_all();
    assert_clean(&c, TICKETS, &last);
    for f in &failovers {
        assert!(*f <= bound() + SLACK, "{failovers:?}");
    }
    let life = c.life();
    let per_node: BTreeMap<&str, usize> = life
        .lines()
        .filter_map(|l| l.strip_prefix("start "))
        .filter_map(|l| l.split_whitespace().next())
        .fold(BTreeMap::new(), |mut m, n| {
            *m.entry(n).or_default() += 1;
            m
        });
    eprintln!(
        "failovers: {failovers:?} (bound {:?}); runs started per node: {per_node:?}",
        bound()
    );
}

/// Two nodes take turns on one ticket through three agent states, each state's run
/// killed once with its node: the node taking over clones fresh (n2), or reuses the
/// workspace of its earlier term (n1), and either way goes on from the branch as last
/// pushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_taken_over_by_another_node_goes_on_from_its_pushed_branch() {
    let Some(mut c) = Cluster::new("cluster::e2e::pushed_branch", 1).await else {
        return;
    };
    let state = |name: &str, next: &str| {
        format!(
            "  {name}:\n    kind: agent\n    runner: fake\n    prompt: prompts/work.md\n    next: {next}\n"
        )
    };
    c.flavor = Flavor {
        states: format!(
            "states:\n{}{}{}",
            state("first", "second"),
            state("second", "third"),
            state("third", "done")
        ),
        // Each state logs what it finds of the earlier states' files, waits while its
        // hold file exists, then commits its own.
        body: r#"echo "$KARAJAN_STATE {name} saw $(cat first.txt second.txt 2>/dev/null | tr '\n' ' ')" >> "$log"
while [ -e "{root}/hold-$KARAJAN_STATE" ]; do sleep 0.1; done
echo "$KARAJAN_STATE by {name}" > "$KARAJAN_STATE.txt"
git add -A && git -c user.name=t -c user.email=t@t.invalid commit -q -m "$KARAJAN_STATE by {name}"
echo "end {name} $KARAJAN_ISSUE $KARAJAN_RUN_ID $(date +%s%N)" >> "$log"
"#
        .into(),
        forge: true,
        ..Flavor::default()
    };
    for hold in ["hold-second", "hold-third"] {
        std::fs::write(c.root().join(hold), "").expect("hold");
    }
    c.start("n1", 2);
    c.until(
        "n1 in the second state",
        Duration::from_secs(60),
        || async { c.life().contains("second n1 saw first by n1") },
    )
    .await;
    c.start("n2", 2);
    c.kill("n1");
    c.until(
        "n2 in the second state, on a fresh clone",
        Duration::from_secs(30),
        || async { c.life().contains("second n2 saw") },
    )
    .await;
    // n1 comes back once n2 runs the third state (any live node may claim a run).
    std::fs::remove_file(c.root().join("hold-second")).expect("release");
    c.until("n2 in the third state", Duration::from_secs(30), || async {
        c.life().contains("third n2 saw")
    })
    .await;
    c.start("n1", 2);
    c.until("n1 in standby", Duration::from_secs(10), || async {
        c.node_log("n1").matches("standby").count() >= 1
    })
    .await;
    c.kill("n2");
    c.until(
        "n1 in the third state, in its old workspace",
        Duration::from_secs(30),
        || async { c.life().contains("third n1 saw") },
    )
    .await;
    std::fs::remove_file(c.root().join("hold-third")).expect("release");
    c.until("the ticket Done", Duration::from_secs(60), || async {
        c.in_column("Done") == 1
    })
    .await;
    c.stop_all();
    let life = c.life();
    assert!(life.contains("second n2 saw first by n1 \n"), "{life}");
    assert!(
        life.contains("third n1 saw first by n1 second by n2 \n"),
        "n1's workspace from its first term caught up with what n2 pushed:\n{life}"
    );
    assert_clean(&c, 1, "n1");
    let log = std::process::Command::new("git")
        .args(["log", "--format=%s", "karajan/CL-1"])
        .current_dir(c.root().join("repo.git"))
        .output()
        .expect("git log");
    let log = String::from_utf8_lossy(&log.stdout);
    assert_eq!(
        log.lines().collect::<Vec<_>>()[..3],
        ["third by n1", "second by n2", "first by n1"],
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_is_a_single_daemons_or_a_clusters_never_both() {
    let Some(mut c) = Cluster::new("cluster::e2e::never_both", 2).await else {
        return;
    };
    c.hold();
    // A single daemon's folder: n1's workflow without the cluster keys.
    c.start("n1", 2);
    let solo = c.root().join("solo");
    std::fs::create_dir_all(solo.join("prompts")).expect("solo");
    std::fs::copy(
        c.node_dir("n1").join("prompts/work.md"),
        solo.join("prompts/work.md"),
    )
    .expect("prompt");
    let wf = std::fs::read_to_string(c.node_dir("n1").join("workflow.yaml")).expect("wf");
    let wf: String = wf
        .lines()
        .filter(|l| !l.contains("cluster:") && !l.contains("lease_ttl:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(solo.join("workflow.yaml"), wf).expect("solo workflow");
    c.until("n1 holds the lease", Duration::from_secs(30), || async {
        c.holder().await.is_some_and(|(h, _)| h == "n1")
    })
    .await;
    let refused = command()
        .args(["run", "workflow.yaml", "--once"])
        .current_dir(&solo)
        .output()
        .expect("solo runs");
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("belongs to a cluster (node n1"), "{err}");

    // The other way round: while a single daemon writes, no node leads.
    c.stop_all();
    let mut daemon = command()
        .args(["run", "workflow.yaml", "--no-watch"])
        .current_dir(&solo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("solo daemon");
    c.until(
        "the single daemon runs",
        Duration::from_secs(30),
        || async {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM events WHERE kind = 'daemon_started'",
            )
            .fetch_one(&c.pool)
            .await
            .unwrap_or(0)
                >= 2
        },
    )
    .await;
    c.start("n2", 2);
    c.until(
        "n2 to see the single daemon",
        Duration::from_secs(15),
        || async {
            c.node_log("n2")
                .contains("a single daemon (not a cluster node) is writing this store")
        },
    )
    .await;
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(daemon.id()).expect("pid")),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = daemon.wait();
    c.until(
        "n2 to lead once the daemon stopped",
        Duration::from_secs(15),
        || async { c.holder().await.is_some_and(|(h, _)| h == "n2") },
    )
    .await;
    c.release();
    c.until("every ticket Done", Duration::from_secs(60), || async {
        c.in_column("Done") == 2
    })
    .await;
    c.stop_all();
    assert_clean(&c, 2, "n2");
}
