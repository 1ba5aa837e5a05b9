//! No secret leaves karajan through what it records, logs or writes to the tracker:
//! an agent that prints the token it was given (in its JSON events and in the error it
//! dies with) must not carry it into the event chain, the failure reason, the
//! escalation comment on the ticket, `history`, or karajan's own log.

use super::support::{Scratch, events};

/// A secret with the characters that escaping turns into something else.
const TOKEN: &str = "s3cr3t/ab+cd&e<f>g=";

#[test]
fn a_secret_an_agent_prints_reaches_no_record_log_or_comment() {
    let s = Scratch::quickstart();
    for f in ["QS-2", "QS-3"] {
        std::fs::remove_file(s.path().join(format!("tickets/{f}.md"))).unwrap();
    }
    s.script(
        "leaky.sh",
        "#!/bin/sh\ncat >/dev/null\necho \"{\\\"type\\\":\\\"note\\\",\\\"text\\\":\\\"using $TOKEN\\\"}\"\necho \"request with $TOKEN was refused\" >&2\nexit 1\n",
    );
    let wf = std::fs::read_to_string(s.workflow())
        .unwrap()
        .replacen(
            "command: [\"./agent.sh\"]",
            "command: [\"./leaky.sh\"]\n    env:\n      TOKEN: $KARAJAN_TEST_TOKEN",
            1,
        )
        .replacen("max_attempts: 3", "max_attempts: 1", 1);
    std::fs::write(s.workflow(), wf).unwrap();
    let karajan = |args: &[&str]| {
        crate::e2e::support::command()
            .args(args)
            .current_dir(s.path())
            .env("KARAJAN_LOG", "debug")
            .env("KARAJAN_TEST_TOKEN", TOKEN)
            .output()
            .unwrap()
    };
    let run = karajan(&["run", "workflow.yaml", "--once"]);
    assert_eq!(run.status.code(), Some(6), "the ticket escalates");
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let history = karajan(&["history", "QS-1"]);
    let history = String::from_utf8_lossy(&history.stdout).to_string();
    let exports: String = [
        &["logs", "QS-1"][..],
        &["logs", "QS-1", "--stderr"][..],
        &["history", "QS-1", "--json"][..],
        &["status", "--json"][..],
        &["runs", "--json"][..],
    ]
    .iter()
    .map(|args| String::from_utf8_lossy(&karajan(args).stdout).to_string())
    .collect();
    assert!(
        exports.contains("request with [redacted] was refused"),
        "the JSON exports quote the reason, blanked: {exports}"
    );
    assert!(
        exports.contains("using [redacted]"),
        "`logs` prints the agent's output, blanked: {exports}"
    );
    let ticket = s.read_ticket("QS-1");
    let chain = serde_json::to_string(&events(&s.db())).unwrap();

    // The secret did flow: the agent's event, its failure reason and the escalation
    // comment all quote it, blanked.
    let agent_event = events(&s.db())
        .into_iter()
        .find(|(k, _, _)| k == "agent_event")
        .expect("the agent's JSON event is recorded");
    assert_eq!(agent_event.2["event"]["text"], "using [redacted]");
    assert!(
        history.contains("request with [redacted] was refused"),
        "{history}"
    );
    assert!(
        ticket.contains("request with [redacted] was refused"),
        "the escalation comment quotes the reason: {ticket}"
    );
    for (surface, text) in [
        ("the event chain", &chain),
        ("karajan's log and summary", &logs),
        ("history", &history),
        ("`logs` and the JSON exports", &exports),
        ("the ticket's comments", &ticket),
    ] {
        assert!(!text.contains(TOKEN), "the secret is in {surface}: {text}");
    }
}
