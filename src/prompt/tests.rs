//! Prompt tests: layer order, strictness (undefined names are errors naming the file and
//! the variable), the lifecycle section's content, branch names and `check_all`.

use std::path::Path;

use chrono::{TimeZone, Utc};
use sha2::{Digest, Sha256};

use super::*;
use crate::config::{self, Workflow};
use crate::domain::{Comment, TicketSnapshot};
use crate::workflow_load;

const WORKFLOW: &str = "\
tracker: { kind: local, dir: ./tickets }
workspace: { repo: ./repo }
runners:
  demo: { kind: command, command: [./agent.sh] }
prompts:
  global: prompts/global.md
states:
  implement:
    kind: agent
    runner: demo
    prompt: prompts/implement.md
    next: review
  review:
    kind: gate
    approve: done
    rework: implement
  done:
    kind: terminal
";

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(global: &str, stage: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("prompts")).unwrap();
        std::fs::write(dir.path().join("prompts/global.md"), global).unwrap();
        std::fs::write(dir.path().join("prompts/implement.md"), stage).unwrap();
        Fixture { dir }
    }

    fn workflow(&self) -> Workflow {
        // Unrendered: some tests need a workflow whose templates do not render.
        workflow_load::load_unrendered(
            WORKFLOW,
            &self.dir.path().join("workflow.yaml"),
            &crate::settings::expand::process_env,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn ticket() -> TicketSnapshot {
    let at = Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap();
    TicketSnapshot {
        id: "t-1".into(),
        identifier: "ENG-42".into(),
        title: "Fix the login redirect".into(),
        description: "Users land on a 404 after login.".into(),
        url: Some("https://tracker.example/ENG-42".into()),
        labels: vec!["bug".into(), "auth".into()],
        priority: Some(1),
        column: "In Progress".into(),
        blocked_by: vec![],
        branch_name: None,
        created_at: at,
        updated_at: at,
        recent_comments: None,
    }
}

fn comment(author: &str, body: &str, minute: u32) -> Comment {
    Comment {
        author: author.into(),
        body: body.into(),
        created_at: Utc.with_ymd_and_hms(2025, 3, 1, 10, minute, 0).unwrap(),
    }
}

#[test]
fn layers_render_in_order_global_stage_lifecycle() {
    let f = Fixture::new(
        "GLOBAL for {{ issue.identifier }}\n",
        "STAGE {{ issue.title }} in {{ state }} run={{ run }} attempt={{ attempt }}\n",
    );
    let wf = f.workflow();
    let ctx = PromptContext::new(&ticket(), "implement", 3, 2);
    let out = render(&wf, "implement", &ctx, &[]).unwrap();
    let g = out.text.find("GLOBAL for ENG-42").expect("global layer");
    let s = out
        .text
        .find("STAGE Fix the login redirect in implement run=3 attempt=2")
        .expect("stage layer");
    let l = out
        .text
        .find("## Lifecycle (from karajan)")
        .expect("lifecycle");
    assert!(g < s && s < l, "{}", out.text);
    assert_eq!(out.digest, hex::encode(Sha256::digest(out.text.as_bytes())));
    assert!(out.text.ends_with('\n') && !out.text.ends_with("\n\n"));
}

#[test]
fn global_layer_is_optional() {
    let f = Fixture::new("", "STAGE\n");
    let mut wf = f.workflow();
    wf.prompts.global = None;
    let out = render(
        &wf,
        "implement",
        &PromptContext::new(&ticket(), "implement", 1, 1),
        &[],
    )
    .unwrap();
    assert!(
        out.text.starts_with("STAGE\n\n---\n\n## Lifecycle"),
        "{}",
        out.text
    );
}

#[test]
fn undefined_variable_names_the_template_and_the_variable() {
    let f = Fixture::new("ok\n", "line 1\n{{ issue.nope }}\n");
    let wf = f.workflow();
    let err = render(
        &wf,
        "implement",
        &PromptContext::new(&ticket(), "implement", 1, 1),
        &[],
    )
    .unwrap_err();
    let PromptError::Template(t) = &err else {
        panic!("expected a template error, got {err:?}");
    };
    assert_eq!(t.template, "prompts/implement.md");
    assert_eq!(t.line, Some(2));
    let msg = err.to_string();
    assert!(msg.starts_with("prompts/implement.md:2: "), "{msg}");
    assert!(msg.contains("nope"), "{msg}");

    // Unknown top-level names are errors too, in any layer.
    let f = Fixture::new("{{ ticket.title }}", "fine");
    let err = render(
        &f.workflow(),
        "implement",
        &PromptContext::new(&ticket(), "implement", 1, 1),
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("prompts/global.md:1: "), "{err}");
    assert!(err.contains("ticket"), "{err}");
}

#[test]
fn every_context_variable_is_available() {
    let f = Fixture::new(
        "",
        "{{ issue.identifier }}|{{ issue.title }}|{{ issue.description }}|{{ issue.url }}|\
         {{ issue.labels | join(',') }}|{{ issue.priority }}|{{ issue.state }}|{{ state }}|\
         {{ run }}|{{ attempt }}|{{ rework.count }}|{{ rework.feedback }}|{{ last_run_at }}|\
         {{ pull_request }}",
    );
    let at = Utc.with_ymd_and_hms(2025, 3, 2, 8, 30, 0).unwrap();
    let ctx = PromptContext::new(&ticket(), "implement", 2, 1)
        .with_rework(1, Some("add tests".into()))
        .with_last_run_at(at);
    let out = render(&f.workflow(), "implement", &ctx, &[]).unwrap();
    let first = out.text.lines().next().unwrap();
    assert_eq!(
        first,
        "ENG-42|Fix the login redirect|Users land on a 404 after login.|https://tracker.example/ENG-42|\
         bug,auth|1|In Progress|implement|2|1|1|add tests|2025-03-02T08:30:00Z|None"
    );
}

#[test]
fn lifecycle_section_describes_ticket_state_transitions_feedback_and_comments() {
    let f = Fixture::new("", "stage");
    let wf = f.workflow();
    let ctx = PromptContext::new(&ticket(), "implement", 2, 1).with_rework(
        2,
        Some("Handle the expired-session case.\n\nAnd add a test.".into()),
    );
    let mut comments = vec![comment(
        "karajan",
        "Run finished <!-- karajan:{\"event\":1} -->",
        0,
    )];
    for i in 1..=6 {
        comments.push(comment("alice", &format!("human note {i}"), i));
    }
    let out = render(&wf, "implement", &ctx, &comments).unwrap().text;
    for needle in [
        "- Ticket: ENG-42 — Fix the login redirect",
        "- URL: https://tracker.example/ENG-42",
        "- Labels: bug, auth",
        "- Priority: 1 (urgent)",
        "- Tracker column: In Progress",
        "- Workflow state: `implement` (run 2, attempt 1)",
        "### What happens next",
        "- When you finish successfully → `review` (a human review gate",
        "### Rework requested (round 2)",
        "  > Handle the expired-session case.\n  >\n  > And add a test.",
        "### Recent comments",
        "- alice (2025-03-01T10:06:00Z):\n  > human note 6",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    // Only the 5 most recent human comments; karajan's own are left out.
    assert!(!out.contains("human note 1\n"), "{out}");
    assert!(out.contains("human note 2"), "{out}");
    assert!(!out.contains("Run finished"), "{out}");

    // No rework, no comments: those sections are absent.
    let plain = render(
        &wf,
        "implement",
        &PromptContext::new(&ticket(), "implement", 1, 1),
        &[],
    )
    .unwrap()
    .text;
    assert!(!plain.contains("Rework requested"), "{plain}");
    assert!(!plain.contains("Recent comments"), "{plain}");
}

#[test]
fn only_agent_states_have_prompts() {
    let f = Fixture::new("", "stage");
    let wf = f.workflow();
    let ctx = PromptContext::new(&ticket(), "review", 1, 1);
    assert_eq!(
        render(&wf, "review", &ctx, &[]),
        Err(PromptError::NotAnAgentState("review".into()))
    );
    assert_eq!(
        render(&wf, "nowhere", &ctx, &[]),
        Err(PromptError::UnknownState("nowhere".into()))
    );
}

#[test]
fn branch_names_render_strictly() {
    let ctx = PromptContext::new(&ticket(), "implement", 1, 1);
    assert_eq!(
        render_branch(config::DEFAULT_BRANCH, &ctx).unwrap(),
        "karajan/ENG-42"
    );
    let err = render_branch("k/{{ issue.key }}", &ctx)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("workspace.branch:1: "), "{err}");
    assert!(err.contains("key"), "{err}");
    assert_eq!(
        render_branch("{{ '' }}  ", &ctx),
        Err(PromptError::EmptyBranch("{{ '' }}  ".into()))
    );
}

#[test]
fn check_all_reports_every_failing_template() {
    let f = Fixture::new("{{ issue.title }}", "{{ issue.identifier }}");
    assert_eq!(check_all(&f.workflow()), Vec::<String>::new());

    // An error only reachable on a rework run is still found.
    let f = Fixture::new(
        "{{ issue.titel }}",
        "{% if rework.feedback %}{{ rework.feedbak }}{% endif %}",
    );
    let errors = check_all(&f.workflow());
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(
        errors[0].starts_with("prompts/global.md:1: "),
        "{errors:#?}"
    );
    assert!(errors[0].contains("titel"), "{errors:#?}");
    assert!(
        errors[1].starts_with("state `implement`: prompts/implement.md:1: "),
        "{errors:#?}"
    );
    assert!(errors[1].contains("feedbak"), "{errors:#?}");

    // A broken branch template is reported too.
    let mut wf = f.workflow();
    wf.workspace.branch = "k/{{ issue.number }}".into();
    let errors = check_all(&wf);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("workspace.branch:1: ") && e.contains("number")),
        "{errors:#?}"
    );
}

