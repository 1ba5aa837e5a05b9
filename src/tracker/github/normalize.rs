//! GitHub records → `TicketSnapshot`, the same way in both modes:
//!
//! - identifier `owner/repo#N`; `id` is the issue's GraphQL node id (what `addComment`
//!   and `closeIssue` take; project items are looked up from it);
//! - labels lowercased, state labels (the configured prefix) and the priority labels
//!   hidden from `labels`;
//! - priority 1 (urgent) .. 4 (low), `None` sorting last. A priority label's suffix is a
//!   digit `1`-`4`, `p0`-`p3`, or a word (`urgent`/`critical`, `high`, `medium`/`normal`,
//!   `low`). A single-select project field maps its options in board order: first
//!   option → 1, second → 2, third → 3, the rest → 4. A number field is clamped to 1..4;
//! - a closed issue is in a terminal column: its own if its column is terminal, else the
//!   workflow's `done` column (closing an issue by hand finishes it);
//! - an issue without a column reads as `(not on the project)` (no item on the board:
//!   never added, or the item was deleted), `(no status)` (an item whose status field is
//!   empty) or `(no state label)` (labels mode), so a held ticket says why.

/// The column of an issue that is not on the project's board.
pub(crate) const NOT_ON_PROJECT: &str = "(not on the project)";
/// The column of a board item whose status field is empty.
pub(crate) const NO_STATUS: &str = "(no status)";
/// The column of an issue without a state label (labels mode).
pub(crate) const NO_STATE_LABEL: &str = "(no state label)";

/// The column a ticket is in, given whether its issue is open: a closed issue is in a
/// terminal column (`terminal[0]` is the workflow's `done`).
pub(crate) fn effective_column(open: bool, column: String, terminal: &[String]) -> String {
    if open || terminal.contains(&column) {
        return column;
    }
    terminal.first().cloned().unwrap_or(column)
}

use chrono::{DateTime, Utc};

use super::config::{GithubConfig, PrioritySource};

/// `owner/repo#N`.
pub(crate) fn identifier(repo_full_name: &str, number: i64) -> String {
    format!("{repo_full_name}#{number}")
}

/// Parses `owner/repo#N`.
pub(crate) fn parse_identifier(identifier: &str) -> Option<(String, String, i64)> {
    let (repo, number) = identifier.rsplit_once('#')?;
    let (owner, name) = repo.split_once('/')?;
    let number = number.parse().ok().filter(|n| *n > 0)?;
    (!owner.is_empty() && !name.is_empty()).then(|| (owner.to_string(), name.to_string(), number))
}

/// The priority word or number after a label prefix.
pub(crate) fn priority_from_word(word: &str) -> Option<u8> {
    match word.trim().to_lowercase().as_str() {
        "1" | "p0" | "urgent" | "critical" => Some(1),
        "2" | "p1" | "high" => Some(2),
        "3" | "p2" | "medium" | "normal" => Some(3),
        "4" | "p3" | "low" => Some(4),
        _ => None,
    }
}

/// Priority from labels, when the source is a label prefix. The most urgent one wins.
pub(crate) fn priority_from_labels(config: &GithubConfig, labels: &[String]) -> Option<u8> {
    let Some(PrioritySource::LabelPrefix(prefix)) = &config.priority else {
        return None;
    };
    labels
        .iter()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .filter_map(priority_from_word)
        .min()
}

/// Priority from a single-select option's position on the board.
pub(crate) fn priority_from_option_index(index: usize) -> u8 {
    u8::try_from(index + 1).unwrap_or(4).min(4)
}

/// Priority from a number field.
pub(crate) fn priority_from_number(n: f64) -> Option<u8> {
    n.is_finite().then(|| n.round().clamp(1.0, 4.0) as u8)
}

/// Lowercased labels without state labels and priority labels.
pub(crate) fn visible_labels(config: &GithubConfig, raw: &[String]) -> Vec<String> {
    let priority_prefix = match &config.priority {
        Some(PrioritySource::LabelPrefix(p)) => Some(p.as_str()),
        _ => None,
    };
    raw.iter()
        .map(|l| l.to_lowercase())
        .filter(|l| !config.is_state_label(l))
        .filter(|l| priority_prefix.is_none_or(|p| !l.starts_with(p)))
        .collect()
}

/// The fields every snapshot needs, whatever the mode read them from.
#[derive(Debug, Clone)]
pub(crate) struct IssueFields {
    pub node_id: String,
    pub repo: String,
    pub number: i64,
    pub title: String,
    pub body: String,
    pub url: String,
    pub labels: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Open, or closed (by hand or by karajan's `close_on_terminal`).
    pub open: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::github::config::RawGithubConfig;

    fn config(priority: &str) -> GithubConfig {
        let raw: RawGithubConfig =
            yaml_serde::from_str(&format!("repo: a/b\ntoken: x\n{priority}")).expect("yaml");
        GithubConfig::from_raw(raw, |s| Ok(s.to_string())).expect("valid")
    }

    #[test]
    fn identifiers_round_trip() {
        assert_eq!(identifier("acme/app", 7), "acme/app#7");
        assert_eq!(
            parse_identifier("acme/app#7"),
            Some(("acme".into(), "app".into(), 7))
        );
        assert_eq!(parse_identifier("acme#7"), None);
        assert_eq!(parse_identifier("acme/app#x"), None);
    }

    #[test]
    fn priority_labels_pick_the_most_urgent_and_are_hidden() {
        let cfg = config("priority: {label_prefix: 'priority:'}\n");
        let labels: Vec<String> = ["Bug", "priority:low", "priority:high", "karajan:todo"]
            .iter()
            .map(|s| s.to_lowercase())
            .collect();
        assert_eq!(priority_from_labels(&cfg, &labels), Some(2));
        assert_eq!(visible_labels(&cfg, &labels), vec!["bug".to_string()]);
        assert_eq!(priority_from_labels(&cfg, &["bug".to_string()]), None);
    }

    #[test]
    fn a_closed_issue_is_in_a_terminal_column() {
        let terminal = vec!["Done".to_string(), "Canceled".to_string()];
        let col = |open: bool, c: &str| effective_column(open, c.to_string(), &terminal);
        assert_eq!(col(true, "In Progress"), "In Progress");
        assert_eq!(col(false, "In Progress"), "Done");
        assert_eq!(col(false, NO_STATUS), "Done");
        assert_eq!(col(false, "Canceled"), "Canceled");
        assert_eq!(effective_column(false, "Todo".into(), &[]), "Todo");
    }

    #[test]
    fn field_priorities_are_bounded() {
        assert_eq!(priority_from_option_index(0), 1);
        assert_eq!(priority_from_option_index(7), 4);
        assert_eq!(priority_from_number(0.0), Some(1));
        assert_eq!(priority_from_number(2.4), Some(2));
        assert_eq!(priority_from_number(f64::NAN), None);
    }
}
