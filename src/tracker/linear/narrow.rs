//! What an incremental read needs to see, so that an idle daemon stops re-reading
//! tickets that cannot change its candidates.
//!
//! An incremental read asks for every issue in scope updated (or given a human
//! comment) since the last read began minus an overlap (`crate::tracker::incremental`:
//! clock skew and writes in flight are why it reaches back 60 s). Right after a burst,
//! that window holds every ticket the burst touched, and each poll of the next minute
//! read them all again: 23 requests in 5 s of idling after a 500-ticket drain (issue
//! 11), almost all of them tickets karajan had just moved to Done.
//!
//! The window stays as it is (the guarantee against skew and writes in flight is
//! untouched); what narrows is *which* changed issues are worth reading. An issue
//! matters to the candidate set only if it is
//! - in a watched column now (a candidate, new or known), or
//! - a cached candidate (it may have left the watched columns: seen, it leaves), or
//! - a blocker of a cached candidate (its state resolves or reopens the blocker).
//!
//! Any other issue — finished, parked in a column karajan does not watch, never a
//! candidate — cannot change the answer, however often it changes. So the filter adds
//! `or: [state in watched, (team, number) in the cached tickets and their blockers]`.
//! The list is spelled out by team key and number (how Linear filters identifiers), and
//! only while it is short ([`MAX_LISTED`]); a longer one (a busy board) falls back to
//! the unnarrowed read, which is what it always was.

use super::normalize;
use super::ops::list_issues;

/// The most identifiers the narrowed filter lists; beyond, the read is not narrowed.
pub(super) const MAX_LISTED: usize = 250;

/// The restriction to add to an incremental read (as one element of its `and`), or
/// `None` when it cannot be narrowed (too many tickets to list, or an identifier that is
/// not `TEAM-number`).
pub(super) fn relevant(columns: &[String], listed: &[String]) -> Option<list_issues::IssueFilter> {
    if listed.len() > MAX_LISTED {
        return None;
    }
    let mut by_team: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
    for identifier in listed {
        let (team, number) = normalize::split_identifier(identifier)?;
        by_team.entry(team).or_default().push(number as f64);
    }
    let mut any = vec![list_issues::IssueFilter {
        state: Some(list_issues::WorkflowStateFilter {
            name: Some(list_issues::StringComparator {
                in_: Some(columns.to_vec()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }];
    any.extend(
        by_team
            .into_iter()
            .map(|(team, numbers)| list_issues::IssueFilter {
                team: Some(list_issues::TeamFilter {
                    key: Some(list_issues::StringComparator {
                        eq: Some(team.to_string()),
                        ..Default::default()
                    }),
                }),
                number: Some(list_issues::NumberComparator { in_: Some(numbers) }),
                ..Default::default()
            }),
    );
    Some(list_issues::IssueFilter {
        or: Some(any),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_watched_columns_and_each_team_s_numbers_or_gives_up() {
        let columns = vec!["Todo".to_string(), "Rework".to_string()];
        let listed: Vec<String> = ["ENG-7", "ENG-9", "OPS-1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let filter = serde_json::to_value(relevant(&columns, &listed).unwrap()).unwrap();
        assert_eq!(
            filter,
            serde_json::json!({"or": [
                {"state": {"name": {"in": ["Todo", "Rework"]}}},
                {"team": {"key": {"eq": "ENG"}}, "number": {"in": [7.0, 9.0]}},
                {"team": {"key": {"eq": "OPS"}}, "number": {"in": [1.0]}},
            ]})
        );
        assert!(relevant(&columns, &["not an identifier".to_string()]).is_none());
        let many: Vec<String> = (0..=MAX_LISTED).map(|n| format!("ENG-{n}")).collect();
        assert!(relevant(&columns, &many).is_none(), "too long a list");
        assert!(relevant(&columns, &many[..MAX_LISTED]).is_some());
    }
}
