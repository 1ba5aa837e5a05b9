//! Dispatch: start the wanted runs in priority order within the global and per-state
//! caps. A ticket that already has a live run is never started again.

use std::collections::BTreeMap;

use super::engine::Engine;
use super::execute::Wanted;
use crate::domain::priority::dispatch_order;
use crate::store::StoreError;

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
    pub(crate) async fn dispatch(&mut self, mut wanted: Vec<Wanted>) -> Result<(), StoreError> {
        if self.paused || self.draining || wanted.is_empty() {
            return Ok(());
        }
        if !self.day_budget_allows().await? {
            return Ok(());
        }
        let live: Vec<String> = self.live.values().map(|l| l.state.clone()).collect();
        let limits = &self.workflow.agent;
        let picked = plan(
            &mut wanted,
            &live,
            |id| self.live.contains_key(id),
            limits.max_concurrent,
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
