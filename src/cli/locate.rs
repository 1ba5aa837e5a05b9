//! Which workflow a verb acts on, the same way for every verb.
//!
//! In order: the verb's positional argument (where the workflow is the verb's main
//! object: `karajan check path/workflow.yaml`), then `-w/--workflow`, then the
//! `KARAJAN_WORKFLOW` variable, then `workflow.yaml` in the current folder or the
//! nearest of its parents (like `cargo` finds `Cargo.toml`). A folder given anywhere
//! stands for the `workflow.yaml` in it.
//!
//! Why it is strict: a positional argument and `-w` naming two different files is a
//! mistake we cannot guess the answer to, and a missing file deserves a message that
//! says what to do (`karajan init`), not the loader's "invalid … No such file".

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::Exit;

/// The file name discovery looks for.
pub const FILE_NAME: &str = "workflow.yaml";
/// The variable that names the workflow when no argument does.
pub const ENV_VAR: &str = "KARAJAN_WORKFLOW";

/// Why no workflow could be chosen.
#[derive(Debug, PartialEq, Eq)]
pub enum LocateError {
    /// The positional argument and `-w` disagree.
    Ambiguous { positional: PathBuf, flag: PathBuf },
    /// A named file (argument, flag or variable) does not exist.
    Missing {
        path: PathBuf,
        named_by: &'static str,
    },
    /// Nothing named one and discovery found none.
    NotFound { searched_from: PathBuf },
}

impl LocateError {
    /// The exit code: a contradiction on the command line is a usage error, a missing
    /// workflow a configuration one.
    pub fn exit(&self) -> Exit {
        match self {
            LocateError::Ambiguous { .. } => Exit::Usage,
            _ => Exit::Config,
        }
    }
}

impl std::fmt::Display for LocateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocateError::Ambiguous { positional, flag } => write!(
                f,
                "two workflows named: {} (argument) and {} (-w/--workflow); give one",
                positional.display(),
                flag.display()
            ),
            LocateError::Missing { path, named_by } => write!(
                f,
                "no workflow at {} (named by {named_by}); create one with `karajan init`",
                path.display()
            ),
            LocateError::NotFound { searched_from } => write!(
                f,
                "no {FILE_NAME} in {} or any folder above it: create one with `karajan init`, \
                 or name one with -w/--workflow or {ENV_VAR}",
                searched_from.display()
            ),
        }
    }
}

/// Choose the workflow file (see the module docs). `env` is `KARAJAN_WORKFLOW`'s value.
pub fn locate(
    positional: Option<&Path>,
    flag: Option<&Path>,
    env: Option<OsString>,
    cwd: &Path,
) -> Result<PathBuf, LocateError> {
    let named = match (positional, flag) {
        (Some(p), Some(f)) if file_of(p) != file_of(f) => {
            return Err(LocateError::Ambiguous {
                positional: p.to_path_buf(),
                flag: f.to_path_buf(),
            });
        }
        (Some(p), _) => Some((p.to_path_buf(), "the argument")),
        (None, Some(f)) => Some((f.to_path_buf(), "-w/--workflow")),
        (None, None) => env
            .filter(|v| !v.is_empty())
            .map(|v| (PathBuf::from(v), ENV_VAR)),
    };
    if let Some((path, named_by)) = named {
        let file = file_of(&path);
        return if cwd.join(&file).is_file() {
            Ok(file)
        } else {
            Err(LocateError::Missing {
                path: file,
                named_by,
            })
        };
    }
    discover(cwd).ok_or_else(|| LocateError::NotFound {
        searched_from: cwd.to_path_buf(),
    })
}

/// `workflow.yaml` in `cwd` (as the relative `workflow.yaml`, so messages stay short)
/// or in the nearest parent (as an absolute path).
fn discover(cwd: &Path) -> Option<PathBuf> {
    if cwd.join(FILE_NAME).is_file() {
        return Some(PathBuf::from(FILE_NAME));
    }
    cwd.ancestors()
        .skip(1)
        .map(|dir| dir.join(FILE_NAME))
        .find(|p| p.is_file())
}

/// A folder stands for its `workflow.yaml`.
fn file_of(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(FILE_NAME)
    } else {
        path.to_path_buf()
    }
}

/// [`locate`] with the process's environment and folder, printing the problem.
pub fn resolve(positional: Option<&Path>, flag: Option<&Path>) -> Result<PathBuf, Exit> {
    let cwd = std::env::current_dir().map_err(|e| {
        eprintln!("karajan: cannot read the current folder: {e}");
        Exit::Failure
    })?;
    locate(positional, flag, std::env::var_os(ENV_VAR), &cwd).map_err(|e| {
        eprintln!("karajan: {e}");
        e.exit()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "x").unwrap();
        (dir, nested)
    }

    #[test]
    fn discovery_walks_up_to_the_nearest_workflow() {
        let (dir, nested) = tree();
        let found = locate(None, None, None, &nested).unwrap();
        assert_eq!(found, dir.path().join(FILE_NAME));
        std::fs::write(nested.join(FILE_NAME), "y").unwrap();
        assert_eq!(
            locate(None, None, None, &nested).unwrap(),
            PathBuf::from(FILE_NAME)
        );
    }

    #[test]
    fn the_argument_beats_the_flag_beats_the_variable() {
        let (dir, nested) = tree();
        let other = nested.join("other.yaml");
        std::fs::write(&other, "z").unwrap();
        let env = Some(OsString::from(&other));
        assert_eq!(locate(None, None, env.clone(), &nested).unwrap(), other);
        let top = dir.path().join(FILE_NAME);
        assert_eq!(locate(None, Some(&top), env.clone(), &nested).unwrap(), top);
        assert_eq!(locate(Some(&other), None, env, &nested).unwrap(), other);
        // The same file both ways is no contradiction; a folder means its workflow.yaml.
        assert_eq!(
            locate(Some(dir.path()), Some(&top), None, &nested).unwrap(),
            top
        );
    }

    #[test]
    fn contradictions_and_missing_files_are_explained() {
        let (dir, nested) = tree();
        let top = dir.path().join(FILE_NAME);
        let other = nested.join("nope.yaml");
        let err = locate(Some(&other), Some(&top), None, &nested).unwrap_err();
        assert_eq!(err.exit(), Exit::Usage);
        assert!(err.to_string().contains("two workflows named"), "{err}");
        let err = locate(None, Some(&other), None, &nested).unwrap_err();
        assert_eq!(err.exit(), Exit::Config);
        assert!(err.to_string().contains("no workflow at"), "{err}");
        assert!(err.to_string().contains("-w/--workflow"), "{err}");
        assert!(err.to_string().contains("karajan init"), "{err}");
        let err = locate(None, None, Some(OsString::from(&other)), &nested).unwrap_err();
        assert!(err.to_string().contains(ENV_VAR), "{err}");
    }

    #[test]
    fn an_empty_folder_suggests_init() {
        let dir = tempfile::tempdir().unwrap();
        let err = locate(None, None, Some(OsString::new()), dir.path()).unwrap_err();
        assert!(matches!(err, LocateError::NotFound { .. }));
        let text = err.to_string();
        assert!(text.contains("no workflow.yaml in"), "{text}");
        assert!(text.contains("karajan init"), "{text}");
    }
}