#[test]
fn loading_refuses_a_template_that_does_not_render() {
    let f = Fixture::new("{{ issue.title }}", "ok\n{{ issue.nope }}\n");
    let errors =
        workflow_load::load_str(WORKFLOW, &f.dir.path().join("workflow.yaml")).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors}");
    let e = &errors.0[0];
    assert!(e.file.ends_with("prompts/implement.md"), "{e}");
    assert_eq!(e.line, Some(2), "{e}");
    assert_eq!(e.key, "states.implement.prompt", "{e}");
    assert!(e.message.contains("nope"), "{e}");
}

#[test]
fn shipped_prompts_render_for_every_state() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflow.example.yaml");
    let wf = workflow_load::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(check_all(&wf), Vec::<String>::new());
    let ctx = PromptContext::new(&ticket(), "implement", 2, 2)
        .with_rework(1, Some("Cover the 404 case.".into()));
    let text = render(&wf, "implement", &ctx, &[]).unwrap().text;
    assert!(text.contains("# ENG-42: Fix the login redirect"), "{text}");
    assert!(text.contains("This is rework round 1"), "{text}");
    assert!(text.contains("Attempt 2"), "{text}");
    assert!(text.contains("Cover the 404 case."), "{text}");
}

#[test]
fn pull_request_is_null_until_opened_then_named_in_templates_and_the_lifecycle() {
    let f = Fixture::new(
        "",
        "{% if pull_request %}PR #{{ pull_request.number }} {{ pull_request.url }}{% else %}no PR{% endif %}\n",
    );
    let wf = f.workflow();
    let ctx = PromptContext::new(&ticket(), "implement", 1, 1);
    assert_eq!(ctx.pull_request, None);
    let text = render(&wf, "implement", &ctx, &[]).unwrap().text;
    assert!(text.starts_with("no PR\n"), "{text}");
    assert!(!text.contains("Pull request"), "{text}");

    let url = "https://github.com/acme/app/pull/7";
    let ctx = PromptContext::new(&ticket(), "implement", 2, 1).with_pull_request(Some(
        PromptPullRequest {
            number: 7,
            url: url.into(),
        },
    ));
    let text = render(&wf, "implement", &ctx, &[]).unwrap().text;
    assert!(text.starts_with(&format!("PR #7 {url}\n")), "{text}");
    assert!(
        text.contains(&format!(
            "- Pull request: #7 {url} (your pushes to its branch update it)\n"
        )),
        "{text}"
    );
}

#[test]
fn check_refuses_an_unguarded_pull_request_and_a_typo_inside_the_guard() {
    let unguarded = Fixture::new("", "{{ pull_request.url }}\n");
    let problems = check_all(&unguarded.workflow());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("pull_request"), "{problems:?}");
    let typo = Fixture::new(
        "",
        "{% if pull_request %}{{ pull_request.nubmer }}{% endif %}\n",
    );
    let problems = check_all(&typo.workflow());
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("nubmer"), "{problems:?}");
    let guarded = Fixture::new(
        "",
        "{% if pull_request %}{{ pull_request.number }} {{ pull_request.url }}{% endif %}\n",
    );
    assert_eq!(check_all(&guarded.workflow()), Vec::<String>::new());
}
