//! The local tracker (`tracker.kind: local`): a folder of Markdown files, one per ticket.
//!
//! It is the offline default, so it has to be pleasant to edit by hand and impossible to
//! corrupt by karajan. A ticket file looks like this:
//!
//! ```markdown
//! ---
//! id: ENG-42              # optional; defaults to the file name without `.md`
//! title: Fix the login redirect
//! state: Todo             # the column
//! priority: 2             # optional; 1 urgent .. 4 low, 0 or absent = none
//! labels: [Bug, auth]     # optional; read lowercased
//! blocked_by: [ENG-41]    # optional; identifiers of other tickets
//! created_at: 2024-05-01T09:30:00Z   # optional; RFC 3339 or a date; default: file mtime
//! url: https://…          # optional; default: file://<absolute path>
//! branch_name: eng-42     # optional
//! ---
//!
//! The description: everything after the front matter, up to the comments section.
//!
//! ## Comments
//!
//! ### karajan · 2024-05-01T10:02:11.000Z
//!
//! > Every line of a comment body is quoted with `> `.
//! ```
//!
//! Rules, and why:
//!
//! - Only `*.md` files directly in the folder are tickets; hidden files (`.name`) are
//!   ignored, which is also how karajan's own temporary files stay out of every scan.
//!   Files are read in file-name order, which is the order of `fetch_candidates`.
//! - Unknown front-matter keys are an error, so a typo (`lables:`) is reported with its
//!   line instead of silently dropping the labels. A file that cannot be read is skipped
//!   with its path and the reason; the other tickets still load. When such a file is
//!   asked for by identifier (its `id:` if readable, else its file name), that is an
//!   error: a requested ticket is never silently missing.
//! - Two files with the same identifier are both skipped, naming both files: karajan
//!   never guesses which one a human meant.
//! - Columns are free-form and compared exactly (`Todo` is not `todo`); `check` points
//!   out columns that differ from a configured one only by case.
//! - A blocker counts as resolved only when its ticket exists, is readable and sits in a
//!   terminal column. A blocker that is missing (a typo, a deleted file) or unreadable
//!   stays *unresolved*: starting work too early is worse than a ticket that waits
//!   visibly for a human to fix the reference.
//! - `updated_at` is the file's modification time, and so is `created_at` when the front
//!   matter has none; karajan's own writes replace the file and move both, so set
//!   `created_at` when a stable order among equal priorities matters.
//!
//! Comments: the section is a `## Comments` heading at the end of the file (created on
//! the first comment) followed by blocks `### <author> · <RFC 3339 time>` and a body.
//! karajan writes as author `karajan` and quotes every body line with `> ` so that no
//! body (headings, `---`, code fences, hidden HTML markers) can break the structure;
//! bodies read back exactly. Humans may add comments in the same format, quoted or not
//! (an unquoted body just must not contain a `### ` line, which starts a new comment),
//! or with a plain heading `### bob` (its time is then the file's modification time).
//! `comments()` returns them in file order, which is oldest first since they are
//! appended. Every scan also reads the newest human ones into the ticket's snapshot
//! (`recent_comments`), from the text it has read anyway, so a run's prompt needs no
//! read of its own.
//!
//! Writes (`move_ticket`, `comment`) change the least possible (`move_ticket` rewrites
//! the `state:` line only; `comment` only appends) and are atomic: see `atomic`. Writes
//! from this process are serialized, and a file a human saved in the meantime is re-read
//! rather than overwritten. Every call performs one directory scan (reading each ticket
//! file once), so a folder of a thousand tickets stays cheap.

mod atomic;
mod comments;
pub mod config;
mod ticket_file;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use self::atomic::Replaced;
use self::ticket_file::TicketFile;
use super::{Fetched, Skipped, Tracker, TrackerCheck, TrackerError};
use crate::domain::{Blocker, Comment, TicketRef, TicketSnapshot};

/// The author name of comments karajan writes.
const AUTHOR: &str = "karajan";

/// How often a write is retried when the file changes under it.
const WRITE_ATTEMPTS: usize = 3;

