//! A reviewer agent's verdict routes the ticket (issue 13), with the real binary on the
//! quickstart: implement → review (an agent with `verdicts:`) → the human gate → …
//! The reviewer asks for revision once with two findings, which reach the
//! implementer's next prompt, then approves; a reviewer that writes no verdict, or a
//! broken one, never lets the work through.

use super::support::{Scratch, count, events};

/// The quickstart with a `review` agent state between implement and the gate, run by
/// `reviewer.sh` (a different family from the implementer's runner).
fn with_reviewer(s: &Scratch, script: &str, max_rounds: u32) {
    s.script("reviewer.sh", script);
    std::fs::write(
        s.path().join("prompts/review.md"),
        "Review the work on {{ issue.identifier }}.\n",
    )
    .unwrap();
    let wf = std::fs::read_to_string(s.workflow()).unwrap();
    let wf = wf
        .replace(
            "runners:\n  demo:\n    kind: command\n    command: [\"./agent.sh\"]\n",
            "runners:\n  demo:\n    kind: command\n    command: [\"./agent.sh\"]\n    family: builder\n  critic:\n    kind: command\n    command: [\"./reviewer.sh\"]\n    family: critic\n",
        )
        .replace(
            "    prompt: prompts/implement.md\n    next: review\n",
            &format!(
                "    prompt: prompts/implement.md\n    next: check\n  check:\n    kind: agent\n    runner: critic\n    prompt: prompts/review.md\n    independent_of: implement\n    verdicts:\n      approve: review\n      needs_revision: implement\n    max_rounds: {max_rounds}\n"
            ),
        );
    assert!(wf.contains("  check:\n"), "{wf}");
    std::fs::write(s.workflow(), wf).unwrap();
    for t in ["QS-2", "QS-3"] {
        s.set_column(t, "Canceled");
    }
}

/// `run --once` until QS-1 waits for a human (each `--once` is one round of runs: an
/// agent state after an agent state runs in the next one); their stderr.
fn rounds(s: &Scratch) -> String {
    let mut all = String::new();
    for _ in 0..8 {
        let out = s.karajan(&["run", "workflow.yaml", "--once"]);
        all.push_str(&String::from_utf8_lossy(&out.stderr));
        if s.column("QS-1") == "Human Review" {
            break;
        }
    }
    all
}

/// The `verdict` events (only QS-1 runs: the others are canceled), in order.
fn verdicts(evs: &[(String, Option<String>, serde_json::Value)]) -> Vec<&serde_json::Value> {
    evs.iter()
        .filter(|(k, _, _)| k == "verdict")
        .map(|(_, _, e)| e)
        .collect()
}

/// The prompts the implementer received, in run order.
fn implement_prompts(s: &Scratch) -> Vec<String> {
    let evs = events(&s.db());
    evs.iter()
        .filter(|(k, _, e)| k == "run_started" && e["state"] == "implement")
        .map(|(_, _, e)| {
            let dir = e["log_dir"].as_str().unwrap();
            std::fs::read_to_string(std::path::Path::new(dir).join("prompt.md")).unwrap()
        })
        .collect()
}

