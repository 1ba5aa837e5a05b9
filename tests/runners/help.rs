//! The argv each runner builds, for a maximal config, and — when the real CLI is
//! installed — the check that every flag in it is one the real CLI accepts.
//!
//! Set `KARAJAN_REAL_CLAUDE`, `KARAJAN_REAL_CODEX`, `KARAJAN_REAL_GEMINI` to the CLIs'
//! paths (`.ci/install-agent-clis` installs them and prints the exports). Each flag
//! must appear in the CLI's `--help` (`codex exec --help` / `codex exec resume --help`),
//! and so must the value of every enumerated flag. A flag a CLI accepts without listing
//! it (Claude Code's `--max-turns`) is checked by running the CLI with that flag and an
//! unknown probe flag: the parser must complain about the probe only. Both work offline.

use std::process::{Command, Stdio};

use karajan::agent::RunRequest;
use karajan::agent::settings::{
    ClaudeMode, ClaudePermission, CliSettings, CodexSandbox, GeminiApproval,
};
use karajan::config::{RunnerConfig, RunnerKind};

use super::{Fixture, config, runner};

/// Flags Claude Code accepts but does not list in `--help`.
const CLAUDE_HIDDEN: &[&str] = &["--max-turns"];

fn maximal(kind: RunnerKind, variant: u8) -> RunnerConfig {
    let cli = match kind {
        RunnerKind::Claude => CliSettings {
            permission_mode: Some(if variant == 0 {
                ClaudePermission::Mode(ClaudeMode::AcceptEdits)
            } else {
                ClaudePermission::Skip
            }),
            allowed_tools: vec!["Bash(git *)".into(), "Edit".into()],
            append_system_prompt: Some("Be brief.".into()),
            ..Default::default()
        },
        RunnerKind::Codex => CliSettings {
            sandbox: Some(if variant == 0 {
                CodexSandbox::WorkspaceWrite
            } else {
                CodexSandbox::Bypass
            }),
            ..Default::default()
        },
        _ => CliSettings {
            approval_mode: Some(GeminiApproval::AutoEdit),
            ..Default::default()
        },
    };
    let mut cfg = config(kind, vec![], cli);
    cfg.model = Some(
        match kind {
            RunnerKind::Claude => "claude-sonnet-4-5",
            RunnerKind::Codex => "gpt-5-codex",
            _ => "gemini-2.5-pro",
        }
        .into(),
    );
    cfg
}

fn request(resume: Option<&str>) -> RunRequest {
    let fx = Fixture::new();
    let mut req = fx.request("success", "x");
    req.resume_session = resume.map(str::to_string);
    req.max_turns = 7;
    req.max_cost_usd = Some(2.5);
    req
}

/// Every argv a runner of `kind` can build: each variant, fresh and resumed.
fn argvs(kind: RunnerKind) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for variant in 0..2 {
        let r = runner(&maximal(kind, variant));
        for resume in [None, Some("0b7e1c2a-0000-4000-8000-000000000001")] {
            out.push(r.command_line(&request(resume)));
        }
    }
    out
}

#[test]
fn claude_argv_for_a_maximal_config() {
    let all = argvs(RunnerKind::Claude);
    assert_eq!(
        all[1],
        [
            "claude",
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--model",
            "claude-sonnet-4-5",
            "--max-turns",
            "7",
            "--max-budget-usd",
            "2.5",
            "--permission-mode",
            "acceptEdits",
            "--allowedTools",
            "Bash(git *),Edit",
            "--append-system-prompt",
            "Be brief.",
            "--resume",
            "0b7e1c2a-0000-4000-8000-000000000001",
        ]
    );
    assert!(all[2].contains(&"--dangerously-skip-permissions".to_string()));
    assert!(!all[2].contains(&"--permission-mode".to_string()));
}

#[test]
fn codex_argv_for_a_maximal_config() {
    let all = argvs(RunnerKind::Codex);
    assert_eq!(
        all[0],
        [
            "codex",
            "exec",
            "--json",
            "--model",
            "gpt-5-codex",
            "--sandbox",
            "workspace-write",
            "-"
        ]
    );
    assert_eq!(
        all[1],
        [
            "codex",
            "exec",
            "resume",
            "--json",
            "--model",
            "gpt-5-codex",
            "-c",
            "sandbox_mode=\"workspace-write\"",
            "0b7e1c2a-0000-4000-8000-000000000001",
            "-",
        ]
    );
    assert!(all[2].contains(&"--dangerously-bypass-approvals-and-sandbox".to_string()));
    assert!(!all.iter().flatten().any(|a| a == "--full-auto"));
}

