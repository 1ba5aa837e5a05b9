//! The conformance suite against `LocalTracker` in a temp folder, plus what only the
//! local tracker promises: malformed files named and skipped, minimal atomic writes,
//! duplicate identifiers refused, the comment format humans can write by hand.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use karajan::domain::TicketRef;
use karajan::tracker::local::LocalTracker;
use karajan::tracker::{Tracker, TrackerError};

use super::tracker::{Harness, Seed, TERMINAL_COLUMNS, tracker_conformance};

struct LocalHarness {
    dir: tempfile::TempDir,
    tracker: Arc<LocalTracker>,
}

impl LocalHarness {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let terminal = TERMINAL_COLUMNS.iter().map(|c| c.to_string()).collect();
        let tracker = Arc::new(LocalTracker::new(dir.path().to_path_buf(), terminal));
        LocalHarness { dir, tracker }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) {
        fs::write(self.path(name), text).expect("write ticket");
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).expect("read ticket")
    }

    fn file_names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn json(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The front matter of a ticket file, read without the adapter.
fn front_matter(text: &str) -> yaml_serde::Value {
    let rest = text.strip_prefix("---\n").expect("front matter start");
    let end = rest.find("\n---\n").expect("front matter end");
    yaml_serde::from_str(&rest[..end]).expect("front matter yaml")
}

#[async_trait]
impl Harness for LocalHarness {
    async fn tracker(&self) -> Arc<dyn Tracker> {
        self.tracker.clone()
    }

    async fn seed(&self, tickets: &[Seed]) {
        for t in tickets {
            let list = |items: &[String]| {
                let quoted: Vec<String> = items.iter().map(|i| json(i)).collect();
                format!("[{}]", quoted.join(", "))
            };
            let mut text = format!(
                "---\nid: {}\ntitle: {}\nstate: {}\n",
                json(&t.identifier),
                json(&t.title),
                json(&t.column)
            );
            if let Some(p) = t.priority {
                text.push_str(&format!("priority: {p}\n"));
            }
            text.push_str(&format!("labels: {}\n", list(&t.labels)));
            text.push_str(&format!("blocked_by: {}\n", list(&t.blocked_by)));
            text.push_str(&format!("---\n\n{}\n", t.description));
            self.write(&format!("{}.md", t.identifier), &text);
        }
    }

    async fn resolve_blocker(&self, seed_id: &str, terminal_column: &str) {
        let name = format!("{seed_id}.md");
        let text = self.read(&name);
        let mut done = false;
        let edited: Vec<String> = text
            .split('\n')
            .map(|line| {
                if !done && line.starts_with("state:") {
                    done = true;
                    format!("state: {}", json(terminal_column))
                } else {
                    line.to_string()
                }
            })
            .collect();
        assert!(done, "{name} has no state line");
        self.write(&name, &edited.join("\n"));
    }

    async fn column_of(&self, identifier: &str) -> Option<String> {
        let text = fs::read_to_string(self.path(&format!("{identifier}.md"))).ok()?;
        front_matter(&text)
            .get("state")
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }

    async fn comments_raw(&self, identifier: &str) -> Vec<String> {
        let text = self.read(&format!("{identifier}.md"));
        let Some(at) = text.rfind("\n## Comments\n") else {
            return Vec::new();
        };
        let mut blocks: Vec<String> = Vec::new();
        for line in text[at..].lines().skip(2) {
            if line.starts_with("### ") {
                blocks.push(String::new());
            } else if let Some(block) = blocks.last_mut() {
                block.push_str(line);
                block.push('\n');
            }
        }
        blocks
    }
}

tracker_conformance!(async { LocalHarness::new() });

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn ticket_ref(id: &str) -> TicketRef {
    TicketRef {
        id: id.to_string(),
        identifier: id.to_string(),
    }
}

#[tokio::test]
async fn malformed_files_are_skipped_with_their_path() {
    let h = LocalHarness::new();
    h.write("good.md", "---\ntitle: Good\nstate: Todo\n---\nBody\n");
    let bad = [
        ("no-front.md", "Just some notes\n", "must start with"),
        ("unclosed.md", "---\ntitle: x\nstate: Todo\n", "not closed"),
        (
            "bad-yaml.md",
            "---\ntitle: [x\nstate: Todo\n---\n",
            "invalid YAML",
        ),
        (
            "no-title.md",
            "---\nstate: Todo\n---\n",
            "`title` is missing",
        ),
        ("no-state.md", "---\ntitle: x\n---\n", "`state` is missing"),
        (
            "typo.md",
            "---\ntitle: x\nstate: Todo\nlables: [a]\n---\n",
            "lables",
        ),
        (
            "bad-priority.md",
            "---\ntitle: x\nstate: Todo\npriority: 9\n---\n",
            "priority",
        ),
    ];
    for (name, text, _) in bad {
        h.write(name, text);
    }
    fs::write(h.path("bytes.md"), [0xff, 0xfe, 0x00]).expect("write bytes");
    h.write("notes.txt", "not a ticket");
    h.write(".hidden.md", "not a ticket either");
    fs::create_dir(h.path("sub")).expect("mkdir");
    h.write("sub/nested.md", "---\ntitle: Nested\nstate: Todo\n---\n");

    let fetched = h
        .tracker
        .fetch_candidates(&strings(&["Todo"]))
        .await
        .expect("fetch");
    let ids: Vec<&str> = fetched
        .tickets
        .iter()
        .map(|t| t.identifier.as_str())
        .collect();
    assert_eq!(ids, vec!["good"]);
    assert_eq!(
        fetched.skipped.len(),
        bad.len() + 1,
        "{:#?}",
        fetched.skipped
    );
    for (name, _, reason) in bad {
        let skipped = fetched
            .skipped
            .iter()
            .find(|s| s.source.ends_with(&format!("/{name}")))
            .unwrap_or_else(|| panic!("{name} not reported: {:#?}", fetched.skipped));
        assert!(skipped.error.contains(reason), "{name}: {}", skipped.error);
        assert!(Path::new(&skipped.source).is_absolute());
    }
    assert!(
        fetched
            .skipped
            .iter()
            .any(|s| s.source.ends_with("/bytes.md") && s.error.contains("UTF-8"))
    );
}

#[tokio::test]
async fn a_malformed_requested_file_is_an_error() {
    let h = LocalHarness::new();
    h.write("good.md", "---\ntitle: Good\nstate: Todo\n---\n");
    h.write("broken.md", "---\ntitle: [x\nstate: Todo\n---\n");
    h.write(
        "typo.md",
        "---\nid: ENG-9\ntitle: x\nstate: Todo\nlables: [a]\n---\n",
    );
    for (wanted, file) in [("broken", "broken.md"), ("ENG-9", "typo.md")] {
        match h
            .tracker
            .fetch_by_identifiers(&strings(&["good", wanted]))
            .await
        {
            Err(TrackerError::Malformed {
                source_name,
                message,
            }) => {
                assert!(source_name.ends_with(&format!("/{file}")), "{source_name}");
                assert!(!message.is_empty());
            }
            other => panic!("{wanted}: expected Malformed, got {other:?}"),
        }
    }
    let found = h
        .tracker
        .fetch_by_identifiers(&strings(&["good", "ghost"]))
        .await
        .expect("nonexistent is absent, not an error");
    assert_eq!(found.len(), 1);
    let moved = h.tracker.move_ticket(&ticket_ref("broken"), "Done").await;
    assert!(
        matches!(moved, Err(TrackerError::Malformed { .. })),
        "{moved:?}"
    );
    assert_eq!(h.read("broken.md"), "---\ntitle: [x\nstate: Todo\n---\n");
}

#[tokio::test]
async fn move_rewrites_only_the_state_line_atomically() {
    let h = LocalHarness::new();
    let text = "---\n# a YAML comment\nid: ENG-1\ntitle:   \"Odd  spacing\"\nstate: Todo   # column\nlabels:\n  - Bug\n---\n\nDescription with state: Todo in it.\n\n## Comments\n\n### alice · 2024-05-01T10:00:00Z\n\nstate: Todo\n";
    h.write("eng-1.md", text);
    let crlf = "---\r\ntitle: Windows\r\nstate: Todo\r\n---\r\nBody\r\n";
    h.write("win.md", crlf);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(h.path("eng-1.md"), fs::Permissions::from_mode(0o640)).expect("chmod");
    }

    h.tracker
        .move_ticket(&ticket_ref("ENG-1"), "In Progress")
        .await
        .expect("move");
    assert_eq!(
        h.read("eng-1.md"),
        text.replace("state: Todo   # column", "state: In Progress")
    );
    h.tracker
        .move_ticket(&ticket_ref("win"), "Human Review")
        .await
        .expect("move crlf");
    assert_eq!(
        h.read("win.md"),
        crlf.replace("state: Todo", "state: Human Review")
    );
    assert_eq!(
        h.file_names(),
        vec!["eng-1.md", "win.md"],
        "no temp files left"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(h.path("eng-1.md"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640, "permissions kept");
    }

    // Columns that YAML would misread are quoted, and read back exactly.
    for column in ["Needs: review", "true", "#1 priority", "  padded "] {
        h.tracker
            .move_ticket(&ticket_ref("ENG-1"), column)
            .await
            .expect("move odd");
        let fetched = h
            .tracker
            .fetch_by_identifiers(&strings(&["ENG-1"]))
            .await
            .expect("fetch");
        assert_eq!(fetched[0].column, column.trim());
        let stored = front_matter(&h.read("eng-1.md"));
        assert_eq!(
            stored.get("state").and_then(|v| v.as_str()),
            Some(column.trim())
        );
    }
    let after = h.read("eng-1.md");
    assert!(after.ends_with("## Comments\n\n### alice · 2024-05-01T10:00:00Z\n\nstate: Todo\n"));
    assert_eq!(h.file_names(), vec!["eng-1.md", "win.md"]);
}

#[tokio::test]
async fn duplicate_ids_are_refused_naming_both_files() {
    let h = LocalHarness::new();
    h.write("a.md", "---\nid: X-1\ntitle: A\nstate: Todo\n---\n");
    h.write("b.md", "---\nid: X-1\ntitle: B\nstate: Todo\n---\n");
    h.write("c.md", "---\ntitle: C\nstate: Todo\n---\n");
    let fetched = h
        .tracker
        .fetch_candidates(&strings(&["Todo"]))
        .await
        .expect("fetch");
    let ids: Vec<&str> = fetched
        .tickets
        .iter()
        .map(|t| t.identifier.as_str())
        .collect();
    assert_eq!(ids, vec!["c"]);
    assert_eq!(fetched.skipped.len(), 2);
    for s in &fetched.skipped {
        assert!(
            s.error.contains("/a.md") && s.error.contains("/b.md"),
            "{}",
            s.error
        );
        assert!(s.error.contains("duplicate"));
    }
    let requested = h.tracker.fetch_by_identifiers(&strings(&["X-1"])).await;
    assert!(
        matches!(requested, Err(TrackerError::Malformed { .. })),
        "{requested:?}"
    );
    let moved = h.tracker.move_ticket(&ticket_ref("X-1"), "Done").await;
    assert!(moved.is_err());
    assert!(h.read("a.md").contains("state: Todo") && h.read("b.md").contains("state: Todo"));
}

#[tokio::test]
async fn defaults_come_from_the_file() {
    let h = LocalHarness::new();
    h.write("fix login.md", "---\ntitle: Fix\nstate: Todo\n---\nBody\n");
    h.write(
        "dated.md",
        "---\ntitle: Dated\nstate: Todo\ncreated_at: 2024-05-01T09:30:00Z\nurl: https://example.com/7\n---\n",
    );
    let got = h
        .tracker
        .fetch_by_identifiers(&strings(&["fix login", "dated"]))
        .await
        .expect("fetch");
    let plain = &got[0];
    assert_eq!(
        (plain.id.as_str(), plain.identifier.as_str()),
        ("fix login", "fix login")
    );
    let path = h.path("fix login.md");
    let expected_url = format!("file://{}", path.display()).replace(' ', "%20");
    assert_eq!(plain.url.as_deref(), Some(expected_url.as_str()));
    let mtime: chrono::DateTime<chrono::Utc> = fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime")
        .into();
    assert_eq!(plain.updated_at, mtime);
    assert_eq!(plain.created_at, mtime);
    let dated = &got[1];
    assert_eq!(dated.created_at.to_rfc3339(), "2024-05-01T09:30:00+00:00");
    assert_eq!(dated.url.as_deref(), Some("https://example.com/7"));
}

#[tokio::test]
async fn a_missing_blocker_keeps_the_ticket_blocked() {
    let h = LocalHarness::new();
    h.write(
        "a.md",
        "---\ntitle: A\nstate: Todo\nblocked_by: [ghost, broken]\n---\n",
    );
    h.write("broken.md", "---\ntitle: [x\nstate: Done\n---\n");
    let got = h
        .tracker
        .fetch_by_identifiers(&strings(&["a"]))
        .await
        .expect("fetch");
    assert!(got[0].is_blocked());
    assert!(
        got[0].blocked_by.iter().all(|b| !b.resolved),
        "{:?}",
        got[0].blocked_by
    );
}

#[tokio::test]
async fn comments_use_a_readable_section_humans_can_extend() {
    let h = LocalHarness::new();
    h.write(
        "t.md",
        "---\ntitle: T\nstate: Todo\n---\n\nThe description.\n",
    );
    h.tracker
        .comment(&ticket_ref("t"), "First line\nsecond line")
        .await
        .expect("comment");
    let text = h.read("t.md");
    assert!(
        text.starts_with(
            "---\ntitle: T\nstate: Todo\n---\n\nThe description.\n\n## Comments\n\n### karajan · "
        ),
        "{text}"
    );
    assert!(
        text.ends_with("\n\n> First line\n> second line\n"),
        "{text}"
    );

    // A human replies by hand, unquoted, in the same format.
    let mut edited = text.clone();
    edited.push_str("\n### Alice · 2030-01-01T12:00:00Z\n\nLooks good, go ahead.\n");
    h.write("t.md", &edited);
    h.tracker
        .comment(&ticket_ref("t"), "Thanks")
        .await
        .expect("second comment");

    let comments = h
        .tracker
        .comments(&ticket_ref("t"))
        .await
        .expect("comments");
    let seen: Vec<(&str, &str)> = comments
        .iter()
        .map(|c| (c.author.as_str(), c.body.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("karajan", "First line\nsecond line"),
            ("Alice", "Looks good, go ahead."),
            ("karajan", "Thanks"),
        ]
    );
    let snapshot = h
        .tracker
        .fetch_by_identifiers(&strings(&["t"]))
        .await
        .expect("fetch");
    assert_eq!(
        snapshot[0].description, "The description.",
        "comments are not description"
    );
    assert_eq!(h.file_names(), vec!["t.md"]);
}

#[tokio::test]
async fn a_comment_after_an_unclosed_code_block_still_reads_back() {
    let h = LocalHarness::new();
    h.write(
        "t.md",
        "---\ntitle: T\nstate: Todo\n---\n\n```sh\ncargo test\n",
    );
    h.tracker
        .comment(&ticket_ref("t"), "ran it")
        .await
        .expect("comment");
    let comments = h
        .tracker
        .comments(&ticket_ref("t"))
        .await
        .expect("comments");
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].body, "ran it");
    assert!(
        h.read("t.md")
            .starts_with("---\ntitle: T\nstate: Todo\n---\n\n```sh\ncargo test\n```\n")
    );
}

