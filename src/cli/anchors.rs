//! `karajan verify --against-tracker`: check the chain against the anchors karajan left
//! in its tracker comments.
//!
//! Each karajan comment's hidden marker carries the chain head `(seq, hash)` at the
//! moment it was composed (see `tracker::marker`). The tracker keeps those comments
//! outside karajan's machine, so a store replaced wholesale (database and checkpoint
//! file, even re-signed by someone holding the key) no longer holds the anchored hash at
//! the anchored seq. Comments are read the way `karajan recover` reads them: every
//! ticket in a watched or terminal column, every comment page.

use crate::config::Workflow;
use crate::store::{Break, Store};
use crate::tracker::marker::anchors;

/// What the tracker's anchors say about the store.
pub(crate) struct AnchorReport {
    pub checked: usize,
    pub tickets: usize,
    pub breaks: Vec<Break>,
}

/// Read every anchor from the tracker and look each one up in the chain.
pub(crate) async fn check(wf: &Workflow, store: &Store) -> Result<AnchorReport, String> {
    let tracker = crate::tracker::from_config(wf).map_err(|e| e.to_string())?;
    let mut columns = wf.machine.columns.watched();
    columns.extend(wf.machine.columns.terminal_all());
    let fetched = tracker
        .fetch_candidates(&columns)
        .await
        .map_err(|e| format!("cannot read tickets: {e}"))?;
    let mut report = AnchorReport {
        checked: 0,
        tickets: 0,
        breaks: vec![],
    };
    for t in &fetched.tickets {
        let comments = tracker
            .comments(&t.ticket_ref())
            .await
            .map_err(|e| format!("cannot read the comments of {}: {e}", t.identifier))?;
        let found = anchors(&comments);
        if !found.is_empty() {
            report.tickets += 1;
        }
        for a in found {
            report.checked += 1;
            let row = store
                .events_page(a.seq - 1, 1)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .find(|e| e.seq == a.seq);
            let anchored = format!(
                "the tracker anchor in {}'s comment of {} records hash {}",
                t.identifier,
                a.at.to_rfc3339(),
                a.hash
            );
            let problem = match row {
                Some(e) if e.hash == a.hash => continue,
                Some(e) => format!(
                    "{anchored} but the chain holds {} here: the store was replaced or \
                     rewritten from here or earlier",
                    e.hash
                ),
                None => format!(
                    "{anchored} but the chain has no row at this seq: the store was replaced \
                     or its tail deleted"
                ),
            };
            report.breaks.push(Break {
                seq: a.seq,
                problem,
            });
        }
    }
    report.breaks.sort_by_key(|b| b.seq);
    Ok(report)
}
