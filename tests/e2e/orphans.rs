//! A kill at any instant never leaves two live agents, and no process of a run survives
//! its stop (issue 9, point 2), driven with the real binary:
//! - the daemon SIGKILLed in the window between an agent's spawn and the moment its
//!   pid is recorded (held open by the debug-only fault point
//!   `KARAJAN_FAULT_AFTER_SPAWN_SLEEP_MS`): the restart stops the orphan by its
//!   `KARAJAN_RUN_ID` before retrying, so the two agents never overlap;
//! - an agent that leaves a `setsid` descendant (outside its process group): after a
//!   success, a stall stop and a daemon shutdown, nothing carrying the run's id is left.

use std::process::Stdio;
use std::time::Duration;

use super::single_daemon::{Daemon, daemon, sigterm, wait_output};
use super::support::{Scratch, events, processes_with_env, stderr, wait_for};

fn use_agent(s: &Scratch, script: &str, body: &str) {
    s.script(script, body);
    let wf = std::fs::read_to_string(s.workflow()).unwrap();
    std::fs::write(
        s.workflow(),
        wf.replace("[\"./agent.sh\"]", &format!("[\"./{script}\"]")),
    )
    .unwrap();
}

/// Pids recorded by the agents of one ticket (file names in `agents/<ticket>/`).
fn agent_pids(s: &Scratch, ticket: &str) -> Vec<u32> {
    std::fs::read_dir(s.path().join("agents").join(ticket))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|st| {
            st.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                .map(|state| state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

#[test]
fn sigkill_between_spawn_and_recording_the_pid_never_leaves_two_agents() {
    if !cfg!(debug_assertions) {
        eprintln!("SKIPPED: the spawn fault point is honoured only by debug builds");
        return;
    }
    let s = Scratch::quickstart();
    let root = s.path().display().to_string();
    // Each agent records its pid, and reports any live earlier agent of its ticket. It
    // decides whether to be quick before it records its pid, so an orphan never ends
    // by itself.
    use_agent(
        &s,
        "watch.sh",
        &format!(
            r#"#!/bin/sh
dir="{root}/agents/$KARAJAN_ISSUE"
mkdir -p "$dir"
for f in "$dir"/*; do
  [ -e "$f" ] || continue
  p=$(basename "$f")
  if [ -e "/proc/$p" ] && ! grep -q ') [ZX] ' "/proc/$p/stat"; then
    echo "OVERLAP $KARAJAN_ISSUE $p" >> "{root}/overlap.log"
  fi
done
fast=no
if [ -e "{root}/fast" ]; then fast=yes; fi
touch "$dir/$$"
cat > /dev/null
if [ "$fast" = yes ]; then exit 0; fi
exec sleep 1000
"#
        ),
    );
    let first: Daemon = crate::e2e::support::command()
        .args(["run", "workflow.yaml", "--no-watch"])
        .current_dir(s.path())
        .env("KARAJAN_FAULT_AFTER_SPAWN_SLEEP_MS", "600000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
        .into();
    wait_for(
        "three agents in the spawn window",
        Duration::from_secs(30),
        || {
            ["QS-1", "QS-2", "QS-3"]
                .iter()
                .all(|t| agent_pids(&s, t).len() == 1)
        },
    );
    let db = s.db();
    let all = events(&db);
    assert_eq!(
        all.iter().filter(|(k, _, _)| k == "run_started").count(),
        3,
        "the runs are recorded started"
    );
    assert_eq!(
        all.iter().filter(|(k, _, _)| k == "run_spawned").count(),
        0,
        "but no pid is recorded yet: we are in the window"
    );
    let mut first = first.take();
    first.kill().unwrap(); // SIGKILL in the window
    first.wait().unwrap();
    let orphans: Vec<u32> = ["QS-1", "QS-2", "QS-3"]
        .iter()
        .flat_map(|t| agent_pids(&s, t))
        .collect();
    assert!(
        orphans.iter().all(|p| alive(*p)),
        "the agents outlive the SIGKILLed daemon"
    );

    std::fs::write(s.path().join("fast"), "").unwrap();
    s.once();

    let overlap = std::fs::read_to_string(s.path().join("overlap.log")).unwrap_or_default();
    assert!(overlap.is_empty(), "two agents at once:\n{overlap}");
    for pid in &orphans {
        assert!(!alive(*pid), "the orphan {pid} was stopped");
    }
    assert!(
        processes_with_env(&format!("KARAJAN_LOG_DIR={root}")).is_empty(),
        "no process of any run is left"
    );
    let all = events(&db);
    for t in ["QS-1", "QS-2", "QS-3"] {
        assert_eq!(agent_pids(&s, t).len(), 2, "{t}: the orphan and one retry");
    }
    let orphaned: Vec<_> = all.iter().filter(|(k, _, _)| k == "run_orphaned").collect();
    assert_eq!(orphaned.len(), 3);
    assert!(
        orphaned
            .iter()
            .all(|(_, _, p)| p["killed"] == true && p["pid"].is_null()),
        "{orphaned:?}"
    );
}

/// An agent that starts a `setsid` descendant (its own session and group, stdio
/// detached), then exits (`fast`) or sleeps.
fn setsid_agent(s: &Scratch) -> String {
    let root = s.path().display().to_string();
    use_agent(
        s,
        "detach.sh",
        &format!(
            r#"#!/bin/sh
cat > /dev/null
setsid sleep 1000 < /dev/null > /dev/null 2>&1 &
echo "$KARAJAN_RUN_ID" >> "{root}/runs.log"
if [ -e "{root}/fast" ]; then exit 0; fi
exec sleep 1000
"#
        ),
    );
    format!("KARAJAN_LOG_DIR={root}")
}

fn run_ids(s: &Scratch) -> Vec<String> {
    std::fs::read_to_string(s.path().join("runs.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn assert_nothing_left(s: &Scratch, needle: &str, path: &str) {
    // The escaped descendants really ran (else the test proves nothing).
    assert_eq!(run_ids(s).len(), 3, "{path}: three agents ran");
    let left = processes_with_env(needle);
    assert!(
        left.is_empty(),
        "{path}: processes of the runs survive: {left:?}"
    );
    for id in run_ids(s) {
        assert!(processes_with_env(&format!("KARAJAN_RUN_ID={id}")).is_empty());
    }
}

#[test]
fn setsid_descendants_do_not_survive_a_successful_run() {
    let s = Scratch::quickstart();
    let needle = setsid_agent(&s);
    std::fs::write(s.path().join("fast"), "").unwrap();
    s.once();
    assert_nothing_left(&s, &needle, "success");
}

#[test]
fn setsid_descendants_do_not_survive_a_stall_stop() {
    let s = Scratch::quickstart();
    let needle = setsid_agent(&s);
    let wf = std::fs::read_to_string(s.workflow()).unwrap();
    std::fs::write(
        s.workflow(),
        wf.replace("stall_timeout: 2m", "stall_timeout: 1s"),
    )
    .unwrap();
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    assert!(out.status.code().is_some(), "{}", stderr(&out));
    let all = events(&s.db());
    let stalled = all
        .iter()
        .filter(|(k, _, p)| k == "run_finished" && p["status"] == "stalled")
        .count();
    assert_eq!(stalled, 3, "{all:?}");
    assert_nothing_left(&s, &needle, "stall");
}

#[test]
fn setsid_descendants_do_not_survive_a_daemon_shutdown() {
    let s = Scratch::quickstart();
    let needle = setsid_agent(&s);
    let d = daemon(&s, "daemon", &[]);
    wait_for("three agents", Duration::from_secs(30), || {
        run_ids(&s).len() == 3 && processes_with_env(&needle).len() >= 6
    });
    sigterm(&d);
    let out = wait_output(d.take(), Duration::from_secs(30)).expect("stops on SIGTERM");
    assert!(out.status.success());
    assert_nothing_left(&s, &needle, "shutdown");
}

/// Zombie children of `pid` (from `/proc`).
fn zombie_children(pid: u32) -> Vec<u32> {
    let mut found = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let mut fields = stat.rsplit(')').next().unwrap_or("").split_whitespace();
        let state = fields.next();
        let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
        if state == Some("Z") && ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

#[test]
fn adopted_descendants_that_exit_by_themselves_are_reaped() {
    let s = Scratch::quickstart();
    let root = s.path().display().to_string();
    // The helpers leave the agent's tree at once (their parent subshell exits), so the
    // daemon, a subreaper, adopts them; one exits by itself before the run ends, the
    // other is stopped at the run's end: neither may stay a zombie of the daemon.
    use_agent(
        &s,
        "brief.sh",
        &format!(
            "#!/bin/sh\ncat > /dev/null\n( setsid sleep 0.2 < /dev/null > /dev/null 2>&1 & )\n\
             ( setsid sleep 1000 < /dev/null > /dev/null 2>&1 & )\n\
             sleep 1\necho done >> \"{root}/runs.log\"\n"
        ),
    );
    let d = daemon(&s, "daemon", &[]);
    wait_for("three finished runs", Duration::from_secs(60), || {
        events(&s.db())
            .iter()
            .filter(|(k, _, _)| k == "run_finished")
            .count()
            >= 3
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(run_ids(&s).len(), 3);
    let zombies = zombie_children(d.id());
    assert!(zombies.is_empty(), "the daemon leaves zombies: {zombies:?}");
    let needle = format!("KARAJAN_LOG_DIR={root}");
    assert!(
        processes_with_env(&needle).is_empty(),
        "the helpers are stopped"
    );
    sigterm(&d);
    let out = wait_output(d.take(), Duration::from_secs(30)).expect("stops on SIGTERM");
    assert!(out.status.success());
}

/// A descendant whose environment reads empty when the run ends (as `/proc/<pid>/environ`
/// reads inside `execve`, between the new program's memory and its environment being
/// set up) and which carries the run's id a moment later: here stretched to 0.3 s, a
/// `setsid` descendant that runs with an empty environment, then execs with the run's
/// id. The stop after a successful run looks again while such an adopted process lives,
/// instead of finding nothing carrying the id and leaving it.
#[test]
fn a_descendant_caught_without_its_environment_does_not_survive_a_successful_run() {
    let s = Scratch::quickstart();
    let root = s.path().display().to_string();
    use_agent(
        &s,
        "detach.sh",
        &format!(
            r#"#!/bin/sh
cat > /dev/null
empty="{root}/empty-$KARAJAN_RUN_ID"
setsid env -i /bin/sh -c "touch $empty; sleep 0.3; exec env KARAJAN_RUN_ID=$KARAJAN_RUN_ID KARAJAN_LOG_DIR=$KARAJAN_LOG_DIR sleep 1000" < /dev/null > /dev/null 2>&1 &
echo "$KARAJAN_RUN_ID" >> "{root}/runs.log"
# End only once the descendant runs without its environment.
while [ ! -e "$empty" ]; do sleep 0.01; done
exit 0
"#
        ),
    );
    s.once();
    // What the test's own view cannot see for 0.3 s: wait that long before looking.
    std::thread::sleep(Duration::from_millis(500));
    assert_nothing_left(
        &s,
        &format!("KARAJAN_LOG_DIR={root}"),
        "environment read empty",
    );
}
