//! `karajan init`: write a starter workflow that runs as it is — its prompts, a tickets
//! folder with one example ticket, and the demo agent script it names — and point it at
//! a repository that exists: the git repository `DIR` is in, else a small `demo-repo`
//! created beside the workflow (one commit). Existing files are kept unless `--force`.
//! `karajan init && karajan run --once` takes the example ticket through its first
//! agent run with no further edit.
//!
//! Editors: the workflow's first line is the YAML language server's
//! `# yaml-language-server: $schema=./workflow.schema.json`, and that file (what
//! `karajan schema` prints) is written beside it. A relative path works offline and in
//! every clone of a repository the two files are committed to.

use std::path::{Path, PathBuf};

use super::Exit;

/// The files `init` writes, relative to the target directory (the workflow's
/// `workspace.repo` is filled in by [`run`]).
const FILES: &[(&str, &str)] = &[
    ("workflow.yaml", include_str!("../../workflow.example.yaml")),
    ("prompts/global.md", include_str!("../../prompts/global.md")),
    (
        "prompts/implement.md",
        include_str!("../../prompts/implement.md"),
    ),
    ("prompts/review.md", include_str!("../../prompts/review.md")),
    (
        "tickets/EXAMPLE-1.md",
        "---\nid: EXAMPLE-1\ntitle: Try karajan\nstate: Todo\npriority: 3\nlabels: [example]\n---\nDescribe the change you want here.\n",
    ),
    (
        "agent.sh",
        include_str!("../../examples/quickstart/agent.sh"),
    ),
];

/// The JSON Schema `init` writes beside the workflow, and the line that points the
/// editor's YAML language server at it.
const SCHEMA_FILE: &str = "workflow.schema.json";
const MODELINE: &str = "# yaml-language-server: $schema=./workflow.schema.json\n";

/// The placeholder in `workflow.example.yaml` that `init` replaces.
const REPO_PLACEHOLDER: &str = "repo: ./repo ";

/// The demo repository `init` creates when `DIR` is not in a git repository.
const DEMO_REPO: &str = "demo-repo";

pub fn run(dir: &Path, force: bool) -> Exit {
    let existing: Vec<_> = FILES
        .iter()
        .map(|(rel, _)| *rel)
        .chain([SCHEMA_FILE])
        .map(|rel| dir.join(rel))
        .filter(|p| p.exists())
        .collect();
    if !force && !existing.is_empty() {
        for p in &existing {
            eprintln!("karajan: {} exists (use --force to overwrite)", p.display());
        }
        return Exit::Failure;
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("karajan: cannot create {}: {e}", dir.display());
        return Exit::Failure;
    }
    let repo = match repository(dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("karajan: {e}");
            return Exit::Failure;
        }
    };
    for (rel, body) in FILES {
        let path = dir.join(rel);
        let body = if *rel == "workflow.yaml" {
            format!("{MODELINE}{}", with_repo(body, &repo.location))
        } else {
            (*body).to_string()
        };
        if let Err(e) = write(&path, &body, *rel == "agent.sh") {
            eprintln!("karajan: cannot write {}: {e}", path.display());
            return Exit::Failure;
        }
        println!("wrote {}", path.display());
    }
    let schema = dir.join(SCHEMA_FILE);
    if let Err(e) = write(
        &schema,
        &(crate::workflow_load::json_schema_text() + "\n"),
        false,
    ) {
        eprintln!("karajan: cannot write {}: {e}", schema.display());
        return Exit::Failure;
    }
    println!(
        "wrote {} (editors validate workflow.yaml with it; refresh it with `karajan schema > {SCHEMA_FILE}`)",
        schema.display()
    );
    println!("{}", repo.note);
    println!(
        "next: `karajan check`, `karajan run --dry-run`, then `karajan run --once` to take \
         tickets/EXAMPLE-1.md through its first agent run (agent.sh is a demo agent: \
         point the runner at a real one, e.g. `kind: claude`)"
    );
    Exit::Ok
}

/// The workflow text with `workspace.repo` set to `location`.
fn with_repo(template: &str, location: &str) -> String {
    template.replacen(REPO_PLACEHOLDER, &format!("repo: {location} "), 1)
}

fn write(path: &Path, body: &str, executable: bool) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, body)?;
    if executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// The repository the new workflow clones, and a line saying which and why.
struct Chosen {
    /// `workspace.repo`, relative to `dir`.
    location: String,
    note: String,
}

