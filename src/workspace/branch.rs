//! Turning a rendered `workspace.branch` template into a valid git branch name.
//!
//! The template renders tracker data (`karajan/{{ issue.identifier }}`), and
//! identifiers may hold anything: spaces, `:`, `..`, `~`, `^`, a leading `-`, `.` or
//! `..`. Git refuses such names (`git check-ref-format`), so every rendered name goes
//! through [`branch_name`] before it is used: a valid name is kept as it is; an invalid
//! one is repaired by the rules below and, since repairing is lossy (`a:b` and `a b`
//! would both give `a-b`), gets `-` and 8 hex digits of SHA-256 of the rendered name, so
//! two tickets still get two branches.
//!
//! The repairs, per `/`-separated component (empty components are dropped, so there is
//! no leading, trailing or double `/`): control characters, space, `~ ^ : ? * [ \` and
//! `@{` become `-`; runs of dots become one dot; a leading `.` or `-` becomes `_`; a
//! trailing `.` or `.lock` becomes `_` / `_lock`; each component is cut to
//! [`MAX_COMPONENT_BYTES`] (a ref is a file under `.git/refs`, and file names have at
//! most 255 bytes). A name that is still empty or `@` becomes `karajan`.

use git2::Branch;
use sha2::{Digest, Sha256};

/// The longest component of a branch name, in bytes (the hash suffix included).
pub const MAX_COMPONENT_BYTES: usize = 200;

/// Whether git accepts `name` as a branch name.
pub fn is_valid_branch(name: &str) -> bool {
    !name.starts_with('-')
        && name.split('/').all(|c| c.len() <= MAX_COMPONENT_BYTES)
        && Branch::name_is_valid(name).unwrap_or(false)
}

/// Why `name` is not a valid branch name (for `check` and logs), or `None` if it is.
pub fn branch_problem(name: &str) -> Option<String> {
    if is_valid_branch(name) {
        return None;
    }
    Some(format!(
        "`{name}` is not a valid git branch name; karajan uses `{}` instead",
        branch_name(name)
    ))
}

/// A valid branch name for the rendered `name` (itself when it is valid).
pub fn branch_name(name: &str) -> String {
    if is_valid_branch(name) {
        return name.to_string();
    }
    let mut components: Vec<String> = name
        .replace("@{", "-{")
        .split('/')
        .map(repair_component)
        .filter(|c| !c.is_empty())
        .collect();
    if components.is_empty() || components == ["@"] {
        components = vec!["karajan".to_string()];
    }
    let digest = Sha256::digest(name.as_bytes());
    let suffix = format!("-{}", hex::encode(&digest[..4]));
    let last = components.last_mut().expect("at least one component");
    cut(last, MAX_COMPONENT_BYTES - suffix.len());
    last.push_str(&suffix);
    let out = components.join("/");
    if is_valid_branch(&out) {
        out
    } else {
        // Not reachable by the rules above; a name that is valid by construction.
        format!("karajan/branch{suffix}")
    }
}

fn repair_component(c: &str) -> String {
    let mut s: String = c
        .chars()
        .map(|ch| {
            if ch.is_control() || matches!(ch, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\') {
                '-'
            } else {
                ch
            }
        })
        .collect();
    while s.contains("..") {
        s = s.replace("..", ".");
    }
    if s.starts_with('.') || s.starts_with('-') {
        s.replace_range(0..1, "_");
    }
    cut(&mut s, MAX_COMPONENT_BYTES);
    if let Some(stem) = s.strip_suffix(".lock") {
        s = format!("{stem}_lock");
    }
    if s.ends_with('.') {
        s.pop();
        s.push('_');
    }
    s
}

/// Cut `s` to at most `max` bytes, on a character boundary; never leaves a trailing `.`.
fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    while s.ends_with('.') {
        s.pop();
    }
    if s.ends_with(".lock") {
        s.truncate(s.len() - ".lock".len());
        s.push_str("_lock");
    }
}

/// Identifiers as each tracker spells them (Linear, GitHub, a local file): a template
/// that makes an invalid branch of these is at fault, whatever the tickets.
const ORDINARY_IDENTIFIERS: &[&str] = &["ENG-42", "acme/app#12", "QS-1"];

/// Identifiers trackers really produce that git refuses in a branch name.
const AWKWARD_IDENTIFIERS: &[&str] = &["fix login", "a:b", "x..y", "t~1^2", "-lead", "..", "a@{b}"];

/// `template` rendered for a ticket `id` (`None`: it does not render; that is
/// `check`'s error, reported elsewhere).
fn rendered_for(workflow: &crate::config::Workflow, id: &str) -> Option<String> {
    let now = chrono::Utc::now();
    let ticket = crate::domain::TicketSnapshot {
        id: id.to_string(),
        identifier: id.to_string(),
        title: format!("ticket {id}"),
        description: String::new(),
        url: None,
        labels: vec![],
        priority: None,
        column: workflow.machine.columns.todo.clone(),
        blocked_by: vec![],
        branch_name: None,
        created_at: now,
        updated_at: now,
        recent_comments: None,
    };
    let ctx = crate::prompt::PromptContext::new(&ticket, &workflow.machine.entry, 1, 1);
    crate::prompt::render_branch(&workflow.workspace.branch, &ctx).ok()
}

