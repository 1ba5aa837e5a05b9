//! Drain throughput with 1, 2 and 3 cluster nodes (issue 14): `cargo bench --bench cluster`.
//!
//! The real binary as `karajan run --node nN` processes on one PostgreSQL database (a
//! fresh one per node count, on the server `DATABASE_URL` names; without it the bench
//! says so and does nothing), the local tracker with `BENCH_TICKETS` (30) tickets in
//! Todo, one agent state whose agent sleeps `BENCH_AGENT_MS` (2000) ms, and
//! `BENCH_SLOTS` (2) agents per node: agents are the bottleneck, as when a team's agents
//! outgrow one machine. Every node's folder has the same workflow text, so any node
//! runs what the lease holder plans. It prints, per node count, the wall time from the
//! nodes' start to the last ticket Done, tickets per minute, the ratio to one node,
//! and how many runs each node ran (from the agents' own log). On one machine the
//! nodes share its cores: the ratio shows that more nodes add agent slots, not what
//! separate machines would add in CPU.
//!
//! `BENCH_KARAJAN_BIN` measures another binary (default: this package's);
//! `BENCH_NODES=1,3` picks the node counts; `BENCH_KEEP=1` keeps the scratch folders.

#[path = "../tests/pg/mod.rs"]
#[allow(dead_code)]
mod pg;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Settings {
    bin: PathBuf,
    tickets: usize,
    agent_ms: u64,
    slots: usize,
    nodes: Vec<usize>,
    keep: bool,
}

struct Outcome {
    nodes: usize,
    wall: Duration,
    per_node: BTreeMap<String, usize>,
}

