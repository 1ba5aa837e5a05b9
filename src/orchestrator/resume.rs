//! Resumed sessions and the record: the ticket comment when a resume fell back to a
//! fresh session. (What a resumed session had used before, for CLIs that report a
//! thread's cumulative usage, comes with the run's history: `Store::run_history`.)

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
