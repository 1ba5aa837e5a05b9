//! Replace a file's content atomically, and only if nobody changed it meanwhile.
//!
//! Readers (a human's editor, another `karajan` command, the next poll) must see either
//! the old file or the new one, never a half-written one: the new content goes to a
//! hidden temporary file in the same directory (same file system, so `rename` is atomic),
//! is flushed to disk, and is renamed over the original; the directory is then synced so
//! the rename itself survives a crash. Just before the rename the original is read again
//! and compared with what the caller based its edit on, so an edit a human saved in the
//! meantime is not overwritten (the caller retries on the fresh content). A tiny window
//! remains between that comparison and the rename; closing it would need file locks that
//! editors do not take.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What happened to a conditional replace.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Replaced {
    Done,
    /// The file no longer holds the expected content; nothing was written.
    Changed,
}

/// How much of the original file name the temporary name keeps (for a human who
/// sees it), in bytes: the whole temporary name stays far below the 255-byte limit of
/// a file name, however long the ticket's name is. The pid and a random nonce make it
/// unique.
const TEMP_NAME_KEEPS: usize = 100;

/// Hidden name in the same directory; not `*.md`, so scans never pick it up.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.len() > TEMP_NAME_KEEPS {
        let mut end = TEMP_NAME_KEEPS;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    let nonce: u64 = rand::random();
    path.with_file_name(format!(
        ".{name}.karajan-{}-{nonce:016x}.tmp",
        std::process::id()
    ))
}

/// Write `new` over `path` if it still holds `expected`.
pub(crate) fn replace_if_unchanged(path: &Path, expected: &str, new: &str) -> io::Result<Replaced> {
    let temp = temp_path(path);
    let result = write_then_rename(path, &temp, expected, new);
    if !matches!(result, Ok(Replaced::Done)) {
        // Best effort: the temporary file must not outlive a failed or abandoned write.
        let _ = fs::remove_file(&temp);
    }
    result
}

fn write_then_rename(path: &Path, temp: &Path, expected: &str, new: &str) -> io::Result<Replaced> {
    let permissions = fs::metadata(path)?.permissions();
    {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(temp)?;
        file.write_all(new.as_bytes())?;
        file.set_permissions(permissions)?;
        file.sync_all()?;
    }
    if fs::read(path)? != expected.as_bytes() {
        return Ok(Replaced::Changed);
    }
    fs::rename(temp, path)?;
    if let Some(dir) = path.parent() {
        // Directories cannot be opened for syncing on every platform; the rename has
        // happened either way, so a failure here only weakens crash durability.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(Replaced::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.md");
        fs::write(&path, "old").expect("write");
        let r = replace_if_unchanged(&path, "old", "new").expect("replace");
        assert_eq!(r, Replaced::Done);
        assert_eq!(fs::read_to_string(&path).expect("read"), "new");
        assert_eq!(entries(dir.path()), vec!["a.md"]);
    }

    #[test]
    fn refuses_when_the_file_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.md");
        fs::write(&path, "edited by a human").expect("write");
        let r = replace_if_unchanged(&path, "old", "new").expect("replace");
        assert_eq!(r, Replaced::Changed);
        assert_eq!(
            fs::read_to_string(&path).expect("read"),
            "edited by a human"
        );
        assert_eq!(entries(dir.path()), vec!["a.md"]);
    }

    #[test]
    fn a_file_with_a_240_byte_name_can_be_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(format!("{}.md", "a".repeat(240)));
        fs::write(&path, "old").expect("write");
        let r = replace_if_unchanged(&path, "old", "new").expect("replace");
        assert_eq!(r, Replaced::Done);
        assert_eq!(fs::read_to_string(&path).expect("read"), "new");
        let wide = dir.path().join(format!("{}.md", "é".repeat(120)));
        assert!(temp_path(&wide).file_name().expect("name").len() <= 255);
    }

    #[test]
    fn missing_file_is_an_error_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("gone.md");
        assert!(replace_if_unchanged(&path, "old", "new").is_err());
        assert!(entries(dir.path()).is_empty());
    }
}