#[test]
fn a_reviewer_sends_the_work_back_with_its_findings_then_approves() {
    let s = Scratch::quickstart();
    with_reviewer(
        &s,
        r#"#!/bin/sh
cat > /dev/null
if [ "$KARAJAN_RUN_NUMBER" = 1 ]; then
  printf '%s' '{"verdict":"needs_revision","summary":"Not yet.","findings":[{"path":"notes/QS-1.md","line":3,"severity":"error","text":"the greeting is missing"},{"severity":"note","text":"say hello to newcomers"}]}' > "$KARAJAN_VERDICT_FILE"
else
  printf '%s' '{"verdict":"approve","summary":"Good now."}' > "$KARAJAN_VERDICT_FILE"
fi
"#,
        3,
    );
    // The implementer's prompt reads the review's variables.
    let implement = s.path().join("prompts/implement.md");
    let mut tpl = std::fs::read_to_string(&implement).unwrap();
    tpl.push_str(
        "{% if review %}REVIEW round={{ review.round }} summary={{ review.summary }}\n\
         {% for f in review.findings %}FINDING {{ f.path }}|{{ f.line }}|{{ f.severity }}|{{ f.text }}\n{% endfor %}{% endif %}",
    );
    std::fs::write(&implement, tpl).unwrap();
    let out = rounds(&s);
    assert_eq!(s.column("QS-1"), "Human Review", "{out}");
    let evs = events(&s.db());
    let transitions: Vec<(String, String)> = evs
        .iter()
        .filter(|(k, i, _)| k == "transition" && i.as_deref() == Some("QS-1"))
        .map(|(_, _, e)| {
            (
                e["to"].as_str().unwrap().to_string(),
                e["cause"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let to: Vec<&str> = transitions.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        to,
        ["implement", "check", "implement", "check", "review"],
        "{transitions:?}"
    );
    let prompts = implement_prompts(&s);
    assert_eq!(prompts.len(), 2);
    assert!(!prompts[0].contains("the greeting is missing"));
    assert!(!prompts[0].contains("REVIEW round="), "{}", prompts[0]);
    for needle in [
        "Not yet.",
        "notes/QS-1.md:3 [error] the greeting is missing",
        "[note] say hello to newcomers",
        "REVIEW round=1 summary=Not yet.",
        "FINDING notes/QS-1.md|3|error|the greeting is missing",
        "FINDING None|None|note|say hello to newcomers",
    ] {
        assert!(prompts[1].contains(needle), "{needle}: {}", prompts[1]);
    }
    // The reviewer's prompt tells it how to give its verdict.
    let review_dir = evs
        .iter()
        .find(|(k, _, e)| k == "run_started" && e["state"] == "check")
        .map(|(_, _, e)| e["log_dir"].as_str().unwrap().to_string())
        .unwrap();
    let review_prompt =
        std::fs::read_to_string(std::path::Path::new(&review_dir).join("prompt.md")).unwrap();
    assert!(
        review_prompt.contains("KARAJAN_VERDICT_FILE"),
        "{review_prompt}"
    );
    // The verdict file is outside the repository: nothing of it was committed.
    let phases: Vec<&serde_json::Value> = evs
        .iter()
        .filter(|(k, _, e)| k == "run_finished" && e["phase_after"]["verdict"].is_object())
        .map(|(_, _, e)| &e["phase_after"]["verdict"])
        .collect();
    assert_eq!(phases.len(), 2, "each verdict is recorded with its run");
    assert_eq!(phases[0]["verdict"], "needs_revision");
    assert_eq!(phases[0]["findings"].as_array().unwrap().len(), 2);
    assert_eq!(phases[1]["verdict"], "approve");
    // Each verdict is an event of its own: verdict, summary, findings by count and
    // digest, the reviewer's runner and where it was found.
    let given = verdicts(&evs);
    assert_eq!(given.len(), 2, "{given:?}");
    assert_eq!(given[0]["verdict"], "needs_revision");
    assert_eq!(given[0]["summary"], "Not yet.");
    assert_eq!(given[0]["findings"], 2);
    assert_eq!(given[0]["findings_digest"].as_str().unwrap().len(), 64);
    assert_eq!(given[0]["runner"], "critic");
    assert_eq!(given[0]["source"], "file");
    assert_eq!(given[1]["verdict"], "approve");
    assert_eq!(given[1]["findings"], 0);
    // history and the ticket's comments say it.
    let history = s.karajan(&["history", "QS-1", "--workflow", "workflow.yaml"]);
    let history = String::from_utf8_lossy(&history.stdout).to_string();
    assert!(
        history.contains("needs revision (2 findings) from critic via file: Not yet."),
        "{history}"
    );
    assert!(
        history.contains("approve (0 findings) from critic"),
        "{history}"
    );
    let ticket = s.read_ticket("QS-1");
    assert!(
        ticket.contains("The reviewer asks for revision (round 1 of 3)")
            && ticket.contains("- notes/QS-1.md:3 [error] the greeting is missing")
            && ticket.contains("The reviewer approved:"),
        "{ticket}"
    );
    // The human approves at the gate: finalize runs and the ticket is done.
    s.set_column("QS-1", "Approved");
    for _ in 0..4 {
        s.karajan(&["run", "workflow.yaml", "--once"]);
        if s.column("QS-1") == "Done" {
            break;
        }
    }
    assert_eq!(s.column("QS-1"), "Done");
}

#[test]
fn a_verdict_in_the_final_message_counts_when_there_is_no_file() {
    let s = Scratch::quickstart();
    with_reviewer(
        &s,
        "#!/bin/sh\ncat > /dev/null\necho 'I read the diff.'\necho '```json'\necho '{\"verdict\":\"needs_revision\",\"summary\":\"Early draft.\"}'\necho '```'\necho 'Final answer:'\necho '```json'\necho '{\"verdict\":\"approve\",\"summary\":\"Fine by me.\"}'\necho '```'\n",
        3,
    );
    let out = rounds(&s);
    assert_eq!(s.column("QS-1"), "Human Review", "{out}");
    let evs = events(&s.db());
    let given = verdicts(&evs);
    assert_eq!(given.len(), 1, "{given:?}");
    assert_eq!(given[0]["verdict"], "approve", "the last block counts");
    assert_eq!(given[0]["summary"], "Fine by me.");
    assert_eq!(given[0]["source"], "message");
}

#[test]
fn a_crash_between_the_reviewers_exit_and_its_verdict_is_recovered_once() {
    let s = Scratch::quickstart();
    let flag = s.path().join("killed-once");
    // The first review writes a verdict, then kills the daemon (SIGKILL) before it can
    // record the run: that verdict is never recorded. The retried review approves.
    with_reviewer(
        &s,
        &format!(
            "#!/bin/sh\ncat > /dev/null\nif [ ! -e '{flag}' ]; then\n  touch '{flag}'\n  echo '{{\"verdict\":\"needs_revision\",\"summary\":\"lost\"}}' > \"$KARAJAN_VERDICT_FILE\"\n  kill -9 $PPID\n  exit 0\nfi\necho '{{\"verdict\":\"approve\",\"summary\":\"after the crash\"}}' > \"$KARAJAN_VERDICT_FILE\"\n",
            flag = flag.display()
        ),
        3,
    );
    let out = rounds(&s);
    assert!(flag.exists(), "the reviewer never ran: {out}");
    assert_eq!(s.column("QS-1"), "Human Review", "{out}");
    let evs = events(&s.db());
    let given = verdicts(&evs);
    assert_eq!(given.len(), 1, "exactly one verdict recorded: {given:?}");
    assert_eq!(given[0]["summary"], "after the crash");
    let to: Vec<&str> = evs
        .iter()
        .filter(|(k, i, _)| k == "transition" && i.as_deref() == Some("QS-1"))
        .map(|(_, _, e)| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(to, ["implement", "check", "review"], "routed exactly once");
    let interrupted = evs
        .iter()
        .filter(|(k, _, e)| k == "run_finished" && e["status"] == "interrupted")
        .count();
    assert_eq!(
        interrupted, 1,
        "the killed review is recorded as interrupted"
    );
    let verify = s.karajan(&["verify", "workflow.yaml"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[test]
fn no_verdict_or_a_broken_one_never_approves() {
    for (name, script) in [
        ("silent", "#!/bin/sh\ncat > /dev/null\n"),
        (
            "broken",
            "#!/bin/sh\ncat > /dev/null\necho '{\"verdict\": \"lgtm\"}' > \"$KARAJAN_VERDICT_FILE\"\n",
        ),
    ] {
        let s = Scratch::quickstart();
        with_reviewer(&s, script, 3);
        rounds(&s);
        let evs = events(&s.db());
        let reached_gate = evs.iter().any(|(k, i, e)| {
            k == "transition" && i.as_deref() == Some("QS-1") && e["to"] == "review"
        });
        assert!(
            !reached_gate,
            "{name}: a review without a valid verdict let the work through"
        );
        let failed = evs
            .iter()
            .filter(|(k, _, e)| k == "run_finished" && e["status"] == "failed")
            .count();
        assert!(failed >= 1, "{name}: the review counts as a failed attempt");
        // Retried later as an attempt (backoff), never approved meanwhile.
        let retrying = evs
            .iter()
            .any(|(k, _, e)| k == "run_finished" && e["phase_after"]["phase"] == "retry_waiting");
        assert!(retrying || count(&evs, "escalated", "QS-1") >= 1, "{name}");
        let reason = evs
            .iter()
            .find(|(k, _, e)| k == "run_finished" && e["status"] == "failed")
            .map(|(_, _, e)| e["reason"].to_string())
            .unwrap_or_default();
        let expected = if name == "silent" {
            "without a verdict"
        } else {
            "unknown verdict"
        };
        assert!(reason.contains(expected), "{name}: {reason}");
    }
}

#[test]
fn the_round_past_max_rounds_goes_to_a_human_with_the_findings() {
    let s = Scratch::quickstart();
    with_reviewer(
        &s,
        "#!/bin/sh\ncat > /dev/null\necho '{\"verdict\":\"needs_revision\",\"summary\":\"Still wrong.\"}' > \"$KARAJAN_VERDICT_FILE\"\n",
        1,
    );
    rounds(&s);
    let evs = events(&s.db());
    let reviews = evs
        .iter()
        .filter(|(k, _, e)| k == "run_started" && e["state"] == "check")
        .count();
    assert_eq!(reviews, 2, "one revision allowed, then a human");
    let reason = evs
        .iter()
        .find(|(k, i, _)| k == "escalated" && i.as_deref() == Some("QS-1"))
        .map(|(_, _, e)| e["reason"].as_str().unwrap().to_string())
        .expect("escalated");
    assert!(
        reason.contains("max_rounds") && reason.contains("Still wrong."),
        "{reason}"
    );
    assert_eq!(s.column("QS-1"), "Human Review");
}

#[test]
fn a_failing_after_run_hook_blocks_an_approving_verdict_when_the_state_says_so() {
    let s = Scratch::quickstart();
    with_reviewer(
        &s,
        "#!/bin/sh\ncat > /dev/null\necho '{\"verdict\":\"approve\"}' > \"$KARAJAN_VERDICT_FILE\"\n",
        3,
    );
    let wf = std::fs::read_to_string(s.workflow()).unwrap();
    let wf = wf.replace(
        "    max_rounds: 3\n",
        "    max_rounds: 3\n    after_run_must_pass: true\n    hooks:\n      after_run: \"echo tests failed; exit 1\"\n",
    );
    assert!(wf.contains("after_run_must_pass"));
    std::fs::write(s.workflow(), wf).unwrap();
    rounds(&s);
    let evs = events(&s.db());
    let reached_gate = evs
        .iter()
        .any(|(k, i, e)| k == "transition" && i.as_deref() == Some("QS-1") && e["to"] == "review");
    assert!(
        !reached_gate,
        "an approval with failing tests let the work through"
    );
    let reason = evs
        .iter()
        .find(|(k, _, e)| k == "run_finished" && e["status"] == "failed")
        .map(|(_, _, e)| e["reason"].to_string())
        .unwrap_or_default();
    assert!(reason.contains("after_run"), "{reason}");
}
