//! Table tests and properties for `decide`, the record fold and dispatch order.

mod props;
mod sim;
mod table;

use chrono::{DateTime, TimeZone, Utc};
use indexmap::IndexMap;

use super::machine::{Columns, Machine, StateSpec};
use super::ticket::TicketSnapshot;

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// implement → review (gate) → finalize → done, rework back to implement.
pub(super) fn machine() -> Machine {
    let mut states = IndexMap::new();
    states.insert(
        "implement".into(),
        StateSpec::Agent {
            next: "review".into(),
            column: "In Progress".into(),
            review: None,
        },
    );
    states.insert(
        "review".into(),
        StateSpec::Gate {
            approve: "finalize".into(),
            rework: "implement".into(),
            max_rework: 2,
            column: "Human Review".into(),
            merge: None,
            watch: None,
        },
    );
    states.insert(
        "finalize".into(),
        StateSpec::Agent {
            next: "qa".into(),
            column: "In Progress".into(),
            review: None,
        },
    );
    states.insert(
        "qa".into(),
        StateSpec::Gate {
            approve: "done".into(),
            rework: "finalize".into(),
            max_rework: 1,
            column: "Human Review".into(),
            merge: None,
            watch: None,
        },
    );
    states.insert(
        "done".into(),
        StateSpec::Terminal {
            column: "Done".into(),
        },
    );
    states.insert(
        "canceled".into(),
        StateSpec::Terminal {
            column: "Canceled".into(),
        },
    );
    Machine {
        entry: "implement".into(),
        states,
        columns: Columns {
            todo: "Todo".into(),
            active: "In Progress".into(),
            review: "Human Review".into(),
            approved: "Approved".into(),
            rework: "Rework".into(),
            done: "Done".into(),
            terminal: vec!["Canceled".into()],
        },
        max_attempts: 3,
    }
}

pub(super) fn ticket(id: &str, column: &str) -> TicketSnapshot {
    TicketSnapshot {
        id: id.into(),
        identifier: id.into(),
        title: format!("ticket {id}"),
        description: String::new(),
        url: None,
        labels: vec![],
        priority: None,
        column: column.into(),
        blocked_by: vec![],
        branch_name: None,
        created_at: t0(),
        updated_at: t0(),
        recent_comments: None,
    }
}
