//! Signed checkpoints with the real binary (issue 16 item 1): the first start creates
//! the key (0600, outside the store's folder), `karajan key` prints its public half,
//! `verify` checks the signatures with it or with `--public-key`, a checkpoint file
//! rewritten without the key fails with a line naming the checkpoint, an exposed key is
//! refused, and the secret shows up in no output and no file of the store.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use sha2::Digest;

use super::support::{Scratch, config_home, stderr, stdout};

/// The default key path of the scratch store (see `config::validate`).
fn key_path(s: &Scratch) -> PathBuf {
    let db = s.path().join(".karajan/karajan.db");
    let id = hex::encode(&sha2::Sha256::digest(db.as_os_str().as_encoded_bytes())[..8]);
    config_home().join(format!("karajan/keys/{id}.key"))
}

fn all_files(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            all_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn the_first_start_creates_a_private_key_and_verify_checks_its_signatures() {
    let s = Scratch::quickstart();
    let run = s.once();
    let key = key_path(&s);
    let mode = std::fs::metadata(&key)
        .expect("key created")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    assert!(!key.starts_with(s.path().join(".karajan")));

    let out = s.karajan(&["key", "workflow.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let public = stdout(&out).trim().to_string();
    assert!(
        public.starts_with("ed25519 ") && public.len() == 8 + 64,
        "{public}"
    );

    let out = s.karajan(&["verify", "workflow.yaml"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(&format!("signatures checked with {public}")));

    // Someone without the private key: only the public one.
    let public_file = s.path().join("public.key");
    std::fs::write(&public_file, format!("{public}\n")).unwrap();
    let out = s.karajan(&["verify", "workflow.yaml", "--public-key", "public.key"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    // The secret is in no output and no file of the store (logs included).
    let seed = std::fs::read_to_string(&key).unwrap();
    let seed = seed.split_whitespace().nth(1).unwrap().to_string();
    let history = s.karajan(&["history", "DEMO-1", "--json"]);
    for out in [&run, &history] {
        assert!(!stdout(out).contains(&seed) && !stderr(out).contains(&seed));
    }
    let mut files = vec![];
    all_files(&s.path().join(".karajan"), &mut files);
    assert!(files.len() > 3, "{files:?}");
    for f in files {
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).to_string();
        assert!(!text.contains(&seed), "{} holds the secret", f.display());
    }

    // The checkpoint file rewritten without the key: its signatures stripped.
    let cp = s.path().join(".karajan/checkpoints");
    let text = std::fs::read_to_string(&cp).unwrap();
    let stripped: String = text
        .lines()
        .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" ") + "\n")
        .collect::<String>()
        .replace("karajan checkpoints v2", "karajan checkpoints v1");
    std::fs::write(&cp, &stripped).unwrap();
    let out = s.karajan(&["verify", "workflow.yaml"]);
    let text_out = stdout(&out);
    assert_eq!(out.status.code(), Some(4), "{text_out}");
    assert!(
        text_out.contains("BROKEN seq") && text_out.contains("head checkpoint at seq"),
        "{text_out}"
    );
    assert!(
        text_out.contains("unsigned although the store has a key"),
        "{text_out}"
    );

    // Restored, but checked with another store's public key: every signature fails.
    std::fs::write(&cp, &text).unwrap();
    let other = "ed25519 d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    std::fs::write(&public_file, other).unwrap();
    let out = s.karajan(&["verify", "workflow.yaml", "--public-key", "public.key"]);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    assert!(stdout(&out).contains("does not verify with the public key"));
}

#[test]
fn a_key_others_may_read_is_refused_at_start() {
    let s = Scratch::quickstart();
    s.once();
    let key = key_path(&s);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = s.karajan(&["run", "workflow.yaml", "--once"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    let out = s.karajan(&["verify", "workflow.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

/// Issue 16 item 2: the tracker's comments anchor the chain head; a store replaced
/// wholesale (database and checkpoint file, re-signed with the same key, so every other
/// layer passes) is caught by `verify --against-tracker`.
#[test]
fn a_store_replaced_wholesale_is_caught_by_the_tracker_anchors() {
    let s = Scratch::quickstart();
    s.once();
    let tickets = std::fs::read_dir(s.path().join("tickets"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(tickets.contains("\"head\":{\"seq\":"), "{tickets}");

    let out = s.karajan(&["verify", "workflow.yaml", "--against-tracker"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    let checked: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("tracker anchors: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(checked > 0, "{text}");

    // Replace the whole store: a fresh database and checkpoint file, written and signed
    // by karajan itself with the same key.
    std::fs::remove_dir_all(s.path().join(".karajan")).unwrap();
    s.once();
    let out = s.karajan(&["verify", "workflow.yaml"]);
    assert!(
        out.status.success(),
        "the replacement passes every other layer: {}",
        stdout(&out)
    );
    let out = s.karajan(&["verify", "workflow.yaml", "--against-tracker"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(4), "{text}{}", stderr(&out));
    assert!(text.contains("the tracker anchor in "), "{text}");
    assert!(text.contains("the store was replaced"), "{text}");
}
