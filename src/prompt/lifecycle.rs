//! The third prompt layer, written by karajan rather than the user: where the ticket is
//! in the workflow and what happens next. Generated in Rust (not a template) so it can
//! never fail to render and always reflects the compiled machine.

use std::fmt::Write;

use super::context::PromptContext;
use crate::domain::{Comment, Machine, StateSpec};

/// How many human comments the section quotes (the most recent ones): as many as a
/// tracker read carries (`TicketSnapshot::recent_comments`).
pub(crate) const RECENT_COMMENTS: usize = crate::domain::RECENT_HUMAN_COMMENTS;

/// The lifecycle section for `state`.
pub(crate) fn section(
    machine: &Machine,
    state: &str,
    ctx: &PromptContext,
    comments: &[Comment],
) -> String {
    let mut s = String::new();
    let issue = &ctx.issue;
    // `write!` to a String cannot fail.
    let _ = writeln!(s, "---\n\n## Lifecycle (from karajan)\n");
    let _ = writeln!(s, "- Ticket: {} — {}", issue.identifier, issue.title);
    if let Some(url) = &issue.url {
        let _ = writeln!(s, "- URL: {url}");
    }
    if !issue.labels.is_empty() {
        let _ = writeln!(s, "- Labels: {}", issue.labels.join(", "));
    }
    let _ = writeln!(s, "- Priority: {}", priority_label(issue.priority));
    let _ = writeln!(s, "- Tracker column: {}", issue.state);
    if let Some(pr) = &ctx.pull_request {
        let _ = writeln!(
            s,
            "- Pull request: #{} {} (your pushes to its branch update it)",
            pr.number, pr.url
        );
    }
    let _ = write!(
        s,
        "- Workflow state: `{state}` (run {}, attempt {}",
        ctx.run, ctx.attempt
    );
    if let Some(at) = &ctx.last_run_at {
        let _ = write!(s, ", last run {at}");
    }
    let _ = writeln!(s, ")");

    let transitions = machine.transitions_from(state);
    if !transitions.is_empty() {
        let _ = writeln!(s, "\n### What happens next\n");
        for (event, target) in &transitions {
            let _ = writeln!(
                s,
                "- {} → `{target}` ({})",
                event_label(event),
                describe(machine, target)
            );
        }
    }

    if let Some(StateSpec::Agent {
        review: Some(r), ..
    }) = machine.state(state)
    {
        let _ = writeln!(s, "\n### Your verdict\n");
        let _ = writeln!(
            s,
            "You are the reviewer. End by writing your verdict as JSON to the file named by the environment variable `KARAJAN_VERDICT_FILE` (outside the repository; do not commit it):\n"
        );
        let _ = writeln!(
            s,
            "```json\n{{\"verdict\": \"approve\" | \"needs_revision\", \"summary\": \"…\", \"findings\": [{{\"path\": \"src/x.rs\", \"line\": 12, \"severity\": \"error\" | \"warning\" | \"note\", \"text\": \"…\"}}]}}\n```\n"
        );
        let _ = writeln!(
            s,
            "`findings` is optional, and so are `path` and `line` in each. If you cannot write files, end your final message with the same JSON in a fenced `json` block instead (the file wins when both exist). `needs_revision` sends the work back with your summary and findings (at most {} round(s) before a human is asked). No verdict, or one that does not parse, counts as a failed review, never as approval.",
            r.max_rounds
        );
    }

    if ctx.rework.count > 0 || ctx.rework.feedback.is_some() {
        let _ = writeln!(s, "\n### Rework requested (round {})\n", ctx.rework.count);
        match &ctx.rework.feedback {
            Some(f) if !f.trim().is_empty() => {
                let _ = writeln!(s, "A reviewer sent this back with this feedback:\n");
                let _ = writeln!(s, "{}", quote(f));
            }
            _ => {
                let _ = writeln!(s, "A reviewer sent this back without written feedback.");
            }
        }
    }

    let human: Vec<&Comment> = comments.iter().filter(|c| !c.is_karajan()).collect();
    let recent = &human[human.len().saturating_sub(RECENT_COMMENTS)..];
    if !recent.is_empty() {
        let _ = writeln!(s, "\n### Recent comments\n");
        for c in recent {
            let _ = writeln!(
                s,
                "- {} ({}):\n{}",
                c.author,
                c.created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                quote(&c.body)
            );
        }
    }
    s
}

fn priority_label(p: Option<u8>) -> String {
    match p {
        Some(1) => "1 (urgent)".into(),
        Some(2) => "2 (high)".into(),
        Some(3) => "3 (medium)".into(),
        Some(4) => "4 (low)".into(),
        Some(n) => n.to_string(),
        None => "none".into(),
    }
}

fn event_label(event: &str) -> &str {
    match event {
        "finish" => "When you finish successfully",
        "approve" => "When a human approves",
        "rework" => "When a human asks for rework",
        "verdict_approve" => "When your verdict is `approve`",
        "verdict_needs_revision" => "When your verdict is `needs_revision`",
        other => other,
    }
}

fn describe(machine: &Machine, target: &str) -> &'static str {
    match machine.state(target) {
        Some(StateSpec::Agent { .. }) => "another agent stage",
        Some(StateSpec::Gate { .. }) => "a human review gate: a person approves or asks for rework",
        Some(StateSpec::Terminal { .. }) => "done: the ticket is finished",
        None => "unknown state",
    }
}

/// Markdown block quote, indented under a list item.
fn quote(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| {
            if l.is_empty() {
                "  >".to_string()
            } else {
                format!("  > {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
