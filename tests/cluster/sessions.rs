//! A run that resumes an agent session (`session: inherit`) goes to the node that ran
//! the session; when that node is gone, another node runs it in a fresh session and
//! says so (issue 14 item 4). The agent is the fake Claude Code behind a wrapper that
//! gives each ticket its own session id (the fake's is a constant).

use std::time::Duration;

use super::e2e::{Cluster, Flavor, TTL_MS};

/// The session id the wrapper gives `ticket`'s fresh sessions.
fn session(ticket: &str) -> String {
    format!("s-{ticket}-x")
}

fn flavor(root: &std::path::Path) -> Flavor {
    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/runners/fakes/claude");
    let wrapper = root.join("claude.sh");
    // `implement` waits while `hold` exists, so that each node takes one ticket.
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$KARAJAN_STATE\" = implement ]; then\n  while [ -e '{root}/hold' ]; do sleep 0.1; done\nfi\n\
             '{fake}' \"$@\" | sed \"s/3f1c2a9e-1111-4c3b-9a55-0c1a0de5e001/s-$KARAJAN_ISSUE-x/g\"\n",
            root = root.display(),
            fake = fake.display()
        ),
    )
    .expect("wrapper");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    Flavor {
        states: "states:\n  implement:\n    kind: agent\n    runner: claude\n    prompt: prompts/work.md\n    next: review\n  \
                 review:\n    kind: gate\n    approve: finalize\n    rework: implement\n  \
                 finalize:\n    kind: agent\n    runner: claude\n    prompt: prompts/work.md\n    next: done\n    session: inherit\n"
            .into(),
        runners: format!(
            "  claude:\n    kind: claude\n    command: [\"{}\"]\n",
            wrapper.display()
        ),
        columns: "  review: Human Review\n  approved: Approved\n  rework: Rework\n".into(),
        ..Flavor::default()
    }
}

/// `(ticket, resume_session)` of every `finalize` run started, and the node of each
/// finished one's evidence, by ticket.
async fn finalize_runs(
    c: &Cluster,
) -> Vec<(String, Option<String>, Option<String>, Option<String>)> {
    sqlx::query_as(
        "SELECT s.issue, s.payload::json ->> 'resume_session', e.payload::json ->> 'node', \
         f.payload::json ->> 'resume_fallback' \
         FROM events s \
         LEFT JOIN events e ON e.kind = 'run_evidence' \
           AND e.payload::json ->> 'run_id' = s.payload::json ->> 'run_id' \
         LEFT JOIN events f ON f.kind = 'run_finished' \
           AND f.payload::json ->> 'run_id' = s.payload::json ->> 'run_id' \
         WHERE s.kind = 'run_started' AND s.payload::json ->> 'state' = 'finalize' \
         ORDER BY s.issue",
    )
    .fetch_all(&c.pool)
    .await
    .expect("runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_session_runs_on_its_node_and_falls_back_fresh_elsewhere_saying_so() {
    let Some(mut c) = Cluster::new("cluster::sessions::resume", 2).await else {
        return;
    };
    c.flavor = flavor(c.root());
    c.hold();
    c.lead("n1", 1).await;
    c.start("n2", 1);
    c.until(
        "one implement agent on each node",
        Duration::from_secs(30),
        || async { !c.agents_of("n1").is_empty() && !c.agents_of("n2").is_empty() },
    )
    .await;
    // Which ticket n2 runs: its workspace.
    let on_n2 = ["CL-1", "CL-2"]
        .into_iter()
        .find(|t| {
            c.node_dir("n2")
                .join(".karajan/workspaces")
                .join(t)
                .is_dir()
        })
        .expect("n2 runs a ticket");
    let on_n1 = if on_n2 == "CL-1" { "CL-2" } else { "CL-1" };
    c.release();
    c.until(
        "both tickets at the gate",
        Duration::from_secs(30),
        || async { c.in_column("Human Review") == 2 },
    )
    .await;
    // n2, which holds its ticket's session, is gone; both tickets are approved.
    c.kill("n2");
    c.move_to(on_n1, "Approved");
    c.move_to(on_n2, "Approved");
    c.until("both tickets Done", Duration::from_secs(60), || async {
        c.in_column("Done") == 2
    })
    .await;
    let runs = finalize_runs(&c).await;
    c.stop_all();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let of = |t: &str| runs.iter().find(|r| r.0 == t).cloned().expect("a run");
    // n1's own session: resumed there.
    let (_, resumed, node, fallback) = of(on_n1);
    assert_eq!(resumed, Some(session(on_n1)), "{runs:?}");
    assert_eq!(node.as_deref(), Some("n1"));
    assert_eq!(fallback, None);
    // n2's session: n1 ran it in a fresh session, once n2 was a ttl silent, and said so.
    let (_, resumed, node, fallback) = of(on_n2);
    assert_eq!(resumed, None, "{runs:?}");
    assert_eq!(node.as_deref(), Some("n1"));
    assert_eq!(fallback, Some(session(on_n2)));
    let ticket = std::fs::read_to_string(c.root().join("tickets").join(format!("{on_n2}.md")))
        .expect("ticket");
    assert!(
        ticket.contains(&format!("could not resume session {}", session(on_n2)))
            && ticket.contains("another node of the cluster holds it"),
        "{ticket}"
    );
    assert!(
        c.node_log("n1").contains("held by another node"),
        "ttl {TTL_MS} ms"
    );
}
