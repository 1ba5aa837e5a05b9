//! One drain in one mode: fill the fake with tickets in Todo, start the daemon, play the
//! reviewer (approve each ticket that reaches Human Review; in webhook mode also
//! deliver the change), wait until every ticket is Done, read the daemon's counters,
//! count its tracker requests while idle, stop it.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::task::JoinSet;

use crate::daemon;
use crate::latency::{self, Approval};
use crate::linear::fake::{FakeLinear, World, ts};
use crate::report::{Deliveries, Figures, Idle};
use crate::settings::{Mode, Settings};
use crate::setup;
use crate::webhook::{Change, Sender};
use crate::{machine, procstat};

/// How long after the last Done the daemon is left to settle before the idle count.
const SETTLE: Duration = Duration::from_secs(1);

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// How long after karajan's move to the gate the reviewer approves, at least. Linear
/// stamps changes to the millisecond; an approval in the same millisecond as the move
/// cannot be ordered after it, so karajan reads the ticket again (as it must), which no
/// human approval meets. Scans are 5 ms apart, so most approvals come 2-7 ms after.
const REVIEW_AFTER: chrono::TimeDelta = chrono::TimeDelta::milliseconds(2);

/// Tickets in Human Review not approved yet (moved there `REVIEW_AFTER` ago at
/// least), and how many are Done.
fn scan(w: &World, approved: &HashMap<String, Approval>) -> (Vec<String>, usize) {
    let settled = chrono::Utc::now() - REVIEW_AFTER;
    let names: HashMap<&str, &str> = w
        .states
        .iter()
        .map(|s| (s.id.as_str(), s.name.as_str()))
        .collect();
    let mut review = vec![];
    let mut done = 0;
    for i in &w.issues {
        match names.get(i.state_id.as_str()).copied() {
            Some("Human Review")
                if !approved.contains_key(&i.identifier) && i.updated_at <= settled =>
            {
                review.push(i.identifier.clone());
            }
            Some("Done") => done += 1,
            _ => {}
        }
    }
    (review, done)
}

fn by_op(w: &World, from: usize) -> BTreeMap<String, usize> {
    let mut by_op: BTreeMap<String, usize> = BTreeMap::new();
    for r in &w.requests[from.min(w.requests.len())..] {
        *by_op.entry(r.operation.clone()).or_default() += 1;
    }
    by_op
}

/// A random signing secret, as Linear generates one per webhook.
fn secret() -> String {
    format!("lin_wh_{}", hex::encode(rand::random::<[u8; 24]>()))
}

/// `Ok(None)`: webhook mode asked of a binary that rejects `server.webhooks`.
pub async fn drain(s: &Settings, mode: Mode) -> Result<Option<Figures>, String> {
    let fake = FakeLinear::start().await;
    {
        let mut w = fake.world();
        w.latency = s.latency;
        // A budget the drain cannot exhaust: the bench measures karajan, not a pause.
        w.requests_remaining = u64::MAX / 2;
        for i in 1..=s.tickets {
            w.add_issue("Todo", &format!("Bench ticket {i}"));
        }
    }
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = scratch.path().to_path_buf();
    let port = daemon::free_port().map_err(|e| format!("a free port: {e}"))?;
    let secret = secret();
    setup::write(&dir, &fake.url, s, mode, port).map_err(|e| format!("scratch setup: {e}"))?;
    let sender = match mode {
        Mode::Polling => None,
        Mode::Webhooks if !daemon::webhooks_known(&s.bin, &dir, &secret) => return Ok(None),
        Mode::Webhooks => Some(Sender::new(
            format!("http://127.0.0.1:{port}{}", setup::WEBHOOK_PATH),
            secret.clone(),
        )),
    };
    let started = Instant::now();
    let machine_before = machine::ticks();
    let mut daemon = daemon::spawn(&s.bin, &dir, &secret, s.symbol_order.is_some())?;

    let mut approvals: HashMap<String, Approval> = HashMap::new();
    // When each delivery left, with the issue it carries: karajan is told then.
    let mut told: Vec<(Instant, Vec<String>)> = vec![];
    let mut sends = JoinSet::new();
    let mut stat = None;
    let mut timed_out = false;
    loop {
        if let Some(status) = daemon.exited() {
            return Err(format!(
                "karajan exited early ({status}):\n{}",
                daemon.tail()
            ));
        }
        let (review, done) = scan(&fake.world(), &approvals);
        if !review.is_empty() {
            let mut w = fake.world();
            for id in review {
                let from = w.issue(&id);
                let (from_state, from_updated) = (from.state_id.clone(), ts(from.updated_at));
                w.move_issue(&id, "Gate Approved");
                let approval = Approval {
                    at: Instant::now(),
                    at_ns: unix_ns(),
                };
                if let Some(sender) = &sender {
                    let change = Change::of(&w, &id, &from_state, from_updated);
                    told.push((Instant::now(), vec![id.clone()]));
                    let sender = sender.clone();
                    sends.spawn(async move { sender.deliver(&change).await });
                }
                approvals.insert(id, approval);
            }
        }
        stat = procstat::read(daemon.pid).or(stat);
        if done == s.tickets {
            break;
        }
        if started.elapsed() > s.timeout {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let wall = started.elapsed();
    // The counters at the moment the last ticket reached Done (shutdown excluded).
    let stat = procstat::read(daemon.pid).or(stat).unwrap_or_default();
    let stolen = machine_before
        .zip(machine::ticks())
        .and_then(|(before, after)| machine::stolen_share(before, after));
    let (ops, drained_requests, max_in_flight) = {
        let w = fake.world();
        (by_op(&w, 0), w.requests.len(), w.max_in_flight)
    };
    let idle = if timed_out || s.idle.is_zero() {
        None
    } else {
        tokio::time::sleep(SETTLE).await;
        let from = fake.world().requests.len();
        tokio::time::sleep(s.idle).await;
        Some(Idle {
            span: s.idle,
            settle_requests: from - drained_requests,
            by_op: by_op(&fake.world(), from),
        })
    };
    let deliveries = match sender {
        None => None,
        Some(_) => {
            let mut d = Deliveries::default();
            while let Some(sent) = sends.join_next().await {
                d.sent += 1;
                match sent.map_err(|e| e.to_string()).and_then(|r| r) {
                    Ok(()) => d.accepted += 1,
                    Err(e) => d.first_error = d.first_error.or(Some(e)),
                }
            }
            Some(d)
        }
    };
    let served: Vec<(Instant, Vec<String>)> = {
        let w = fake.world();
        let mut served: Vec<_> = w
            .served_at
            .iter()
            .copied()
            .zip(w.issues_served.iter().cloned())
            .chain(told)
            .collect();
        served.sort_by_key(|(at, _)| *at);
        served
    };
    let tail = daemon.tail();
    daemon.stop();
    // Callgrind writes its output as the daemon exits, which `stop` waits for.
    let functions = match s.symbol_order {
        Some(_) => crate::order::read_outputs(&dir, &s.bin)?,
        None => crate::order::Profile::default(),
    };
    let (after_approval, after_seen) =
        latency::measure(&approvals, &setup::starts_dir(&dir), &served);
    if s.keep {
        let kept = scratch.keep();
        println!("scratch folder kept: {}", kept.display());
    }
    Ok(Some(Figures {
        mode,
        wall,
        stat,
        stolen,
        by_op: ops,
        max_in_flight,
        after_approval,
        after_seen,
        idle,
        deliveries,
        timed_out,
        log_tail: tail,
        functions,
    }))
}
