//! Dispatch: start the wanted runs in priority order within the global and per-state
//! caps. A ticket that already has a live run is never started again.
//!
//! A decision that starts a run (a pickup from todo, an approval into the next agent
//! state, a due retry, a ticket back in its column) is *admitted* first: its actions
//! (the transition, the tracker move and comment) are executed only when a slot is free
//! for the run now, under the same caps, pause and daily budget as dispatch. The others
//! are left untouched (a todo ticket stays in todo, unwritten) and are decided again on
//! a later tick, or as soon as a run finishes and frees a slot. So the first poll of a
//! full backlog writes to the tracker only for the tickets it can run. Runs of a runner
//! paused by its CLI's usage limit (`limits`) are not admitted until the pause ends.

use std::collections::BTreeMap;

use super::engine::Engine;
use super::execute::{Origin, Wanted};
use crate::domain::priority::dispatch_order;
use crate::domain::{Action, IssueRecord, TicketSnapshot};
use crate::store::StoreError;

/// What `decide` asked for one ticket, not yet executed.
pub(crate) struct Decision<'a> {
    pub snapshot: TicketSnapshot,
    pub record: Option<&'a IssueRecord>,
    pub actions: Vec<Action>,
    pub origin: Origin,
}

/// The state (and attempt) of the run a decision would start, if it starts one.
fn start_of<'d>(d: &'d Decision<'_>) -> Option<(&'d str, u32)> {
    d.actions.iter().find_map(|a| match a {
        Action::StartRun { state, attempt } => Some((state.as_str(), *attempt)),
        _ => None,
    })
}

/// The run a decision would start, if it starts one.
fn run_of(d: &Decision<'_>) -> Option<Wanted> {
    start_of(d).map(|(state, attempt)| Wanted {
        entered: false,
        snapshot: d.snapshot.clone(),
        state: state.to_string(),
        attempt,
        observed_at: chrono::Utc::now(),
    })
}

/// Pick which wanted runs may start now. Pure: `wanted` in any order, `live` the states
/// of the runs already live, `busy` whether a ticket already has a live run.
pub fn plan(
    wanted: &mut [Wanted],
    live: &[String],
    busy: impl Fn(&str) -> bool,
    max_concurrent: usize,
    per_state: &BTreeMap<String, usize>,
) -> Vec<usize> {
    wanted.sort_by(|a, b| dispatch_order(&a.snapshot, &b.snapshot));
    let mut total = live.len();
    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    for s in live {
        *by_state.entry(s.as_str()).or_default() += 1;
    }
    let mut picked = vec![];
    let mut seen: Vec<&str> = vec![];
    for (i, w) in wanted.iter().enumerate() {
        if total >= max_concurrent {
            break;
        }
        let id = w.snapshot.identifier.as_str();
        if busy(id) || seen.contains(&id) {
            continue;
        }
        let n = by_state.entry(w.state.as_str()).or_default();
        if per_state.get(&w.state).is_some_and(|cap| *n >= *cap) {
            continue;
        }
        *n += 1;
        total += 1;
        seen.push(id);
        picked.push(i);
    }
    picked
}

impl Engine {
    /// Whether the live runs and `more` about to start take every slot
    /// (`agent.max_concurrent`).
    pub(crate) fn slots_taken(&self, more: usize) -> bool {
        self.live.len() + more >= self.capacity()
    }

    /// Execute decisions: those that start a run only when a slot is free for it now
    /// (see the module doc); then start the admitted runs. Returns how many decisions
    /// were left waiting for a slot.
    pub(crate) async fn execute_decisions(
        &mut self,
        decisions: Vec<Decision<'_>>,
    ) -> Result<usize, StoreError> {
        let mut wanted = vec![];
        let mut waiting: Vec<Decision<'_>> = vec![];
        for d in decisions {
            match start_of(&d) {
                // A ticket with a live run keeps its slot (a restart reuses it).
                Some(_) if !self.live.contains_key(&d.snapshot.identifier) => {
                    waiting.push(d);
                }
                _ => {
                    if let Some(w) = self
                        .execute(&d.snapshot, d.record, d.actions, &d.origin)
                        .await?
                    {
                        wanted.push(w);
                    }
                }
            }
        }
        waiting.sort_by(|a, b| dispatch_order(&a.snapshot, &b.snapshot));
        let admitted = self.admit(&wanted, &waiting).await?;
        let left = waiting.len() - admitted.len();
        for (i, d) in waiting.into_iter().enumerate() {
            if !admitted.contains(&i) {
                continue;
            }
            if let Some(w) = self
                .execute(&d.snapshot, d.record, d.actions, &d.origin)
                .await?
            {
                wanted.push(w);
            }
        }
        self.dispatch(wanted).await?;
        Ok(left)
    }

    /// Which waiting decisions (in dispatch order) have a slot now: the live runs and
    /// the runs already wanted (decided without waiting) occupy theirs first.
    async fn admit(
        &mut self,
        wanted: &[Wanted],
        waiting: &[Decision<'_>],
    ) -> Result<Vec<usize>, StoreError> {
        if self.paused || self.draining || waiting.is_empty() {
            return Ok(vec![]);
        }
        // Every slot taken: nothing waiting can start (and a full board of waiting
        // tickets costs nothing more to consider).
        if self.slots_taken(wanted.len()) {
            return Ok(vec![]);
        }
        if !self.day_budget_allows().await? {
            return Ok(vec![]);
        }
        self.resume_due_runners().await?;
        let mut occupied: Vec<String> = self.live.values().map(|l| l.state.clone()).collect();
        occupied.extend(wanted.iter().map(|w| w.state.clone()));
        // Runs of a runner paused by its usage limit wait (untouched) for the reset.
        let open: Vec<usize> = (0..waiting.len())
            .filter(|&i| start_of(&waiting[i]).is_some_and(|(s, _)| !self.state_runner_paused(s)))
            .collect();
        let mut candidates: Vec<Wanted> =
            open.iter().filter_map(|&i| run_of(&waiting[i])).collect();
        let limits = &self.workflow.agent;
        // `plan` sorts `candidates`; they are already in dispatch order, and the sort is
        // stable, so the picked positions map back through `open`.
        Ok(plan(
            &mut candidates,
            &occupied,
            |id| self.live.contains_key(id),
            self.capacity(),
            &limits.max_concurrent_by_state,
        )
        .into_iter()
        .map(|i| open[i])
        .collect())
    }

    pub(crate) async fn dispatch(&mut self, mut wanted: Vec<Wanted>) -> Result<(), StoreError> {
        if self.paused || self.draining || wanted.is_empty() {
            return Ok(());
        }
        if !self.day_budget_allows().await? {
            return Ok(());
        }
        self.resume_due_runners().await?;
        wanted.retain(|w| !self.state_runner_paused(&w.state));
        let live: Vec<String> = self.live.values().map(|l| l.state.clone()).collect();
        let limits = &self.workflow.agent;
        let picked = plan(
            &mut wanted,
            &live,
            |id| self.live.contains_key(id),
            self.capacity(),
            &limits.max_concurrent_by_state,
        );
        for i in picked {
            let w = wanted[i].clone();
            if self.live.contains_key(&w.snapshot.identifier) {
                continue;
            }
            self.start_run(w).await?;
        }
        Ok(())
    }
}