/// A folder of Markdown tickets.
pub struct LocalTracker {
    folder: Arc<Folder>,
    /// Serializes this process's writes, so two edits of one file cannot lose each other.
    writes: tokio::sync::Mutex<()>,
}

impl LocalTracker {
    /// `dir` is made absolute (against the current directory) once, here.
    /// `terminal_columns` are the columns in which a blocker counts as resolved.
    pub fn new(dir: PathBuf, terminal_columns: Vec<String>) -> Self {
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        LocalTracker {
            folder: Arc::new(Folder {
                dir,
                terminal: terminal_columns,
            }),
            writes: tokio::sync::Mutex::new(()),
        }
    }

    /// The (absolute) tickets folder.
    pub fn dir(&self) -> &Path {
        &self.folder.dir
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, TrackerError>
    where
        T: Send + 'static,
        F: FnOnce(&Folder) -> Result<T, TrackerError> + Send + 'static,
    {
        let folder = Arc::clone(&self.folder);
        tokio::task::spawn_blocking(move || f(&folder))
            .await
            .map_err(|e| TrackerError::Fatal(format!("local tracker task failed: {e}")))?
    }
}

#[async_trait]
impl Tracker for LocalTracker {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn fetch_candidates(&self, columns: &[String]) -> Result<Fetched, TrackerError> {
        let columns = columns.to_vec();
        self.blocking(move |folder| {
            let scan = folder.scan()?;
            let states = scan.states();
            let mut fetched = Fetched::default();
            for entry in &scan.entries {
                match &entry.kind {
                    Kind::Ticket { file, .. } if columns.contains(&file.state) => {
                        fetched
                            .tickets
                            .push(std::sync::Arc::new(folder.snapshot(entry, &states)));
                    }
                    Kind::Ticket { .. } => {}
                    Kind::Bad { message, .. } => fetched.skipped.push(Skipped {
                        source: entry.path.display().to_string(),
                        error: message.clone(),
                    }),
                }
            }
            Ok(fetched)
        })
        .await
    }