#[test]
fn gemini_argv_for_a_maximal_config() {
    let all = argvs(RunnerKind::Gemini);
    assert_eq!(
        all[1],
        [
            "gemini",
            "-p",
            "",
            "--output-format",
            "stream-json",
            "--model",
            "gemini-2.5-pro",
            "--approval-mode",
            "auto_edit",
            "--resume",
            "0b7e1c2a-0000-4000-8000-000000000001",
        ]
    );
}

#[test]
fn a_codex_runner_never_passes_a_claude_model() {
    let mut cfg = config(RunnerKind::Codex, vec![], Default::default());
    cfg.model = Some("claude-opus-4-1".into());
    let argv = runner(&cfg).command_line(&request(None));
    assert!(
        !argv.iter().any(|a| a.contains("claude") || a == "--model"),
        "{argv:?}"
    );
    let problems = cfg.cli.problems(cfg.kind, cfg.model.as_deref());
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].0, "model");
}

fn help(cli: &str, args: &[&str]) -> String {
    let out = Command::new(cli)
        .args(args)
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cli}: {e}"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether `help` lists `flag` as a whole word.
fn lists(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(i, _)| {
        let before = help[..i].chars().next_back();
        let after = help[i + flag.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '-')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
    })
}

/// Flags whose next argument is one of a documented set of choices.
const ENUMERATED: &[&str] = &[
    "--permission-mode",
    "--sandbox",
    "--approval-mode",
    "--output-format",
];

fn check_argv(cli: &str, argv: &[String], help: &str) {
    for (i, arg) in argv.iter().enumerate().skip(1) {
        if !arg.starts_with('-') || arg == "-" {
            continue;
        }
        if lists(help, arg) {
            if ENUMERATED.contains(&arg.as_str()) {
                let value = &argv[i + 1];
                assert!(
                    lists(help, value),
                    "{cli}: value `{value}` of {arg} is not in its help"
                );
            }
            continue;
        }
        assert!(
            CLAUDE_HIDDEN.contains(&arg.as_str()),
            "{cli}: flag {arg} is not in its help"
        );
        // Accepted though unlisted: the parser must reject only the probe.
        let out = Command::new(cli)
            .args(["-p", arg.as_str(), "1", "--karajan-probe-unknown"])
            .stdin(Stdio::null())
            .output()
            .expect("run cli");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("--karajan-probe-unknown"),
            "{cli}: probe not rejected: {text}"
        );
        assert!(
            !text.contains(&format!("'{arg}'")),
            "{cli}: {arg} rejected: {text}"
        );
    }
}

fn real(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            eprintln!(
                "SKIPPED: {var} is not set; the real CLI's help was not checked (run .ci/install-agent-clis)"
            );
            None
        }
    }
}

#[test]
fn claude_flags_are_in_the_real_help() {
    let Some(cli) = real("KARAJAN_REAL_CLAUDE") else {
        return;
    };
    let help = help(&cli, &[]);
    assert!(
        help.contains("--output-format"),
        "not Claude Code's help: {help}"
    );
    for argv in argvs(RunnerKind::Claude) {
        check_argv(&cli, &argv, &help);
    }
}

#[test]
fn codex_flags_are_in_the_real_help() {
    let Some(cli) = real("KARAJAN_REAL_CODEX") else {
        return;
    };
    let exec = help(&cli, &["exec"]);
    let resume = help(&cli, &["exec", "resume"]);
    assert!(
        exec.contains("--json") && resume.contains("SESSION_ID"),
        "{exec}\n{resume}"
    );
    for argv in argvs(RunnerKind::Codex) {
        let h = if argv[2] == "resume" { &resume } else { &exec };
        check_argv(&cli, &argv, h);
    }
}

#[test]
fn gemini_flags_are_in_the_real_help() {
    let Some(cli) = real("KARAJAN_REAL_GEMINI") else {
        return;
    };
    let help = help(&cli, &[]);
    assert!(
        help.contains("--approval-mode"),
        "not Gemini CLI's help: {help}"
    );
    for argv in argvs(RunnerKind::Gemini) {
        check_argv(&cli, &argv, &help);
    }
}
