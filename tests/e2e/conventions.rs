//! The command line's conventions (issue 15, item 4), with the real binary: every verb
//! finds the workflow the same way (argument, `-w`, `KARAJAN_WORKFLOW`, discovery in the
//! folder and its parents), an empty folder suggests `karajan init`, a bad `--log`
//! filter is a usage error, and `--color` decides whether logs carry ANSI colours.

use std::path::Path;
use std::process::Output;

use super::support::{Scratch, stderr, stdout};

fn karajan(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = crate::e2e::support::command();
    cmd.args(args)
        .current_dir(dir)
        .env_remove("KARAJAN_WORKFLOW")
        .env_remove("KARAJAN_LOG")
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn an_empty_folder_suggests_init_instead_of_a_missing_file_error() {
    let dir = tempfile::tempdir().unwrap();
    for verb in ["run", "check", "status", "verify", "dashboard"] {
        let out = karajan(dir.path(), &[verb], &[]);
        assert_eq!(out.status.code(), Some(3), "{verb}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("no workflow.yaml in"), "{verb}: {err}");
        assert!(err.contains("karajan init"), "{verb}: {err}");
        assert!(!err.contains("is invalid"), "{verb}: {err}");
    }
    let out = karajan(dir.path(), &["history", "QS-1", "-w", "missing.yaml"], &[]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("no workflow at missing.yaml (named by -w/--workflow)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn every_verb_finds_the_workflow_the_same_way() {
    let s = Scratch::quickstart();
    s.once();
    let deep = s.path().join("tickets/sub");
    std::fs::create_dir_all(&deep).unwrap();
    let outside = tempfile::tempdir().unwrap();
    let wf = s.workflow();
    let wf = wf.to_str().unwrap();
    type Case<'a> = (&'a Path, Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        // Discovery from a folder below the workflow.
        (&deep, vec!["history", "QS-1"], vec![]),
        (&deep, vec!["status"], vec![]),
        // The old spellings.
        (
            s.path(),
            vec!["history", "QS-1", "--workflow", "workflow.yaml"],
            vec![],
        ),
        (s.path(), vec!["verify", "workflow.yaml"], vec![]),
        // -w before or after the verb, the variable, a folder for its workflow.yaml.
        (outside.path(), vec!["-w", wf, "history", "QS-1"], vec![]),
        (outside.path(), vec!["verify", "-w", wf], vec![]),
        (
            outside.path(),
            vec!["history", "QS-1"],
            vec![("KARAJAN_WORKFLOW", wf)],
        ),
        (
            outside.path(),
            vec!["status", s.path().to_str().unwrap()],
            vec![],
        ),
    ];
    for (dir, args, env) in cases {
        let out = karajan(dir, &args, &env);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(!stdout(&out).is_empty(), "{args:?}");
    }
    // The argument beats the variable; two different files on one line are refused.
    let out = karajan(
        outside.path(),
        &["verify", wf],
        &[("KARAJAN_WORKFLOW", "/nowhere/workflow.yaml")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = karajan(s.path(), &["check", "workflow.yaml", "-w", "prompts"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("two workflows named"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_log_filter_is_a_usage_error_and_colour_follows_the_flag() {
    let s = Scratch::quickstart();
    for (args, env) in [
        (vec!["--log", "karajan=loud", "check", "--offline"], vec![]),
        (
            vec!["check", "--offline"],
            vec![("KARAJAN_LOG", "karajan=loud")],
        ),
    ] {
        let out = karajan(s.path(), &args, &env);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("not a log filter"), "{err}");
        assert!(err.contains("karajan=loud"), "{err}");
    }
    // With every ticket canceled, `run --once` only logs its start (at info): `-q`
    // silences that, `-v` adds debug lines, `--color` decides the escapes.
    for id in ["QS-1", "QS-2", "QS-3"] {
        s.set_column(id, "Canceled");
    }
    let info = |args: &[&str], env: &[(&str, &str)]| stderr(&karajan(s.path(), args, env));
    let plain = info(&["run", "--once"], &[]);
    assert!(plain.contains("INFO"), "{plain}");
    assert!(
        !plain.contains('\u{1b}'),
        "not a terminal: no colour\n{plain}"
    );
    let coloured = info(
        &["--color", "always", "run", "--once"],
        &[("NO_COLOR", "1")],
    );
    assert!(coloured.contains('\u{1b}'), "{coloured}");
    let never = info(&["run", "--once", "--color", "never"], &[]);
    assert!(!never.contains('\u{1b}'), "{never}");
    let quiet = info(&["run", "--once", "-q"], &[]);
    assert!(!quiet.contains("INFO"), "{quiet}");
    let verbose = info(&["run", "--once", "-vv"], &[]);
    assert!(
        verbose.contains("DEBUG") || verbose.contains("TRACE"),
        "{verbose}"
    );
}