/// What `check` warns about: `workspace.branch` rendering an invalid git branch name
/// for an ordinary ticket (`ENG-42`, `acme/app#12`): the template itself is at fault
/// (a title with spaces, say), so every ticket gets a repaired name. One warning, with
/// the name karajan will use instead; empty when ordinary tickets get valid names.
pub fn branch_warnings(workflow: &crate::config::Workflow) -> Vec<String> {
    let template = &workflow.workspace.branch;
    ORDINARY_IDENTIFIERS
        .iter()
        .find_map(|id| {
            let rendered = rendered_for(workflow, id)?;
            let problem = branch_problem(&rendered)?;
            Some(format!(
                "workspace.branch `{template}` renders an invalid git branch name for an ordinary ticket `{id}`: {problem}"
            ))
        })
        .into_iter()
        .collect()
}

/// What `check` says (not a warning) about identifiers git refuses (`fix login`, `a:b`
/// …): karajan repairs each into a valid, distinct name; one line with an example, or
/// `None` when every awkward sample already renders a valid name.
pub fn branch_repairs(workflow: &crate::config::Workflow) -> Option<String> {
    let repaired: Vec<(&str, String)> = AWKWARD_IDENTIFIERS
        .iter()
        .filter_map(|id| {
            let rendered = rendered_for(workflow, id)?;
            branch_problem(&rendered).map(|_| (*id, rendered))
        })
        .collect();
    let (id, rendered) = repaired.first()?;
    Some(format!(
        "branches: identifiers git refuses in a branch name ({} of {} samples, e.g. `{id}`) get a repaired, distinct name: `{rendered}` → `{}`",
        repaired.len(),
        AWKWARD_IDENTIFIERS.len(),
        branch_name(rendered)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The shipped quickstart with `template` as its branch.
    fn workflow_with_branch(template: &str) -> crate::config::Workflow {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/quickstart/workflow.yaml");
        let mut wf = crate::workflow_load::load(&path).expect("load");
        wf.workspace.branch = template.to_string();
        wf
    }

    /// The default template warns about nothing (ordinary identifiers make valid
    /// names) and says once, as a note, how awkward ones are repaired; a template that
    /// breaks ordinary tickets' names (a title with spaces) is one warning.
    #[test]
    fn check_warns_about_the_template_not_about_awkward_samples() {
        let wf = workflow_with_branch("karajan/{{ issue.identifier }}");
        assert_eq!(branch_warnings(&wf), Vec::<String>::new());
        let note = branch_repairs(&wf).expect("a note");
        assert!(
            note.contains("e.g. `fix login`")
                && note.contains("`karajan/fix login` → `karajan/fix-login-"),
            "{note}"
        );
        let wf = workflow_with_branch("karajan/{{ issue.title }}");
        let warnings = branch_warnings(&wf);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("ordinary ticket `ENG-42`"),
            "{warnings:?}"
        );
    }

    #[test]
    fn valid_names_are_kept() {
        for n in ["karajan/ENG-42", "feature/x.y", "karajan/ünï"] {
            assert_eq!(branch_name(n), n);
        }
    }

    #[test]
    fn the_fuzzed_identifiers_become_valid_and_distinct() {
        let ids = [
            "fix login",
            "a:b",
            "x..y",
            "t~1",
            "c^2",
            "-lead",
            ".",
            "..",
            "end.lock",
            "trail.",
            "a@{b}",
            "a*b?[c]",
            "a\\b",
            "x/y",
            "",
            "@",
            "/",
            "//a//",
        ];
        let mut seen = std::collections::BTreeSet::new();
        for id in ids {
            let rendered = format!("karajan/{id}");
            let b = branch_name(&rendered);
            assert!(is_valid_branch(&b), "{rendered:?} -> {b:?}");
            assert!(seen.insert(b.clone()), "{rendered:?} -> {b:?} is taken");
        }
        assert!(branch_name("-x").starts_with("_x-"));
        assert!(branch_problem("karajan/fix login").is_some());
        assert!(branch_problem("karajan/fix-login").is_none());
    }

    #[test]
    fn long_names_are_cut_per_component() {
        let b = branch_name(&format!("karajan/{}", "a".repeat(300)));
        assert!(is_valid_branch(&b));
        assert!(b.split('/').all(|c| c.len() <= MAX_COMPONENT_BYTES));
    }

    proptest! {
        #[test]
        fn every_rendered_name_becomes_a_valid_branch(name in ".{0,80}") {
            let b = branch_name(&name);
            prop_assert!(is_valid_branch(&b), "{:?} -> {:?}", name, b);
        }
    }
}
