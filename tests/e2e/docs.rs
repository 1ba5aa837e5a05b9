//! `karajan completions SHELL` and `karajan man` (issue 15, item 5): each shell gets a
//! script that names every verb and the global flags (bash's also parses), and the
//! manual page names every verb; `man --dir` writes one page per verb.

use super::support::{Scratch, stderr, stdout};

const VERBS: &[&str] = &[
    "run",
    "check",
    "verify",
    "status",
    "history",
    "runs",
    "logs",
    "approve",
    "rework",
    "pause",
    "resume",
    "refresh",
    "recover",
    "migrate",
    "dashboard",
    "init",
    "completions",
    "man",
    "graph",
];

#[test]
fn every_shell_gets_a_completion_script_naming_the_verbs() {
    let s = Scratch::quickstart();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = s.karajan(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for verb in VERBS {
            assert!(script.contains(verb), "{shell}: no `{verb}`");
        }
        // fish spells a long flag `-l json`, the others `--json`.
        for flag in ["workflow", "json", "color", "follow"] {
            assert!(script.contains(flag), "{shell}: no `{flag}`");
        }
        if shell == "bash" {
            let path = s.path().join("karajan.bash");
            std::fs::write(&path, &script).unwrap();
            let check = std::process::Command::new("bash")
                .arg("-n")
                .arg(&path)
                .output()
                .unwrap();
            assert!(check.status.success(), "bash -n: {}", stderr(&check));
        }
    }
    let out = s.karajan(&["completions", "tcsh"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn the_manual_page_names_every_verb() {
    let s = Scratch::quickstart();
    let out = s.karajan(&["man"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.contains(".TH karajan 1"), "{page}");
    for verb in VERBS {
        assert!(
            page.contains(&format!("karajan\\-{verb}(1)")),
            "no `{verb}`"
        );
    }
    let dir = s.path().join("man");
    let out = s.karajan(&["man", "--dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    for verb in VERBS {
        let p = dir.join(format!("karajan-{verb}.1"));
        let text = std::fs::read_to_string(&p).unwrap_or_else(|_| panic!("{}", p.display()));
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{}",
            p.display()
        );
    }
    assert!(dir.join("karajan.1").is_file());
}
