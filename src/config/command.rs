//! A runner's `command`, in its two written forms, as the argv karajan executes.
//!
//! - A list is the program and its arguments.
//! - A string of one word is the program (as `[word]`).
//! - A longer string is a shell line, run as `sh -c '<line> "$@"' <first word>`: the
//!   arguments a CLI runner adds (`-p --output-format …`) reach the line's command.
//!
//! Either way a relative program path (`./agent.sh`, `bin/agent`: it has a `/`) names a
//! file beside the workflow and is made absolute, since runs happen in the workspace; a
//! bare name is looked up on the agent's `PATH` when it runs.

use std::path::Path;

use super::raw::RawCommand;
use super::schema::join;
use super::validate::Ctx;
use super::workflow::RunnerKind;

/// The runner's argv (empty when missing or invalid: the error is reported in `cx`).
pub(crate) fn command(
    cx: &mut Ctx,
    base: &str,
    kind: Option<RunnerKind>,
    raw: Option<&RawCommand>,
) -> Vec<String> {
    match raw {
        Some(RawCommand::Argv(argv)) if argv.is_empty() || argv[0].trim().is_empty() => {
            cx.errors.push(
                join(base, "command"),
                "the command is empty: give the program and its arguments",
            );
            Vec::new()
        }
        Some(RawCommand::Argv(argv)) => {
            // A relative program path (`./agent.sh`, `bin/agent`) names a file beside the
            // workflow; runs happen in the workspace, so it is made absolute here.
            let mut argv = argv.clone();
            let program = Path::new(&argv[0]);
            if program.is_relative() && argv[0].contains('/') {
                argv[0] = beside(&cx.base_dir, &argv[0]);
            }
            argv
        }
        Some(RawCommand::Shell(s)) if s.trim().is_empty() => {
            cx.errors
                .push(join(base, "command"), "the command is empty");
            Vec::new()
        }
        Some(RawCommand::Shell(s)) => shell_command(&cx.base_dir, s),
        None => {
            if kind == Some(RunnerKind::Command) {
                cx.errors.push(
                    join(base, "command"),
                    "missing key: a `command` runner needs `command` (a list or a shell string)",
                );
            }
            Vec::new()
        }
    }
}

/// The string form of `command`. A single word is the program's path, as the list form
/// `[word]`; any other line is a shell line run by `sh -c` with `"$@"` appended, so the
/// arguments a CLI runner adds (`-p --output-format …`) reach the line's command. Either
/// way a relative program path at the start (`./wrapper.sh`, `bin/agent`) names a file
/// beside the workflow and is made absolute: runs happen in the workspace.
fn shell_command(base_dir: &Path, line: &str) -> Vec<String> {
    let line = line.trim();
    let (first, rest) = line
        .split_once(char::is_whitespace)
        .map_or((line, ""), |(a, b)| (a, b));
    let plain = |w: &str| {
        w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/+@%:,".contains(c))
    };
    let resolved = if plain(first) && first.contains('/') && !first.starts_with('/') {
        Some(beside(base_dir, first))
    } else {
        None
    };
    if rest.is_empty() && plain(first) {
        return vec![resolved.unwrap_or_else(|| first.to_string())];
    }
    let line = match resolved {
        Some(abs) => format!("{} {rest}", shell_quote(&abs)),
        None => line.to_string(),
    };
    // `$0` is the line's first word, so the shell's own messages name it.
    vec![
        "sh".into(),
        "-c".into(),
        format!("{line} \"$@\""),
        first.to_string(),
    ]
}

/// A relative program path made absolute against the workflow's folder (`./` dropped).
fn beside(base_dir: &Path, program: &str) -> String {
    let rel: std::path::PathBuf = Path::new(program)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    base_dir.join(rel).display().to_string()
}

/// `s` as one single-quoted shell word.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
