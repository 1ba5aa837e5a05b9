//! Resumed sessions and the record: what a resumed session had used before (Codex
//! reports a thread's cumulative usage, so a run's own share is what comes on top of
//! the thread's last recorded total), and the ticket comment when a resume fell back
//! to a fresh session.

use super::engine::Engine;
use crate::agent::RunOutcome;
use crate::store::StoreError;

impl Engine {
    /// Say on the ticket that its run could not resume the session it was meant to
    /// continue and went on in a fresh one (without the earlier conversation).
    pub(super) async fn comment_resume_fallback(
        &mut self,
        id: &str,
        rec_before: &crate::domain::IssueRecord,
        asked: &str,
        o: &RunOutcome,
    ) -> Result<(), StoreError> {
        let why = if self.remote.is_some() {
            "the agent CLI no longer knows it, or another node of the cluster holds it"
        } else {
            "the agent CLI no longer knows it"
        };
        let body = format!(
            "karajan: the `{}` run could not resume session {asked} ({why}); it ran in a fresh session{} without the earlier conversation.",
            rec_before.state,
            o.session_id
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default()
        );
        let rec = self.store.record(id).await?;
        let snap = match self.snapshots.get(id) {
            Some(s) => (**s).clone(),
            None => super::finish::placeholder_snapshot(rec_before),
        };
        let actions = vec![crate::domain::Action::Comment { body }];
        Box::pin(self.execute(
            &snap,
            rec.as_ref(),
            actions,
            &super::execute::Origin::default(),
        ))
        .await?;
        Ok(())
    }
}

/// The cumulative usage `session` had reported when its latest run with a known total
/// was recorded: the run's `accounting.thread_tokens`, or, for runs recorded before that
/// field existed, its `tokens` (which then held the session's total as reported).
/// `None` when no recorded run of the session knows it.
pub(crate) fn thread_usage(
    events: &[crate::store::StoredEvent],
    session: &str,
) -> Option<crate::domain::TokenUsage> {
    events.iter().rev().find_map(|e| {
        let p = &e.payload;
        if e.kind != "run_finished" || p.get("session_id").and_then(|v| v.as_str()) != Some(session)
        {
            return None;
        }
        let total = match p.get("accounting") {
            Some(acc) => acc.get("thread_tokens")?,
            None => p.get("tokens")?,
        };
        serde_json::from_value(total.clone()).ok()
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::thread_usage;
    use crate::domain::TokenUsage;
    use crate::store::StoredEvent;

    fn finished(payload: serde_json::Value) -> StoredEvent {
        StoredEvent {
            seq: 1,
            at: chrono::Utc::now(),
            issue: Some("ENG-1".into()),
            kind: "run_finished".into(),
            payload,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn thread_usage_is_the_latest_known_total_of_that_session() {
        let t = |input| TokenUsage {
            input,
            ..Default::default()
        };
        let events = vec![
            // Recorded before `accounting` existed: its tokens were the thread's total.
            finished(json!({"session_id": "th", "tokens": t(10)})),
            finished(
                json!({"session_id": "th", "tokens": t(5), "accounting": {"usage": "reported", "thread_tokens": t(15)}}),
            ),
            finished(json!({"session_id": "other", "tokens": t(99)})),
            // Killed before Codex reported usage: no total; the one before stands.
            finished(
                json!({"session_id": "th", "tokens": t(0), "accounting": {"usage": "unknown"}}),
            ),
        ];
        assert_eq!(thread_usage(&events, "th"), Some(t(15)));
        assert_eq!(thread_usage(&events[..1], "th"), Some(t(10)));
        assert_eq!(thread_usage(&events, "nope"), None);
    }
}
