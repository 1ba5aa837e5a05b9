//! Issue 16 items 3 and 4 with the real binary on the quickstart: each run records its
//! evidence (agent CLI, diff stat, log digests); `verify --logs` catches a log file
//! changed afterwards; `export` writes the same bundle twice; `verify --bundle` checks a
//! copy where no store exists and fails on a one-byte edit; no secret leaves in a bundle.

use std::path::Path;
use std::process::Output;

use super::support::{Scratch, command, copy_tree, events, stdout};

/// A runner env secret, with characters escaping would change.
const TOKEN: &str = "s3cr3t/ev+id&e<n>ce=";

fn setup() -> Scratch {
    let s = Scratch::quickstart();
    // The demo agent, but printing its secret to stdout (as a JSON line) and stderr.
    s.script(
        "leaky.sh",
        "#!/bin/sh\necho \"{\\\"type\\\":\\\"note\\\",\\\"text\\\":\\\"using $TOKEN\\\"}\"\necho \"token $TOKEN\" >&2\nexec \"$(dirname \"$0\")/agent.sh\"\n",
    );
    let wf = std::fs::read_to_string(s.workflow()).unwrap().replacen(
        "command: [\"./agent.sh\"]",
        "command: [\"./leaky.sh\"]\n    env:\n      TOKEN: $KARAJAN_TEST_TOKEN",
        1,
    );
    std::fs::write(s.workflow(), wf).unwrap();
    s
}

fn karajan(cwd: &Path, args: &[&str]) -> Output {
    command()
        .args(args)
        .current_dir(cwd)
        .env("KARAJAN_TEST_TOKEN", TOKEN)
        .env_remove("KARAJAN_WORKFLOW")
        .output()
        .unwrap()
}

fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![];
    for entry in walk(dir) {
        out.push((entry.display().to_string(), std::fs::read(&entry).unwrap()));
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn runs_record_evidence_and_bundles_are_deterministic_verifiable_and_secret_free() {
    let s = setup();
    let run = karajan(s.path(), &["run", "workflow.yaml", "--once"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // Each finished run's evidence: a command runner (no version, said so), the diff
    // of the commit the demo agent made, and the digest of each log file.
    let evidence: Vec<_> = events(&s.db())
        .into_iter()
        .filter(|(k, i, _)| k == "run_evidence" && i.as_deref() == Some("QS-1"))
        .map(|(_, _, p)| p)
        .collect();
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    let ev = &evidence[0];
    assert_eq!(ev["agent"]["kind"], "command");
    assert!(
        ev["agent"]["program"]
            .as_str()
            .unwrap()
            .ends_with("/leaky.sh"),
        "{ev}"
    );
    assert!(ev["agent"].get("version").is_none());
    assert!(
        ev["agent"]["note"]
            .as_str()
            .unwrap()
            .contains("no CLI version")
    );
    assert_eq!(ev["diff"]["files"], 1, "{ev}");
    assert_eq!(ev["diff"]["deletions"], 0, "{ev}");
    assert!(ev["diff"]["insertions"].as_u64().unwrap() >= 3, "{ev}");
    assert_ne!(ev["head_before"], ev["head_after"]);
    let logs = ev["logs"].as_object().unwrap();
    assert!(logs.contains_key("prompt.md"), "{logs:?}");
    let log_dir = Path::new(ev["log_dir"].as_str().unwrap()).to_path_buf();

    // Export twice: byte-identical bundles, the same digest.
    let ok = |out: &Output| {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            stdout(out),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    ok(&karajan(s.path(), &["export", "workflow.yaml", "b1"]));
    ok(&karajan(s.path(), &["export", "b2"]));
    let (b1, b2) = (s.path().join("b1"), s.path().join("b2"));
    let strip = |v: Vec<(String, Vec<u8>)>, root: &Path| -> Vec<(String, Vec<u8>)> {
        let root = root.display().to_string();
        v.into_iter()
            .map(|(p, b)| (p.replacen(&root, "", 1), b))
            .collect()
    };
    assert_eq!(strip(all_bytes(&b1), &b1), strip(all_bytes(&b2), &b2));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b1.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["selection"]["whole_chain"], true);
    let paths: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"events.jsonl") && paths.contains(&"checkpoints"),
        "{paths:?}"
    );
    assert!(paths.iter().any(|p| p.ends_with("/prompt.md")), "{paths:?}");

    // No secret anywhere in the bundle, though the agent printed it (blanked instead).
    let mut saw_redacted = false;
    for (path, bytes) in all_bytes(&b1) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(TOKEN), "{path} holds the secret");
        saw_redacted |= text.contains("[redacted]");
    }
    assert!(saw_redacted, "the agent's output is in the bundle, blanked");

    // Checked where no store (and no workflow) exists.
    let elsewhere = tempfile::tempdir().unwrap();
    copy_tree(&b1, &elsewhere.path().join("bundle"));
    let checked = karajan(elsewhere.path(), &["verify", "--bundle", "bundle"]);
    ok(&checked);
    assert!(stdout(&checked).contains(manifest["digest"].as_str().unwrap()));
    // The store's signing key travels as its public half; the signed checkpoints are
    // checked with it, or with the key an auditor holds (`karajan key`), which must match.
    let key = karajan(s.path(), &["key"]);
    ok(&key);
    let public = stdout(&key);
    assert_eq!(
        std::fs::read_to_string(b1.join("public-key")).unwrap(),
        public,
        "the bundle carries the store's public key"
    );
    assert!(
        stdout(&checked).contains("signatures checked with the bundle's own public key"),
        "{}",
        stdout(&checked)
    );
    std::fs::write(elsewhere.path().join("team.key"), &public).unwrap();
    ok(&karajan(
        elsewhere.path(),
        &["verify", "--bundle", "bundle", "--public-key", "team.key"],
    ));
    let other = "ed25519 ".to_string() + &"11".repeat(32) + "\n";
    std::fs::write(elsewhere.path().join("other.key"), other).unwrap();
    let wrong = karajan(
        elsewhere.path(),
        &["verify", "--bundle", "bundle", "--public-key", "other.key"],
    );
    assert_eq!(wrong.status.code(), Some(4), "{}", stdout(&wrong));
    for says in [
        "the bundle's public key is not the one given",
        "signature does not verify with the public key",
    ] {
        assert!(stdout(&wrong).contains(says), "{}", stdout(&wrong));
    }

    // One ticket: a partial chain, verified event by event, and said so.
    ok(&karajan(
        s.path(),
        &["export", "--ticket", "QS-1", "--no-prompts", "t1"],
    ));
    let t1 = karajan(s.path(), &["verify", "--bundle", "t1"]);
    ok(&t1);
    assert!(stdout(&t1).contains("partial chain"), "{}", stdout(&t1));
    assert!(
        !walk(&s.path().join("t1"))
            .iter()
            .any(|p| p.ends_with("prompt.md")),
        "--no-prompts leaves the prompts out"
    );

    // One byte edited anywhere fails: an event, a log file, the manifest (whitespace).
    let targets: Vec<String> = vec![
        "events.jsonl".into(),
        paths
            .iter()
            .find(|p| p.starts_with("logs/"))
            .unwrap()
            .to_string(),
        "manifest.json".into(),
    ];
    for (i, target) in targets.iter().enumerate() {
        let copy = elsewhere.path().join(format!("edited-{i}"));
        copy_tree(&b1, &copy);
        let file = copy.join(target);
        let mut bytes = std::fs::read(&file).unwrap();
        let at = bytes.iter().position(|b| *b == b'"').unwrap_or(0);
        bytes[at] = b' ';
        std::fs::write(&file, bytes).unwrap();
        let out = karajan(
            elsewhere.path(),
            &["verify", "--bundle", copy.to_str().unwrap()],
        );
        assert_eq!(
            out.status.code(),
            Some(4),
            "{target} edited: {}",
            stdout(&out)
        );
    }

    // A log file changed after its run: `verify --logs` names it.
    ok(&karajan(s.path(), &["verify", "--logs"]));
    let prompt = log_dir.join("prompt.md");
    let mut text = std::fs::read_to_string(&prompt).unwrap();
    text.push('.');
    std::fs::write(&prompt, text).unwrap();
    let out = karajan(s.path(), &["verify", "--logs"]);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("BROKEN log prompt.md") && stdout(&out).contains("changed"),
        "{}",
        stdout(&out)
    );
}
