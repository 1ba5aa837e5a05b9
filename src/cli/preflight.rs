//! What `check` and `run --dry-run` verify beyond the workflow's own validity: that what
//! it names exists on this machine, so a run does not fail on it later. Nothing here
//! writes anywhere or touches the network.
//!
//! - the repository opens: a local path is a git repository; a URL at least parses
//!   (`file://` URLs are opened like local paths); the same for the forge's remote when
//!   it is not the repository itself (a `kind: git` forge pushing to a local path);
//! - each agent state's runner program resolves: a path is an executable file, a bare
//!   name is found on the `PATH` the agent will see (the runner's own `PATH`, else
//!   karajan's); for a shell line (`sh -c …`) its first word too;
//! - every `$VAR` a runner's shell line uses is set in the agent's environment (the
//!   allowlist, `inherit_env`, the runner's `env`, karajan's `KARAJAN_*` metadata).
//!
//! Problems are errors (the verb exits 3). (The branch-name warning lives with the
//! branch rules, `workspace::branch_warnings`.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::config::{RunnerConfig, RunnerKind, Workflow};

/// Every problem that would make a run fail, each naming what and where.
pub(crate) fn problems(wf: &Workflow) -> Vec<String> {
    let mut found = Vec::new();
    if let Err(e) = repository(&wf.workspace.repo) {
        found.push(format!("workspace.repo: {e}"));
    }
    if let Some(forge) = &wf.forge
        && forge.remote != wf.workspace.repo
        && let Err(e) = repository(&forge.remote)
    {
        found.push(format!("forge.remote: {e}"));
    }
    let mut seen = BTreeSet::new();
    for name in wf.states.keys() {
        let Some(agent) = wf.agent_state(name) else {
            continue;
        };
        for p in runner_problems(&agent.runner, &wf.base_dir) {
            let p = format!("runner `{}` (state `{name}`): {p}", agent.runner.name);
            if seen.insert(p.clone()) {
                found.push(p);
            }
        }
    }
    found
}

/// Print `problems` (and return `Err(exit)`), or nothing.
pub(crate) fn report(wf: &Workflow) -> Result<(), super::Exit> {
    let found = problems(wf);
    if found.is_empty() {
        return Ok(());
    }
    eprintln!(
        "karajan: {} cannot run as it is ({} problem{}):",
        wf.path.display(),
        found.len(),
        if found.len() == 1 { "" } else { "s" }
    );
    for p in &found {
        eprintln!("  - {p}");
    }
    Err(super::Exit::Config)
}

/// The repository can be opened (local) or at least its URL parses (remote).
fn repository(repo: &str) -> Result<(), String> {
    let local = if let Some(rest) = repo.strip_prefix("file://") {
        PathBuf::from(rest)
    } else if repo.contains("://") {
        return match reqwest::Url::parse(repo) {
            Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
            Ok(_) => Err(format!("`{repo}` has no host")),
            Err(e) => Err(format!("`{repo}` is not a valid URL: {e}")),
        };
    } else if let Some(rest) = repo.strip_prefix("git@") {
        // scp-like `git@host:owner/repo.git`.
        return match rest.split_once(':') {
            Some((host, path)) if !host.is_empty() && !path.is_empty() => Ok(()),
            _ => Err(format!("`{repo}` is not a valid `git@host:path` address")),
        };
    } else {
        PathBuf::from(repo)
    };
    if !local.exists() {
        return Err(format!(
            "the repository `{}` does not exist",
            local.display()
        ));
    }
    git2::Repository::open(&local).map(|_| ()).map_err(|e| {
        format!(
            "`{}` is not a git repository: {}",
            local.display(),
            e.message()
        )
    })
}

/// Shells whose `-c` argument is a script karajan can look into.
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh"];

/// The runner's program (and a shell line's first word) and the variables its shell
/// line needs.
fn runner_problems(runner: &RunnerConfig, base_dir: &Path) -> Vec<String> {
    let env = crate::agent::env::build_env_from(runner, &[], |n| std::env::var(n).ok());
    let lookup = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let path_var = lookup("PATH").map(str::to_string);
    let mut found = Vec::new();
    let program = match runner.command.first() {
        Some(p) => p.clone(),
        None => match runner.kind {
            RunnerKind::Claude => "claude".into(),
            RunnerKind::Codex => "codex".into(),
            RunnerKind::Gemini => "gemini".into(),
            RunnerKind::Command => return vec!["the command is empty".into()],
        },
    };
    if let Err(e) = resolve(&program, path_var.as_deref(), base_dir) {
        found.push(e);
    }
    let is_shell = Path::new(&program)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| SHELLS.contains(&n));
    if is_shell && runner.command.get(1).map(String::as_str) == Some("-c") {
        if let Some(script) = runner.command.get(2) {
            if let Some(first) = first_word(script)
                && let Err(e) = resolve(&first, path_var.as_deref(), base_dir)
            {
                found.push(e);
            }
            for var in needed_vars(script) {
                if lookup(&var).is_none() && !var.starts_with("KARAJAN_") {
                    found.push(format!(
                        "`${var}` in its command is not set in the agent's environment \
                         (set it in the runner's `env`, or list it in `inherit_env` and set it for karajan)"
                    ));
                }
            }
        }
    }
    found
}

