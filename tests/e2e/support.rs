//! Helpers for end-to-end tests: a scratch copy of the quickstart, ticket edits, and
//! the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_karajan"))
}

/// The `$XDG_CONFIG_HOME` every spawned binary gets: the stores' checkpoint signing keys
/// are created there (one per store, named by its path), never in the user's own config.
pub fn config_home() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("config-home")
}

/// The binary, with its environment set for tests (see [`config_home`]).
pub fn command() -> Command {
    let mut cmd = Command::new(bin());
    cmd.env("XDG_CONFIG_HOME", config_home());
    cmd
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copy a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_name() == ".karajan" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A scratch copy of `examples/quickstart` in a temp dir.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn quickstart() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&repo_root().join("examples/quickstart"), dir.path());
        Scratch { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn workflow(&self) -> PathBuf {
        self.path().join("workflow.yaml")
    }

    pub fn ticket(&self, id: &str) -> PathBuf {
        self.path().join("tickets").join(format!("{id}.md"))
    }

    pub fn read_ticket(&self, id: &str) -> String {
        std::fs::read_to_string(self.ticket(id)).unwrap()
    }

    /// The `state:` of a ticket file.
    pub fn column(&self, id: &str) -> String {
        self.read_ticket(id)
            .lines()
            .find_map(|l| l.strip_prefix("state:"))
            .map(|s| s.trim().trim_matches('"').to_string())
            .unwrap()
    }

    /// Move a ticket like a human editing the file.
    pub fn set_column(&self, id: &str, column: &str) {
        let text = self.read_ticket(id);
        let out: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with("state:") {
                    format!("state: {column}")
                } else {
                    l.to_string()
                }
            })
            .collect();
        std::fs::write(self.ticket(id), out.join("\n") + "\n").unwrap();
    }

    /// Append a human comment by hand, in the local tracker's documented format.
    pub fn human_comment(&self, id: &str, author: &str, body: &str) {
        let mut text = self.read_ticket(id);
        if !text.contains("\n## Comments\n") {
            text.push_str("\n## Comments\n");
        }
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        text.push_str(&format!("\n### {author} · {at}\n\n{body}\n"));
        std::fs::write(self.ticket(id), text).unwrap();
    }

    pub fn karajan(&self, args: &[&str]) -> Output {
        command()
            .args(args)
            .current_dir(self.path())
            .env("KARAJAN_LOG", "info")
            .env("XDG_CONFIG_HOME", config_home())
            .output()
            .unwrap()
    }

    pub fn once(&self) -> Output {
        let out = self.karajan(&["run", "workflow.yaml", "--once"]);
        assert!(out.status.success(), "run --once failed:\n{}", stderr(&out));
        out
    }

    /// `run --once` that must end with `code` (6: a run failed or a ticket escalated).
    pub fn once_exiting(&self, code: i32) -> Output {
        let out = self.karajan(&["run", "workflow.yaml", "--once"]);
        assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
        out
    }

    pub fn db(&self) -> PathBuf {
        self.path().join(".karajan/karajan.db")
    }

    /// Write the file and make it executable.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.path().join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Poll until `f` is true or the deadline passes.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// Events of the store, read-only, as (kind, payload).
pub fn events(db: &Path) -> Vec<(String, Option<String>, serde_json::Value)> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // While a daemon is still creating the database, there is nothing to read yet.
        let Ok(Some(store)) = karajan::store::Store::open_read_only(db).await else {
            return vec![];
        };
        let mut all = vec![];
        let mut after = 0;
        loop {
            let Ok(page) = store.events_page(after, 1000).await else {
                return vec![];
            };
            if page.is_empty() {
                break;
            }
            after = page.last().unwrap().seq;
            all.extend(page.into_iter().map(|e| (e.kind, e.issue, e.payload)));
        }
        all
    })
}

pub fn count(
    events: &[(String, Option<String>, serde_json::Value)],
    kind: &str,
    issue: &str,
) -> usize {
    events
        .iter()
        .filter(|(k, i, _)| k == kind && i.as_deref() == Some(issue))
        .count()
}

/// Processes alive whose environment carries `needle` (e.g. `KARAJAN_RUN_ID=`).
pub fn processes_with_env(needle: &str) -> Vec<u32> {
    let mut found = vec![];
    let me = std::process::id();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(env) = std::fs::read(entry.path().join("environ"))
            && env
                .split(|b| *b == 0)
                .any(|kv| kv.starts_with(needle.as_bytes()))
        {
            // Zombies still show; only count processes that are not dead.
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next());
            if state != Some("Z") {
                found.push(pid);
            }
        }
    }
    found
}
