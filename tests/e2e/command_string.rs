//! A runner's `command` as a string works for every kind: a single word is the
//! program's path (relative to the workflow's folder when it contains a `/`), a longer
//! line is a shell line that receives the CLI's arguments as `"$@"`. Driven through the
//! real binary with a wrapper script around the fake Claude Code that records its argv.

use std::path::PathBuf;

use super::support::{Scratch, stderr};

/// The quickstart with its `demo` runner turned into a Claude runner whose `command` is
/// `command` (YAML), and `wrapper.sh` beside the workflow exec'ing the fake Claude.
fn scratch(command: &str) -> Scratch {
    let s = Scratch::quickstart();
    let fake = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/runners/fakes/claude");
    s.script(
        "wrapper.sh",
        &format!("#!/bin/sh\nexec '{}' \"$@\"\n", fake.display()),
    );
    let text = std::fs::read_to_string(s.workflow()).unwrap();
    let old = "    kind: command\n    command: [\"./agent.sh\"]\n";
    assert!(text.contains(old));
    let text = text.replace(old, &format!("    kind: claude\n    command: {command}\n"));
    std::fs::write(s.workflow(), text).unwrap();
    s
}

/// Every argv the fake recorded, over all workspaces, one string per invocation with
/// arguments separated by TABs.
fn argvs(s: &Scratch) -> Vec<String> {
    let mut all = vec![];
    let root = s.path().join(".karajan/workspaces");
    for ws in std::fs::read_dir(root).unwrap().flatten() {
        if let Ok(log) = std::fs::read_to_string(ws.path().join("argv.log")) {
            all.extend(log.lines().map(str::to_string));
        }
    }
    all
}

#[test]
fn a_string_command_is_the_program_path_and_every_flag_reaches_it() {
    let s = scratch("./wrapper.sh");
    let out = s.karajan(&["check", "workflow.yaml", "--offline"]);
    assert!(out.status.success(), "{}", stderr(&out));
    s.once();
    let argvs = argvs(&s);
    assert_eq!(argvs.len(), 3, "one run per ticket: {argvs:?}");
    for a in &argvs {
        assert!(
            a.starts_with("-p\t--output-format\tstream-json\t--verbose\t"),
            "the CLI's flags reach the program: {a:?}"
        );
    }
    assert_eq!(s.column("QS-1"), "Human Review");
}

#[test]
fn a_shell_line_command_receives_the_flags_as_its_arguments() {
    let s = scratch("\"./wrapper.sh --from-line\"");
    s.once();
    let argvs = argvs(&s);
    assert_eq!(argvs.len(), 3, "{argvs:?}");
    for a in &argvs {
        assert!(
            a.starts_with("--from-line\t-p\t--output-format\tstream-json\t"),
            "the line's own words, then the CLI's flags: {a:?}"
        );
    }
    assert_eq!(s.column("QS-2"), "Human Review");
}