/// The git repository `dir` is in (the project the user is setting karajan up for),
/// else a new `dir/demo-repo` with one commit, so the workflow runs as written.
fn repository(dir: &Path) -> Result<Chosen, String> {
    let abs = std::path::absolute(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if let Ok(found) = git2::Repository::discover(&abs)
        && let Some(workdir) = found.workdir()
    {
        let root = workdir
            .canonicalize()
            .unwrap_or_else(|_| workdir.to_path_buf());
        let here = abs.canonicalize().unwrap_or(abs.clone());
        let location = relative(&here, &root);
        return Ok(Chosen {
            note: format!(
                "workspace.repo: {location} (the git repository this folder is in); agents work in clones of it, never in it"
            ),
            location,
        });
    }
    let demo = abs.join(DEMO_REPO);
    if git2::Repository::open(&demo).is_err() {
        create_demo_repo(&demo).map_err(|e| format!("cannot create {}: {e}", demo.display()))?;
        println!(
            "created {} (a git repository with one commit)",
            demo.display()
        );
    }
    Ok(Chosen {
        location: format!("./{DEMO_REPO}"),
        note: format!(
            "workspace.repo: ./{DEMO_REPO} (a demo repository: this folder is not in a git repository); set it to yours"
        ),
    })
}

/// `to` relative to `from` (an ancestor of `from`, or `from` itself), as `.`, `..`, ...
fn relative(from: &Path, to: &Path) -> String {
    if let Ok(down) = to.strip_prefix(from) {
        return if down.as_os_str().is_empty() {
            ".".into()
        } else {
            format!("./{}", down.display())
        };
    }
    let mut up = PathBuf::new();
    let mut cur = from;
    while let Some(parent) = cur.parent() {
        up.push("..");
        if to == parent {
            return up.display().to_string();
        }
        cur = parent;
    }
    to.display().to_string()
}

fn create_demo_repo(path: &Path) -> Result<(), git2::Error> {
    let repo = git2::Repository::init(path)?;
    std::fs::write(
        path.join("README.md"),
        "# demo-repo\n\nCreated by `karajan init` so the starter workflow runs as it is.\n",
    )
    .map_err(|e| git2::Error::from_str(&e.to_string()))?;
    let mut index = repo.index()?;
    index.add_path(Path::new("README.md"))?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let who = git2::Signature::now("karajan init", "init@karajan.invalid")?;
    repo.commit(Some("HEAD"), &who, &who, "Initial commit", &tree, &[])?;
    Ok(())
}

/// `karajan init --github-labels`: create every state label the workflow's columns need.
pub async fn github_labels(workflow: &Path) -> Exit {
    let wf = match super::load_or_report(workflow) {
        Ok(wf) => wf,
        Err(code) => return code,
    };
    let Some(gh) = wf.tracker.get::<crate::tracker::github::GithubConfig>() else {
        eprintln!("karajan: --github-labels needs a `github` tracker in labels mode");
        return Exit::Config;
    };
    let tracker = match crate::tracker::github::GithubTracker::new(
        gh.clone()
            .with_terminal_columns(wf.machine.columns.terminal_all()),
    ) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("karajan: {e}");
            return Exit::Tracker;
        }
    };
    let mut columns = wf.machine.columns.watched();
    columns.extend(wf.machine.columns.terminal_all());
    match tracker.create_state_labels(&columns).await {
        Ok(created) => {
            for l in &created {
                println!("created label `{l}`");
            }
            println!("{} label(s) created; the others existed", created.len());
            Exit::Ok
        }
        Err(e) => {
            eprintln!("karajan: cannot create labels: {e}");
            Exit::Tracker
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_has_the_repo_placeholder() {
        let (_, wf) = FILES[0];
        assert!(wf.contains(REPO_PLACEHOLDER));
        assert!(with_repo(wf, "./demo-repo").contains("repo: ./demo-repo "));
    }

    #[test]
    fn the_workflow_points_editors_at_the_schema_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("new");
        assert_eq!(run(&d, false), Exit::Ok);
        let wf = std::fs::read_to_string(d.join("workflow.yaml")).unwrap();
        assert_eq!(
            wf.lines().next(),
            Some("# yaml-language-server: $schema=./workflow.schema.json")
        );
        let written = std::fs::read_to_string(d.join(SCHEMA_FILE)).unwrap();
        let schema: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(schema, crate::workflow_load::json_schema());
        // The schema is one of the files `init` does not overwrite.
        for (rel, _) in FILES {
            std::fs::remove_file(d.join(rel)).unwrap();
        }
        assert_eq!(run(&d, false), Exit::Failure);
        std::fs::remove_file(d.join(SCHEMA_FILE)).unwrap();
        assert_eq!(run(&d, false), Exit::Ok);
    }

    #[test]
    fn relative_paths_to_an_ancestor() {
        let r = |a: &str, b: &str| relative(Path::new(a), Path::new(b));
        assert_eq!(r("/a/b", "/a/b"), ".");
        assert_eq!(r("/a/b/c", "/a"), "../..");
        assert_eq!(r("/a", "/a/x"), "./x");
    }
}
