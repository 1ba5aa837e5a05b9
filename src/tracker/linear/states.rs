//! The workflow states (columns) of the teams karajan works in, resolved to ids once and
//! cached: a move needs the state id, and looking it up per move would cost a request on
//! the hot path. `LinearTracker::refresh_states` reloads them (on config reload).

use std::collections::BTreeMap;

/// One workflow state of a team.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ColumnState {
    pub id: String,
    pub name: String,
    /// `triage`, `backlog`, `unstarted`, `started`, `completed`, `canceled`.
    pub kind: String,
    pub position: f64,
}

/// States by team key, each team's in board order.
#[derive(Debug, Clone, Default)]
pub(crate) struct StateCache {
    teams: BTreeMap<String, Vec<ColumnState>>,
}

impl StateCache {
    pub fn insert(&mut self, team_key: &str, state: ColumnState) {
        let states = self.teams.entry(team_key.to_string()).or_default();
        states.retain(|s| s.id != state.id);
        states.push(state);
        states.sort_by(|a, b| a.position.total_cmp(&b.position));
    }

    /// Records that a team was loaded even if it has no states.
    pub fn touch(&mut self, team_key: &str) {
        self.teams.entry(team_key.to_string()).or_default();
    }

    pub fn has_team(&self, team_key: &str) -> bool {
        self.teams.contains_key(team_key)
    }

    pub fn team_keys(&self) -> impl Iterator<Item = &str> {
        self.teams.keys().map(String::as_str)
    }

    /// The state named `column` in the team (exact name first, then ignoring case).
    pub fn find(&self, team_key: &str, column: &str) -> Option<&ColumnState> {
        let states = self.teams.get(team_key)?;
        states
            .iter()
            .find(|s| s.name == column)
            .or_else(|| states.iter().find(|s| s.name.eq_ignore_ascii_case(column)))
    }

    /// The team's column names in board order, for error messages.
    pub fn column_names(&self, team_key: &str) -> Vec<String> {
        self.teams
            .get(team_key)
            .map(|states| states.iter().map(|s| s.name.clone()).collect())
            .unwrap_or_default()
    }

    pub fn merge(&mut self, other: StateCache) {
        for (key, states) in other.teams {
            self.teams.insert(key, states);
        }
    }
}

/// The error for a column a team does not have, listing the ones it has.
pub(crate) fn missing_column(team_key: &str, column: &str, cache: &StateCache) -> String {
    let names = cache.column_names(team_key);
    if names.is_empty() {
        format!(
            "column `{column}` does not exist in Linear team {team_key}: the team has no workflow states karajan can see"
        )
    } else {
        format!(
            "column `{column}` does not exist in Linear team {team_key}; its columns are: {}",
            names.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(id: &str, name: &str, position: f64) -> ColumnState {
        ColumnState {
            id: id.into(),
            name: name.into(),
            kind: "unstarted".into(),
            position,
        }
    }

    #[test]
    fn finds_by_name_and_lists_in_board_order() {
        let mut c = StateCache::default();
        c.insert("ENG", state("s2", "In Progress", 2.0));
        c.insert("ENG", state("s1", "Todo", 1.0));
        assert_eq!(c.find("ENG", "Todo").unwrap().id, "s1");
        assert_eq!(c.find("ENG", "in progress").unwrap().id, "s2");
        assert!(c.find("ENG", "Done").is_none());
        assert!(c.find("OPS", "Todo").is_none());
        assert_eq!(
            missing_column("ENG", "Done", &c),
            "column `Done` does not exist in Linear team ENG; its columns are: Todo, In Progress"
        );
    }
}