fn main() {
    let s = Settings {
        bin: std::env::var_os("BENCH_KARAJAN_BIN")
            .map_or_else(
                || PathBuf::from(env!("CARGO_BIN_EXE_karajan")),
                PathBuf::from,
            )
            .canonicalize()
            .expect("the karajan binary exists"),
        tickets: env_or("BENCH_TICKETS", 30),
        agent_ms: env_or("BENCH_AGENT_MS", 2000),
        slots: env_or("BENCH_SLOTS", 2),
        nodes: std::env::var("BENCH_NODES")
            .unwrap_or_else(|_| "1,2,3".into())
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect(),
        keep: std::env::var_os("BENCH_KEEP").is_some(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "cluster drain: {} tickets, agents of {} ms, {} slots per node, binary {}",
        s.tickets,
        s.agent_ms,
        s.slots,
        s.bin.display()
    );
    let mut outcomes = vec![];
    for &n in &s.nodes {
        let Some(db) = rt.block_on(pg::TestDb::create(&format!("bench cluster, {n} nodes"))) else {
            return;
        };
        outcomes.push(drain(&s, &db.url, n));
        drop(db);
    }
    report(&s, &outcomes);
}

fn drain(s: &Settings, url: &str, nodes: usize) -> Outcome {
    let scratch = tempfile::tempdir().expect("tempdir");
    let root = scratch.path();
    setup(s, root, url, nodes);
    let start = Instant::now();
    let mut children: Vec<Child> = (1..=nodes)
        .map(|i| {
            let dir = root.join(format!("n{i}"));
            let log = std::fs::File::create(dir.join("node.log")).expect("log");
            Command::new(&s.bin)
                .args(["run", "workflow.yaml", "--no-watch", "--port", "0"])
                .args(["--node", &format!("n{i}")])
                .current_dir(&dir)
                .env("XDG_CONFIG_HOME", root.join("config"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("node starts")
        })
        .collect();
    let limit = Duration::from_secs(600);
    while done(root) < s.tickets {
        assert!(
            start.elapsed() < limit,
            "the drain took over {limit:?}; node logs in {}",
            root.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let wall = start.elapsed();
    for c in &children {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(c.id()).expect("pid"));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
    for c in &mut children {
        let _ = c.wait();
    }
    let life = std::fs::read_to_string(root.join("life.log")).unwrap_or_default();
    let mut per_node = BTreeMap::new();
    for node in life.lines().filter_map(|l| l.split_whitespace().next()) {
        *per_node.entry(node.to_string()).or_default() += 1;
    }
    if s.keep {
        println!("kept: {}", scratch.keep().display());
    }
    Outcome {
        nodes,
        wall,
        per_node,
    }
}

/// Tickets in Done.
fn done(root: &Path) -> usize {
    std::fs::read_dir(root.join("tickets"))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    // The front matter's `state:`, not a comment's text.
                    std::fs::read_to_string(e.path()).is_ok_and(|t| {
                        t.lines()
                            .skip(1)
                            .take_while(|l| l.trim() != "---")
                            .any(|l| l.trim() == "state: Done")
                    })
                })
                .count()
        })
        .unwrap_or(0)
}

fn setup(s: &Settings, root: &Path, url: &str, nodes: usize) {
    let tickets = root.join("tickets");
    std::fs::create_dir_all(&tickets).expect("tickets");
    for i in 1..=s.tickets {
        std::fs::write(
            tickets.join(format!("CB-{i}.md")),
            format!(
                "---\nid: CB-{i}\ntitle: Bench ticket {i}\nstate: Todo\npriority: 2\n\
                 created_at: 2026-11-01T09:00:00Z\n---\nDo thing {i}.\n"
            ),
        )
        .expect("ticket");
    }
    let repo = root.join("repo.git");
    let made = Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&repo)
        .status()
        .expect("git");
    assert!(made.success());
    let seed = root.join("seed");
    for args in [
        vec!["init", "-q", "-b", "main"],
        vec!["commit", "-q", "--allow-empty", "-m", "base"],
        vec!["push", "-q", repo.to_str().expect("utf-8"), "main"],
    ] {
        std::fs::create_dir_all(&seed).expect("seed");
        let ok = Command::new("git")
            .args(["-c", "user.name=b", "-c", "user.email=b@b.invalid"])
            .args(&args)
            .current_dir(&seed)
            .status()
            .expect("git");
        assert!(ok.success(), "git {args:?}");
    }
    let agent = root.join("agent.sh");
    let root_s = root.display().to_string();
    std::fs::write(
        &agent,
        format!(
            "#!/bin/sh\ncat > /dev/null\nnode=$(echo \"$KARAJAN_LOG_DIR\" | sed \"s|^{root_s}/||; s|/.*||\")\n\
             sleep {secs}\necho \"$node $KARAJAN_ISSUE\" >> {root_s}/life.log\n",
            secs = s.agent_ms as f64 / 1000.0
        ),
    )
    .expect("agent");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let workflow = format!(
        r#"tracker:
  kind: local
  dir: {root_s}/tickets
columns:
  todo: Todo
  active: In Progress
  done: Done
  terminal: [Canceled]
polling:
  interval: 1s
workspace:
  root: ./.karajan/workspaces
  repo: {root_s}/repo.git
runners:
  bench:
    kind: command
    command: ["{agent}"]
agent:
  max_concurrent: {slots}
states:
  work:
    kind: agent
    runner: bench
    prompt: prompts/work.md
    next: done
  done:
    kind: terminal
store:
  url: {url}
  cluster: true
  lease_ttl: 3s
"#,
        agent = agent.display(),
        slots = s.slots,
    );
    for i in 1..=nodes {
        let dir = root.join(format!("n{i}"));
        std::fs::create_dir_all(dir.join("prompts")).expect("node dir");
        std::fs::write(dir.join("prompts/work.md"), "Do {{ issue.title }}.\n").expect("prompt");
        std::fs::write(dir.join("workflow.yaml"), &workflow).expect("workflow");
    }
}

fn report(s: &Settings, outcomes: &[Outcome]) {
    let base = outcomes.first().map(|o| o.wall.as_secs_f64());
    println!();
    println!("| nodes | agent slots | wall | tickets/min | vs 1 node | runs per node |");
    println!("|---|---|---|---|---|---|");
    for o in outcomes {
        let secs = o.wall.as_secs_f64();
        let ratio = base.map_or(String::from("-"), |b| format!("{:.2}×", b / secs));
        let runs: Vec<String> = o.per_node.iter().map(|(n, c)| format!("{n} {c}")).collect();
        println!(
            "| {} | {} | {:.1} s | {:.1} | {} | {} |",
            o.nodes,
            o.nodes * s.slots,
            secs,
            s.tickets as f64 * 60.0 / secs,
            ratio,
            runs.join(", ")
        );
    }
}
