//! End to end against the fake Linear: the engine (library API) with the quickstart's
//! scripted agent carries a ticket Todo → In Progress → Human Review; a human moves it to
//! Gate Approved on "Linear"; the next run carries it through `finalize` to Done. Every
//! step is commented (with a marker), and the API calls per run stay few.

use std::path::Path;
use std::sync::Arc;

use karajan::orchestrator::{Engine, Options};
use karajan::store::Store;
use karajan::tracker::linear::LinearTracker;
use karajan::tracker::marker::{latest_state, parse_marker};
use tokio_util::sync::CancellationToken;

use super::config;
use super::fake::FakeLinear;
use crate::e2e::support::{Scratch, events};

/// One `run --once` of the engine on `dir`'s workflow against the fake.
pub(super) async fn run_once(dir: &Path, fake: &FakeLinear) {
    let wf = karajan::workflow_load::load(&dir.join("workflow.yaml")).expect("workflow loads");
    let mut c = config(fake);
    c.terminal_columns = wf.machine.columns.terminal_all();
    let tracker = Arc::new(LinearTracker::new(c).expect("tracker"));
    std::fs::create_dir_all(wf.store.logs.clone()).unwrap();
    let store = Store::open(&wf.store.path, &wf.store.checkpoints)
        .await
        .expect("store");
    let engine = Engine::new(Arc::new(wf), tracker, store);
    let opts = Options {
        once: true,
        watch: false,
        shutdown: CancellationToken::new(),
    };
    let (_handle, task) = karajan::orchestrator::spawn(engine, opts);
    task.await.expect("engine task").expect("engine ran");
}

/// Requests per operation since `from`.
fn calls(fake: &FakeLinear, from: usize) -> std::collections::BTreeMap<String, usize> {
    let mut by_op = std::collections::BTreeMap::new();
    for r in &fake.world().requests[from..] {
        *by_op.entry(r.operation.clone()).or_insert(0) += 1;
    }
    by_op
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_goes_through_the_gate_to_done_on_linear() {
    let s = Scratch::quickstart();
    crate::linear::gate_approved(&s);
    let fake = FakeLinear::start().await;
    let id = fake.world().add_issue("Todo", "Add a friendly greeting");

    run_once(s.path(), &fake).await;
    assert_eq!(fake.world().column_of(&id), "Human Review");
    let first = calls(&fake, 0);
    let bodies: Vec<String> = fake
        .world()
        .comments_of(&id)
        .into_iter()
        .map(|c| c.body)
        .collect();
    assert!(!bodies.is_empty(), "each step is commented");
    assert!(
        bodies.iter().all(|b| parse_marker(b).is_some()),
        "every karajan comment carries its marker: {bodies:#?}"
    );
    let moved_to: Vec<String> = fake
        .world()
        .requests
        .iter()
        .filter(|r| r.operation == "MoveIssue" || r.operation == "MoveAndComment")
        .map(|r| r.variables["stateId"].as_str().unwrap().to_string())
        .collect();
    let in_progress = fake.world().state_named("ENG", "In Progress").id.clone();
    let review = fake.world().state_named("ENG", "Human Review").id.clone();
    assert_eq!(
        moved_to,
        vec![in_progress, review],
        "Todo → In Progress → Human Review"
    );

    // A human approves in Linear.
    fake.world().move_issue(&id, "Gate Approved");
    let before = fake.total_requests();
    run_once(s.path(), &fake).await;
    assert_eq!(fake.world().column_of(&id), "Done");
    let second = calls(&fake, before);

    let comments: Vec<karajan::domain::Comment> = fake
        .world()
        .comments_of(&id)
        .into_iter()
        .map(|c| karajan::domain::Comment {
            author: c.author,
            body: c.body,
            created_at: c.created_at,
        })
        .collect();
    assert!(
        comments.len() > bodies.len(),
        "the approval and the end are commented"
    );
    let last = latest_state(&comments).expect("a marker");
    assert_eq!(last.state, "done");

    // The expected calls per `--once` run: three list reads (candidates, the refresh of
    // the ticket after a run no poll saw, and the one terminal sweep a `--once` run
    // makes), two moves each sent with its comment in one document, and the workflow
    // states resolved once per process. No comment read: the candidate read brought the
    // human comments the run's prompt quotes. No per-ticket query on the polling path.
    let expected: std::collections::BTreeMap<String, usize> = [
        ("ListIssues", 3),
        ("MoveAndComment", 2),
        ("ProjectBySlug", 1),
        ("WorkflowStates", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(first, expected);
    assert_eq!(second, expected);
    let db = s.db();
    let evs = std::thread::spawn(move || events(&db)).join().unwrap();
    let transitions: Vec<String> = evs
        .iter()
        .filter(|(k, i, _)| k == "transition" && i.as_deref() == Some(id.as_str()))
        .map(|(_, _, p)| p["to"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(transitions, vec!["implement", "review", "finalize", "done"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_against_linear_prints_the_plan_and_writes_nothing() {
    let s = Scratch::quickstart();
    let fake = FakeLinear::start().await;
    let yaml = std::fs::read_to_string(s.workflow()).unwrap();
    let linear = format!(
        "tracker:\n  kind: linear\n  api_key: $LINEAR_API_KEY\n  project: proj1\n  endpoint: {}\n",
        fake.url
    );
    std::fs::write(
        s.workflow(),
        yaml.replace("tracker:\n  kind: local\n  dir: ./tickets\n", &linear)
            .replace("approved: Approved", "approved: Gate Approved"),
    )
    .unwrap();
    let (first, second) = {
        let mut w = fake.world();
        (w.add_issue("Todo", "Greet"), w.add_issue("Todo", "Wave"))
    };
    let dir = s.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        crate::e2e::support::command()
            .args(["run", "workflow.yaml", "--dry-run"])
            .current_dir(&dir)
            .env("LINEAR_API_KEY", super::fake::KEY)
            .env("KARAJAN_LOG", "debug")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "dry run failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("Ada Lovelace"),
        "the key was verified: {stdout}"
    );
    assert!(stdout.contains("2 candidate tickets"), "{stdout}");
    for id in [&first, &second] {
        assert!(stdout.contains(id.as_str()), "{id} in the plan: {stdout}");
    }
    assert!(
        stdout.contains("implement"),
        "the state each would enter: {stdout}"
    );
    assert!(!stdout.contains(super::fake::KEY) && !stderr.contains(super::fake::KEY));
    assert_eq!(
        fake.count("MoveIssue") + fake.count("CreateComment"),
        0,
        "no tracker write"
    );
    assert_eq!(fake.world().column_of(&first), "Todo");
    assert!(!s.db().exists(), "no store created");
}

#[test]
fn the_linear_example_passes_check() {
    let root = crate::e2e::support::repo_root();
    let out = crate::e2e::support::command()
        .args(["check", "--offline", "examples/linear/workflow.yaml"])
        .current_dir(&root)
        .env("LINEAR_API_KEY", "lin_api_example")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("lin_api_example"), "{text}");
    let missing = crate::e2e::support::command()
        .args(["check", "--offline", "examples/linear/workflow.yaml"])
        .current_dir(&root)
        .env_remove("LINEAR_API_KEY")
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("LINEAR_API_KEY"));
}
