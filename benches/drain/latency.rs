//! Approval → next agent, per ticket: from the bench's move in the fake to the first
//! line of the `finalize` agent script, and from the moment karajan could first know of
//! the approval to that start.
//!
//! "Could first know" is the first `ListIssues` answer computed after the move that
//! served the ticket (the fake computes answers after its latency, so a read already in
//! flight at the move may carry it), a poll of the watched columns, or, with webhooks,
//! the delivery, which carries the issue after the move (`served`: both, in time
//! order).

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// One approval the bench made as the human.
pub struct Approval {
    pub at: Instant,
    /// The same moment, in ns since the Unix epoch (the agent script's clock).
    pub at_ns: u128,
}

/// `(after the approval, after karajan could know)`, in seconds, one entry per ticket
/// whose `finalize` agent started.
pub fn measure(
    approvals: &HashMap<String, Approval>,
    starts: &Path,
    served: &[(Instant, Vec<String>)],
) -> (Vec<f64>, Vec<f64>) {
    let secs = |ns: u128| ns as f64 / 1e9;
    let mut after_approval = vec![];
    let mut after_seen = vec![];
    for (id, a) in approvals {
        let file = starts.join(format!("{id}.finalize"));
        let Some(start_ns) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| t.trim().parse::<u128>().ok())
        else {
            continue;
        };
        after_approval.push(secs(start_ns.saturating_sub(a.at_ns)));
        let seen = served
            .iter()
            .find(|(at, ids)| *at >= a.at && ids.iter().any(|i| i == id));
        if let Some((seen, _)) = seen {
            let seen_ns = a.at_ns + seen.duration_since(a.at).as_nanos();
            after_seen.push(secs(start_ns.saturating_sub(seen_ns)));
        }
    }
    (after_approval, after_seen)
}
