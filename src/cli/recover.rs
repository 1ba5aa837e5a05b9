//! `karajan recover`: rebuild the store from the tracker after the store was lost.
//!
//! Every comment karajan writes carries a hidden marker with the state it put the
//! ticket in and the run and rework counts of every state. Recovery reads all comment
//! pages of every ticket in a watched column, takes the newest marker (by time, whatever
//! order the tracker returns them in), and records a `recovered` event per ticket, so
//! the next `run` carries on where the lost store stood: gates keep waiting with their
//! rework counts, and an agent state that was mid-run runs again. With a GitHub forge,
//! each ticket's pull request is read back from the forge too (`recover_pr`).

use std::path::Path;

use super::Exit;
use crate::store::reset::{Opened, open_checked};
use crate::store::{EventKind, NewEvent, Store};
use crate::tracker::marker::latest_state;

pub async fn run(workflow: &Path) -> Exit {
    let wf = match super::load_or_report(workflow) {
        Ok(wf) => wf,
        Err(code) => return code,
    };
    if wf.store.postgres.is_some() {
        // Rebuilding a lost store from the tracker writes a fresh SQLite file; a
        // PostgreSQL store is backed up and restored by the server's own means.
        eprintln!(
            "karajan: `recover` rebuilds SQLite stores only; store.url names a PostgreSQL \
             store (restore it from the server's backups)"
        );
        return Exit::Failure;
    }
    // A writer: one per store (see `store::lock`), before the store is even looked at.
    let _lock = match crate::store::lock::acquire(&wf.store.path) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("karajan: {e}");
            return Exit::Failure;
        }
    };
    if let Ok(Some(existing)) = Store::open_read_only(&wf.store.path).await
        && let Ok((head, _)) = existing.head().await
        && head > 0
    {
        eprintln!(
            "karajan: the store at {} holds {head} events; recover only rebuilds a lost store (move it away first)",
            wf.store.path.display()
        );
        return Exit::Failure;
    }
    let tracker = match crate::tracker::from_config(&wf) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("karajan: {e}");
            return Exit::Tracker;
        }
    };
    let fetched = match tracker
        .fetch_candidates(&wf.machine.columns.watched())
        .await
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("karajan: cannot read tickets: {e}");
            return Exit::Tracker;
        }
    };
    let forge = match super::recover_pr::api(&wf) {
        Ok(api) => api,
        Err(e) => {
            eprintln!("karajan: {e}");
            return Exit::Tracker;
        }
    };
    let mut events = vec![];
    for t in &fetched.tickets {
        let comments = match tracker.comments(&t.ticket_ref()).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("karajan: cannot read the comments of {}: {e}", t.identifier);
                return Exit::Tracker;
            }
        };
        let Some(found) = latest_state(&comments) else {
            continue; // karajan never commented: not started yet
        };
        let Some(spec) = wf.machine.state(&found.state) else {
            eprintln!(
                "karajan: {}: state `{}` from its last marker is not in the workflow; skipped",
                t.identifier, found.state
            );
            continue;
        };
        let mut runs = found.runs.clone();
        if runs.is_empty() && found.run > 0 {
            runs.insert(found.state.clone(), found.run);
        }
        let mut rework = found.reworks.clone();
        if rework.is_empty() && found.rework > 0 {
            rework.insert(found.state.clone(), found.rework);
        }
        println!(
            "{}: `{}` ({} run(s), rework {:?}) from the marker of {}",
            t.identifier,
            found.state,
            runs.values().sum::<u32>(),
            rework,
            found.at.to_rfc3339()
        );
        events.push(NewEvent::for_issue(
            &t.identifier,
            EventKind::Recovered {
                tracker_id: t.id.clone(),
                state: found.state.clone(),
                to_kind: spec.kind(),
                runs,
                rework,
                marker_at: found.at,
            },
        ));
        if let Some(api) = &forge {
            match super::recover_pr::events(&wf, api, t, &found.state).await {
                Ok(pr) => {
                    if let Some(EventKind::PullRequestOpened { url, .. }) =
                        pr.first().map(|e| &e.kind)
                    {
                        println!("{}: pull request {url}", t.identifier);
                    }
                    events.extend(pr);
                }
                Err(e) => {
                    eprintln!("karajan: {}: {e}", t.identifier);
                    return Exit::Tracker;
                }
            }
        }
    }
    // Rebuilding a lost store is the deliberate acceptance of that loss: the old
    // checkpoint file (which vouched for the lost store) is kept aside, see `store::reset`.
    let opened = open_checked(&wf.store.path, &wf.store.checkpoints, true).await;
    let store = match opened {
        Ok((s, Opened::Consistent)) => s,
        Ok((s, Opened::Accepted { kept, .. })) => {
            println!(
                "the lost store's checkpoint file was kept as {}",
                kept.display()
            );
            s
        }
        Err(e) => {
            eprintln!("karajan: cannot create the store: {e}");
            return Exit::Failure;
        }
    };
    if let Err(code) = super::key::arm(&store, &wf.store.signing_key).await {
        store.close().await;
        return code;
    }
    let count = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Recovered { .. }))
        .count();
    if let Err(e) = store.append(events).await {
        eprintln!("karajan: cannot record the recovery: {e}");
        return Exit::Failure;
    }
    store.close().await;
    println!(
        "recovered {count} ticket(s) into {}",
        wf.store.path.display()
    );
    Exit::Ok
}