/// Where `program` is: a path (with a `/`) must be an executable file; a bare name is
/// looked up in `path_var`.
fn resolve(program: &str, path_var: Option<&str>, base_dir: &Path) -> Result<PathBuf, String> {
    if program.contains('/') {
        let p = match program.strip_prefix("~/") {
            Some(rest) => std::env::var_os("HOME")
                .map_or_else(|| PathBuf::from(program), |h| PathBuf::from(h).join(rest)),
            None => base_dir.join(program),
        };
        return match executable(&p) {
            Ok(()) => Ok(p),
            Err(why) => Err(format!("program `{program}` {why} ({})", p.display())),
        };
    }
    let dirs: Vec<PathBuf> = path_var
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    dirs.iter()
        .map(|d| d.join(program))
        .find(|p| executable(p).is_ok())
        .ok_or_else(|| format!("program `{program}` is not on the agent's PATH"))
}

fn executable(p: &Path) -> Result<(), &'static str> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(p).map_err(|_| "does not exist")?;
    if !meta.is_file() {
        return Err("is not a file");
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err("is not executable");
    }
    Ok(())
}

/// Shell words that are not programs on the `PATH`.
const BUILTINS: &[&str] = &[
    ".", ":", "[", "alias", "break", "case", "cd", "command", "continue", "eval", "exec", "exit",
    "export", "false", "for", "if", "read", "return", "set", "shift", "source", "test", "trap",
    "true", "umask", "unset", "until", "wait", "while", "{", "(", "!",
];

/// A shell line's first word, when it is a plain program (not a builtin, keyword,
/// assignment or expansion): `'/abs/path' …` (as karajan quotes a resolved path) or a
/// word of safe characters.
fn first_word(script: &str) -> Option<String> {
    let s = script.trim_start();
    if let Some(rest) = s.strip_prefix('\'') {
        return rest.split_once('\'').map(|(w, _)| w.to_string());
    }
    let w = s.split(|c: char| c.is_whitespace() || c == ';').next()?;
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/+@%:,".contains(c));
    (plain && !BUILTINS.contains(&w)).then(|| w.to_string())
}

/// The variables a shell line expands without a default (`$X`, `${X}`; not `${X:-d}`,
/// not inside single quotes, not positional or special parameters, not names the line
/// assigns itself).
fn needed_vars(script: &str) -> Vec<String> {
    let chars: Vec<char> = script.chars().collect();
    let name_at = |mut i: usize| {
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        let name: String = chars[start..i].iter().collect();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        (valid.then_some(name), i)
    };
    let mut vars = Vec::new();
    let mut assigned = BTreeSet::new();
    let (mut i, mut quoted) = (0, false);
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            quoted = !quoted;
        } else if !quoted && c == '$' {
            let braced = chars.get(i + 1) == Some(&'{');
            let (name, end) = name_at(i + 1 + usize::from(braced));
            let has_default = braced && matches!(chars.get(end), Some(':' | '-' | '=' | '+' | '?'));
            if let Some(n) = name.filter(|_| !has_default) {
                if !vars.contains(&n) {
                    vars.push(n);
                }
            }
            i = end;
            continue;
        } else if !quoted && (c.is_ascii_alphabetic() || c == '_') {
            let at_word_start =
                i == 0 || !(chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '_');
            let (name, end) = name_at(i);
            if let Some(n) = name.filter(|_| at_word_start) {
                if chars.get(end) == Some(&'=') {
                    assigned.insert(n);
                } else if n == "for" || n == "read" {
                    let rest: String = chars[end..].iter().collect();
                    if let Some(v) = rest.split_whitespace().next() {
                        assigned.insert(v.to_string());
                    }
                }
            }
            i = end;
            continue;
        }
        i += 1;
    }
    vars.retain(|v| !assigned.contains(v));
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shell_lines_variables_are_those_it_expands_without_default() {
        assert_eq!(
            needed_vars("$AGENT_HOME/run --x \"${TOKEN}\" ${OPT:-d} '$NOT' $1 \"$@\""),
            ["AGENT_HOME", "TOKEN"]
        );
        assert_eq!(
            needed_vars("X=1; echo $X; for f in a; do echo $f; done"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_shell_lines_first_word_is_its_program_unless_a_builtin() {
        assert_eq!(first_word("'/a b/c' --x \"$@\"").as_deref(), Some("/a b/c"));
        assert_eq!(first_word("python3 agent.py").as_deref(), Some("python3"));
        assert_eq!(first_word("cd x && ./a"), None);
        assert_eq!(first_word("X=1 ./a"), None);
        assert_eq!(first_word("$HOME/a"), None);
    }

    #[test]
    fn programs_resolve_on_path_or_as_paths() {
        let dir = tempfile::tempdir().unwrap();
        assert!(resolve("sh", std::env::var("PATH").ok().as_deref(), dir.path()).is_ok());
        let e = resolve("no-such-agent-xyz", Some("/usr/bin:/bin"), dir.path()).unwrap_err();
        assert!(e.contains("no-such-agent-xyz") && e.contains("PATH"), "{e}");
        let e = resolve("./missing.sh", None, dir.path()).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        std::fs::write(dir.path().join("plain.sh"), "#!/bin/sh\n").unwrap();
        let e = resolve("./plain.sh", None, dir.path()).unwrap_err();
        assert!(e.contains("not executable"), "{e}");
    }
}
