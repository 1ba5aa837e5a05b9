//! Rework feedback: what humans wrote about the work while it waited at its gate.
//!
//! The feedback is decided by the tracker's *order*, not by comparing clocks: the
//! comments humans wrote after karajan's own gate comment (recognised by its hidden
//! marker naming the gate) — the first karajan comment of the ticket's latest visit of
//! that gate, so an escalation comment written at the same gate does not cut the
//! reviewer's earlier words off. Comparing times failed on GitHub, whose comment times
//! have one-second resolution while the gate's entry is recorded to the millisecond: a
//! reviewer commenting within that second was dropped. Only when no karajan comment of
//! the gate can be found (written before markers existed, or deleted) are times used,
//! cut to whole seconds.
//!
//! A rework never runs without its feedback: when the comments cannot be read, the
//! transition waits for the next poll (the ticket stays where the human put it). The
//! comments are read by a task, so a slow tracker never holds the owner.

use chrono::{DateTime, SubsecRound, Utc};

use tracing::warn;

use super::engine::Engine;
use super::inbox::TaskMsg;
use crate::domain::{Comment, IssueRecord, TicketSnapshot};
use crate::store::StoreError;
use crate::tracker::TrackerError;
use crate::tracker::marker::parse_marker;

/// The state a karajan comment was written in, from its marker.
fn marker_state(c: &Comment) -> Option<String> {
    if !c.is_karajan() {
        return None;
    }
    Some(parse_marker(&c.body)?.get("state")?.as_str()?.to_string())
}

/// The human comments that are feedback for a rework at `gate`, entered at `entered_at`,
/// from the ticket's comments in tracker order (oldest first).
pub(crate) fn feedback_from(
    comments: &[Comment],
    gate: &str,
    entered_at: DateTime<Utc>,
) -> Option<String> {
    // Index of the first karajan comment of the latest run of karajan comments written
    // at `gate` (karajan comments of other states end a run; human ones do not).
    let mut start = None;
    let mut in_gate = false;
    for (i, c) in comments.iter().enumerate() {
        match marker_state(c) {
            Some(state) if state == gate && !in_gate => {
                start = Some(i);
                in_gate = true;
            }
            Some(state) if state == gate => {}
            Some(_) => in_gate = false,
            None => {}
        }
    }
    let since = entered_at.trunc_subsecs(0);
    let text: Vec<String> = comments
        .iter()
        .enumerate()
        .filter(|(i, c)| match start {
            Some(s) => *i > s,
            None => c.created_at >= since,
        })
        .filter(|(_, c)| !c.is_karajan())
        .map(|(_, c)| format!("{}: {}", c.author, c.body.trim()))
        .collect();
    (!text.is_empty()).then(|| text.join("\n\n"))
}

impl Engine {
    /// Read the rework feedback for `snap` leaving the gate `rec` is in, in a task; the
    /// decision is taken again when it answers (`on_feedback`).
    pub(crate) fn read_feedback(&mut self, snap: &TicketSnapshot, rec: Option<&IssueRecord>) {
        let Some(rec) = rec else { return };
        if !self.reading.insert(snap.identifier.clone()) {
            return;
        }
        let tracker = self.tracker.clone();
        let tx = self.tasks_tx.clone();
        let snapshot = snap.clone();
        let state = rec.state.clone();
        let entered_at = rec.entered_at;
        tokio::spawn(async move {
            let result = tracker
                .comments(&snapshot.ticket_ref())
                .await
                .map(|comments| feedback_from(&comments, &state, entered_at));
            let _ = tx.send(TaskMsg::Feedback {
                snapshot,
                state,
                entered_at,
                result,
            });
        });
    }

    /// The feedback was read: take the decision again, with it, if the ticket is still
    /// where it was. A rework never runs without its feedback: when the comments could
    /// not be read, the ticket stays where the human put it until the next poll.
    pub(crate) async fn on_feedback(
        &mut self,
        snapshot: TicketSnapshot,
        state: String,
        entered_at: DateTime<Utc>,
        result: Result<Option<String>, TrackerError>,
    ) -> Result<(), StoreError> {
        let id = snapshot.identifier.clone();
        self.reading.remove(&id);
        let feedback = match result {
            Ok(f) => f,
            Err(e) => {
                warn!(ticket = %id, error = %e, "could not read the rework feedback; the rework waits for the next poll");
                return Ok(());
            }
        };
        let rec = self.store.record(&id).await?;
        let unchanged = rec
            .as_ref()
            .is_some_and(|r| r.state == state && r.entered_at == entered_at);
        if !unchanged || self.in_flight(&id) {
            return Ok(()); // moved on meanwhile: the next poll decides
        }
        let actions =
            crate::domain::decide(&snapshot, rec.as_ref(), &self.workflow.machine, self.now());
        let decision = super::dispatch::Decision {
            snapshot,
            record: rec.as_ref(),
            actions,
            origin: super::execute::Origin {
                tracker_feedback: Some(feedback),
                ..Default::default()
            },
        };
        if self.execute_decisions(vec![decision]).await? > 0 {
            self.backlog = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000 + secs, 0).expect("time")
    }

    fn karajan(state: &str, secs: i64) -> Comment {
        Comment {
            author: "karajan".into(),
            body: format!("karajan: {state}\n\n<!-- karajan:{{\"state\":\"{state}\"}} -->"),
            created_at: at(secs),
        }
    }

    fn human(body: &str, secs: i64) -> Comment {
        Comment {
            author: "ada".into(),
            body: body.into(),
            created_at: at(secs),
        }
    }

    #[test]
    fn comments_after_the_gate_comment_in_the_same_second_are_feedback() {
        let entered = at(10) + chrono::Duration::milliseconds(700);
        let comments = vec![
            human("before the work started", 1),
            karajan("implement", 2),
            human("old remark during the run", 5),
            karajan("review", 10),
            human("rename it", 10),
        ];
        assert_eq!(
            feedback_from(&comments, "review", entered).as_deref(),
            Some("ada: rename it")
        );
    }

    #[test]
    fn an_escalation_at_the_same_gate_does_not_cut_earlier_feedback() {
        let comments = vec![
            karajan("review", 10),
            human("first try: add tests", 11),
            karajan("review", 12),
            human("really, add tests", 13),
        ];
        assert_eq!(
            feedback_from(&comments, "review", at(10)).as_deref(),
            Some("ada: first try: add tests\n\nada: really, add tests")
        );
        // A later visit of the gate starts after the next state's comments.
        let mut again = comments.clone();
        again.extend([
            karajan("implement", 20),
            karajan("review", 30),
            human("now the docs", 31),
        ]);
        assert_eq!(
            feedback_from(&again, "review", at(30)).as_deref(),
            Some("ada: now the docs")
        );
    }

    #[test]
    fn without_a_gate_comment_times_are_compared_to_the_second() {
        let entered = at(10) + chrono::Duration::milliseconds(900);
        let comments = vec![human("too old", 9), human("same second", 10)];
        assert_eq!(
            feedback_from(&comments, "review", entered).as_deref(),
            Some("ada: same second")
        );
        assert_eq!(feedback_from(&[], "review", entered), None);
    }
}