/// A comment heading a human did not write in karajan's exact format is still a comment
/// (never dropped, never failing the ticket): a time that does not parse, or none at all,
/// becomes the file's modification time.
#[tokio::test]
async fn loose_comment_headings_are_read_with_the_file_time() {
    let h = LocalHarness::new();
    h.write(
        "t.md",
        "---\ntitle: T\nstate: Todo\n---\n\n## Comments\n\n### bob · last tuesday\nhi\n\n### carol\n\nme too\n",
    );
    let comments = h.tracker.comments(&ticket_ref("t")).await.expect("read");
    let got: Vec<(&str, &str)> = comments
        .iter()
        .map(|c| (c.author.as_str(), c.body.as_str()))
        .collect();
    assert_eq!(got, [("bob", "hi"), ("carol", "me too")]);
    let age = chrono::Utc::now() - comments[1].created_at;
    assert!(age < chrono::Duration::minutes(5), "the file's time: {age}");
}

#[tokio::test]
async fn concurrent_comments_are_all_kept() {
    let h = LocalHarness::new();
    h.write("t.md", "---\ntitle: T\nstate: Todo\n---\n");
    let tracker: Arc<dyn Tracker> = h.tracker.clone();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let tracker = tracker.clone();
        tasks.spawn(async move {
            tracker
                .comment(&ticket_ref("t"), &format!("comment {i}"))
                .await
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("join").expect("comment");
    }
    tracker
        .move_ticket(&ticket_ref("t"), "Done")
        .await
        .expect("move");
    let comments = tracker.comments(&ticket_ref("t")).await.expect("comments");
    let mut bodies: Vec<String> = comments.into_iter().map(|c| c.body).collect();
    bodies.sort();
    let mut expected: Vec<String> = (0..10).map(|i| format!("comment {i}")).collect();
    expected.sort();
    assert_eq!(bodies, expected);
    assert_eq!(h.column_of("t").await.as_deref(), Some("Done"));
}

#[tokio::test]
async fn check_reports_counts_and_a_missing_folder() {
    let h = LocalHarness::new();
    h.write("a.md", "---\ntitle: A\nstate: Todo\n---\n");
    h.write("b.md", "---\ntitle: B\nstate: todo\n---\n");
    h.write("c.md", "---\ntitle: C\nstate: Backlog\n---\n");
    h.write("d.md", "not a ticket\n");
    let check = h
        .tracker
        .check(&strings(&["Todo", "In Progress"]))
        .await
        .expect("check");
    assert!(check.errors.is_empty(), "{:?}", check.errors);
    let facts = check.facts.join("\n");
    assert!(facts.contains("3 ticket(s), 1 unreadable"), "{facts}");
    assert!(facts.contains("column \"Todo\": 1 ticket(s)"), "{facts}");
    assert!(
        facts.contains("column \"In Progress\": 0 ticket(s)"),
        "{facts}"
    );
    assert!(
        facts.contains("\"todo\"") && facts.contains("only by case"),
        "{facts}"
    );
    assert!(
        facts.contains("column \"Backlog\" (not watched): 1 ticket(s)"),
        "{facts}"
    );
    assert!(facts.contains("/d.md"), "{facts}");

    let missing = h.path("nope");
    let tracker = LocalTracker::new(missing.clone(), Vec::new());
    let check = tracker.check(&strings(&["Todo"])).await.expect("check");
    assert_eq!(check.errors.len(), 1);
    assert!(
        check.errors[0].contains(&missing.display().to_string()),
        "{:?}",
        check.errors
    );
    let fetched = tracker.fetch_candidates(&strings(&["Todo"])).await;
    assert!(
        matches!(fetched, Err(TrackerError::Fatal(ref m)) if m.contains("nope")),
        "{fetched:?}"
    );
}

#[tokio::test]
async fn a_thousand_tickets_load_in_file_name_order() {
    let h = LocalHarness::new();
    let seeds: Vec<Seed> = (0..1000)
        .map(|i| {
            Seed::new(
                &format!("K-{i:04}"),
                "t",
                if i % 2 == 0 { "Todo" } else { "Done" },
            )
        })
        .collect();
    h.seed(&seeds).await;
    let started = std::time::Instant::now();
    let fetched = h
        .tracker
        .fetch_candidates(&strings(&["Todo"]))
        .await
        .expect("fetch");
    let elapsed = started.elapsed();
    let ids: Vec<String> = fetched
        .tickets
        .iter()
        .map(|t| t.identifier.clone())
        .collect();
    let expected: Vec<String> = (0..1000).step_by(2).map(|i| format!("K-{i:04}")).collect();
    assert_eq!(ids, expected);
    // Generous: a scan is a few milliseconds per hundred files even in debug builds.
    assert!(elapsed < std::time::Duration::from_secs(20), "{elapsed:?}");
}

/// Hand-written comments reach the snapshot the scan makes (no read of their own): the
/// newest five human ones, oldest first, karajan's own left out.
#[tokio::test]
async fn a_scan_brings_the_newest_human_comments_written_by_hand() {
    let h = LocalHarness::new();
    let mut text = String::from("---\ntitle: Talk\nstate: Todo\n---\nBody\n\n## Comments\n");
    for n in 1..=6 {
        text.push_str(&format!(
            "\n### bob · 2024-05-0{n}T09:00:00Z\n\nhuman {n}\n"
        ));
    }
    text.push_str(
        "\n### karajan · 2024-05-07T09:00:00Z\n\n> done\n> <!-- karajan:{\"state\":\"x\"} -->\n",
    );
    text.push_str("\n### alice\n\nno time: the file's\n");
    h.write("talk.md", &text);
    let fetched = h
        .tracker
        .fetch_candidates(&strings(&["Todo"]))
        .await
        .expect("fetch");
    let recent: Vec<(String, String)> = fetched.tickets[0]
        .recent_comments
        .as_ref()
        .expect("the scan read them")
        .iter()
        .map(|c| (c.author.clone(), c.body.clone()))
        .collect();
    let bob = |n: u8| ("bob".to_string(), format!("human {n}"));
    assert_eq!(
        recent,
        vec![
            bob(3),
            bob(4),
            bob(5),
            bob(6),
            ("alice".to_string(), "no time: the file's".to_string())
        ]
    );
}