    async fn fetch_by_identifiers(
        &self,
        identifiers: &[String],
    ) -> Result<Vec<TicketSnapshot>, TrackerError> {
        let identifiers = identifiers.to_vec();
        self.blocking(move |folder| {
            let scan = folder.scan()?;
            let states = scan.states();
            let mut out: Vec<TicketSnapshot> = Vec::new();
            for id in &identifiers {
                if out.iter().any(|t| &t.identifier == id) {
                    continue;
                }
                if let Some(entry) = scan.find(id)? {
                    out.push(folder.snapshot(entry, &states));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn move_ticket(&self, ticket: &TicketRef, column: &str) -> Result<(), TrackerError> {
        // Surrounding spaces cannot survive a read (fields are trimmed), so drop them here.
        let (id, column) = (ticket.id.clone(), column.trim().to_string());
        let _guard = self.writes.lock().await;
        self.blocking(move |folder| {
            folder.edit(&id, |text, file| {
                if file.state == column {
                    return Ok(None);
                }
                let new = ticket_file::rewrite_state(text, &column)?;
                let expected = TicketFile {
                    state: column.clone(),
                    ..file.clone()
                };
                match ticket_file::parse(&new, &file.identifier) {
                    Ok(reread) if reread == expected => Ok(Some(new)),
                    _ => Err(format!(
                        "rewriting `state:` to {column:?} would change other fields; \
                         please edit the file by hand"
                    )),
                }
            })
        })
        .await
    }

    async fn comment(&self, ticket: &TicketRef, body: &str) -> Result<(), TrackerError> {
        let (id, body) = (ticket.id.clone(), body.replace("\r\n", "\n"));
        let _guard = self.writes.lock().await;
        self.blocking(move |folder| {
            folder.edit(&id, |text, file| {
                let body_text = ticket_file::body(text).unwrap_or("");
                let body_start = text.len() - body_text.len();
                let eol = comments::eol_of(text);
                let block = comments::format_comment(AUTHOR, Utc::now(), &body, eol);
                let new = comments::append(text, body_start, &block, eol);
                // Never write something that does not read back as intended.
                let reread = ticket_file::parse(&new, &file.identifier).ok();
                let last =
                    ticket_file::body(&new).and_then(|b| comments::parse(b, 1, Utc::now()).pop());
                // Fields unchanged; the description may only gain the fence `append`
                // closes when the description ends inside an unclosed code block.
                let same_ticket = reread.is_some_and(|r| {
                    r.description.starts_with(&file.description)
                        && r == TicketFile {
                            description: r.description.clone(),
                            ..file.clone()
                        }
                });
                match last {
                    Some(c) if same_ticket && c.author == AUTHOR && c.body == body => Ok(Some(new)),
                    _ => Err("the comment would not read back intact; nothing was written".into()),
                }
            })
        })
        .await
    }

    async fn comments(&self, ticket: &TicketRef) -> Result<Vec<Comment>, TrackerError> {
        let id = ticket.id.clone();
        self.blocking(move |folder| {
            let scan = folder.scan()?;
            let entry = scan
                .find(&id)?
                .ok_or_else(|| TrackerError::NotFound(id.clone()))?;
            let text = read(&entry.path)?;
            let body = ticket_file::body(&text).unwrap_or("");
            let first_line = text[..text.len() - body.len()].matches('\n').count() + 1;
            Ok(comments::parse(body, first_line, modified(&entry.path)))
        })
        .await
    }

    async fn check(&self, columns: &[String]) -> Result<TrackerCheck, TrackerError> {
        let columns = columns.to_vec();
        self.blocking(move |folder| Ok(folder.check(&columns)))
            .await
    }
}

/// The folder and its settings; everything here is synchronous file I/O.
struct Folder {
    dir: PathBuf,
    terminal: Vec<String>,
}

struct Entry {
    path: PathBuf,
    kind: Kind,
}

enum Kind {
    Ticket {
        file: TicketFile,
        modified: DateTime<Utc>,
        /// The newest human comments, read with the file (no read of its own).
        recent_comments: Vec<Comment>,
    },
    Bad {
        claimed_id: String,
        message: String,
    },
}

/// One directory scan: every ticket file, read and parsed, in file-name order.
struct Scan {
    entries: Vec<Entry>,
}

impl Folder {
    fn scan(&self) -> Result<Scan, TrackerError> {
        let listing = fs::read_dir(&self.dir).map_err(|e| {
            TrackerError::Fatal(format!(
                "cannot read the tickets folder {}: {e}",
                self.dir.display()
            ))
        })?;
        let mut paths = Vec::new();
        for item in listing {
            let item = item.map_err(|e| io_error(&self.dir, e))?;
            let name = item.file_name();
            let name = name.to_string_lossy();
            let is_md = Path::new(name.as_ref())
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("md"));
            if is_md && !name.starts_with('.') {
                paths.push(item.path());
            }
        }
        paths.sort();
        let mut entries: Vec<Entry> = paths.into_iter().filter_map(read_entry).collect();
        mark_duplicates(&mut entries);
        Ok(Scan { entries })
    }

    fn snapshot(&self, entry: &Entry, states: &HashMap<&str, &str>) -> TicketSnapshot {
        let Kind::Ticket {
            file,
            modified,
            recent_comments,
        } = &entry.kind
        else {
            unreachable!("snapshot of a skipped entry");
        };
        let blocked_by = file
            .blocked_by
            .iter()
            .map(|b| Blocker {
                identifier: b.clone(),
                resolved: states
                    .get(b.as_str())
                    .is_some_and(|s| self.terminal.iter().any(|t| t == s)),
            })
            .collect();
        TicketSnapshot {
            id: file.identifier.clone(),
            identifier: file.identifier.clone(),
            title: file.title.clone(),
            description: file.description.clone(),
            url: Some(file.url.clone().unwrap_or_else(|| file_url(&entry.path))),
            labels: file.labels.clone(),
            priority: file.priority,
            column: file.state.clone(),
            blocked_by,
            branch_name: file.branch_name.clone(),
            created_at: file.created_at.unwrap_or(*modified),
            updated_at: *modified,
            recent_comments: Some(recent_comments.clone()),
        }
    }

    /// Read-modify-write one ticket file. `change` gets the current text and its parsed
    /// ticket and returns the new text (`None`: nothing to do) or why it cannot.
    fn edit(
        &self,
        id: &str,
        change: impl Fn(&str, &TicketFile) -> Result<Option<String>, String>,
    ) -> Result<(), TrackerError> {
        let scan = self.scan()?;
        let entry = scan
            .find(id)?
            .ok_or_else(|| TrackerError::NotFound(id.to_string()))?;
        let path = &entry.path;
        for _ in 0..WRITE_ATTEMPTS {
            let text = read(path)?;
            let file =
                ticket_file::parse(&text, &stem(path)).map_err(|f| malformed(path, f.message))?;
            if file.identifier != id {
                return Err(malformed(
                    path,
                    format!(
                        "its id changed from {id:?} to {:?} while writing",
                        file.identifier
                    ),
                ));
            }
            let Some(new) = change(&text, &file).map_err(|m| malformed(path, m))? else {
                return Ok(());
            };
            match atomic::replace_if_unchanged(path, &text, &new) {
                Ok(Replaced::Done) => return Ok(()),
                Ok(Replaced::Changed) => continue,
                Err(e) => return Err(io_error(path, e)),
            }
        }
        Err(TrackerError::Transient(format!(
            "{} kept changing while karajan was writing it",
            path.display()
        )))
    }

    fn check(&self, columns: &[String]) -> TrackerCheck {
        let mut check = TrackerCheck::default();
        let dir = self.dir.display();
        match fs::metadata(&self.dir) {
            Err(e) => {
                check
                    .errors
                    .push(format!("tickets folder {dir} is not usable: {e}"));
                return check;
            }
            Ok(m) if !m.is_dir() => {
                check
                    .errors
                    .push(format!("tickets folder {dir} is not a folder"));
                return check;
            }
            Ok(_) => {}
        }
        let scan = match self.scan() {
            Ok(scan) => scan,
            Err(e) => {
                check.errors.push(e.to_string());
                return check;
            }
        };
        let mut per_column: BTreeMap<&str, usize> = BTreeMap::new();
        let mut skipped = Vec::new();
        for entry in &scan.entries {
            match &entry.kind {
                Kind::Ticket { file, .. } => *per_column.entry(&file.state).or_default() += 1,
                Kind::Bad { message, .. } => {
                    skipped.push(format!(
                        "warning: skipping {}: {message}",
                        entry.path.display()
                    ));
                }
            }
        }
        let total: usize = per_column.values().sum();
        check.facts.push(format!(
            "tickets folder {dir}: {total} ticket(s), {} unreadable",
            skipped.len()
        ));
        for column in columns {
            let n = per_column.get(column.as_str()).copied().unwrap_or(0);
            check
                .facts
                .push(format!("column {column:?}: {n} ticket(s)"));
        }
        for (column, n) in &per_column {
            if columns.iter().any(|c| c == column) {
                continue;
            }
            match columns.iter().find(|c| c.eq_ignore_ascii_case(column)) {
                Some(configured) => check.facts.push(format!(
                    "warning: {n} ticket(s) in column {column:?}, which differs from the \
                     configured {configured:?} only by case; karajan will not pick them up"
                )),
                None => check
                    .facts
                    .push(format!("column {column:?} (not watched): {n} ticket(s)")),
            }
        }
        check.facts.extend(skipped);
        check
    }
}

impl Scan {
    /// Column of every readable, uniquely identified ticket.
    fn states(&self) -> HashMap<&str, &str> {
        self.entries
            .iter()
            .filter_map(|e| match &e.kind {
                Kind::Ticket { file, .. } => Some((file.identifier.as_str(), file.state.as_str())),
                Kind::Bad { .. } => None,
            })
            .collect()
    }

    /// The ticket with this identifier; an error when a file claiming it is unreadable
    /// (or duplicated), `None` when no file claims it.
    fn find(&self, id: &str) -> Result<Option<&Entry>, TrackerError> {
        let mut found = None;
        for entry in &self.entries {
            match &entry.kind {
                Kind::Ticket { file, .. } if file.identifier == id => found = Some(entry),
                Kind::Bad {
                    claimed_id,
                    message,
                } if claimed_id == id => return Err(malformed(&entry.path, message.clone())),
                _ => {}
            }
        }
        Ok(found)
    }
}

/// Read and parse one file; `None` when it vanished between listing and reading.
fn read_entry(path: PathBuf) -> Option<Entry> {
    let claimed_id = stem(&path);
    let bad = |message: String| Kind::Bad {
        claimed_id: claimed_id.clone(),
        message,
    };
    let kind = match fs::read(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => bad(format!("cannot read: {e}")),
        Ok(bytes) => match String::from_utf8(bytes) {
            Err(_) => bad("not UTF-8 text".to_string()),
            Ok(text) => match ticket_file::parse(&text, &claimed_id) {
                Err(f) => Kind::Bad {
                    claimed_id: f.claimed_id,
                    message: f.message,
                },
                Ok(file) => {
                    let modified = modified(&path);
                    let body = ticket_file::body(&text).unwrap_or("");
                    Kind::Ticket {
                        recent_comments: comments::recent(body, modified),
                        file,
                        modified,
                    }
                }
            },
        },
    };
    Some(Entry { path, kind })
}

/// Turn every group of tickets sharing an identifier into skipped entries naming all
/// the files of the group.
fn mark_duplicates(entries: &mut [Entry]) {
    let mut by_id: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        if let Kind::Ticket { file, .. } = &entry.kind {
            by_id.entry(file.identifier.clone()).or_default().push(i);
        }
    }
    for (id, group) in by_id.into_iter().filter(|(_, g)| g.len() > 1) {
        let files: Vec<String> = group
            .iter()
            .map(|&i| entries[i].path.display().to_string())
            .collect();
        let message = format!(
            "duplicate id {id:?}: used by {}; rename or merge them",
            files.join(" and ")
        );
        for &i in &group {
            entries[i].kind = Kind::Bad {
                claimed_id: id.clone(),
                message: message.clone(),
            };
        }
    }
}

fn read(path: &Path) -> Result<String, TrackerError> {
    let bytes = fs::read(path).map_err(|e| io_error(path, e))?;
    String::from_utf8(bytes).map_err(|_| malformed(path, "not UTF-8 text".to_string()))
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn modified(path: &Path) -> DateTime<Utc> {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now())
}

fn malformed(path: &Path, message: String) -> TrackerError {
    TrackerError::Malformed {
        source_name: path.display().to_string(),
        message,
    }
}

fn io_error(path: &Path, e: io::Error) -> TrackerError {
    let message = format!("{}: {e}", path.display());
    match e.kind() {
        io::ErrorKind::PermissionDenied => TrackerError::Fatal(message),
        io::ErrorKind::NotFound => TrackerError::NotFound(message),
        _ => TrackerError::Transient(message),
    }
}

/// `file://` URL of an absolute path, percent-encoding what a URL cannot carry.
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_are_encoded() {
        assert_eq!(
            file_url(Path::new("/t/my ticket#1.md")),
            "file:///t/my%20ticket%231.md"
        );
    }

    #[test]
    fn duplicates_name_every_file() {
        let ticket = |p: &str| Entry {
            path: PathBuf::from(p),
            kind: Kind::Ticket {
                file: ticket_file::parse("---\nid: X\ntitle: t\nstate: s\n---\n", "x")
                    .expect("parse"),
                modified: Utc::now(),
                recent_comments: vec![],
            },
        };
        let mut entries = vec![ticket("/a.md"), ticket("/b.md")];
        mark_duplicates(&mut entries);
        for e in &entries {
            match &e.kind {
                Kind::Bad {
                    claimed_id,
                    message,
                } => {
                    assert_eq!(claimed_id, "X");
                    assert!(
                        message.contains("/a.md") && message.contains("/b.md"),
                        "{message}"
                    );
                }
                Kind::Ticket { .. } => panic!("duplicate kept"),
            }
        }
    }
}
