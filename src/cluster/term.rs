//! A node's term as the tracker lease's holder: taking the lease (standby) and keeping
//! it (renewals), on the database's clock, with the node's own monotonic clock as a
//! conservative local bound.
//!
//! - [`standby`]: every heartbeat (a third of the ttl) the node beats its `nodes` row and
//!   tries to take the lease; it returns the [`Term`] once it has it.
//! - [`keep`]: while the term lasts, every heartbeat renews the lease. The term is
//!   *locally* valid until `sent + ttl`, where `sent` is taken before the last successful
//!   renewal was sent: the database set the expiry to its `now() + ttl` after that, so
//!   the node always believes it has lost the lease no later than the database does.
//!   A failed renewal (the row names another term, or it has expired), or the local
//!   bound passing (a database that does not answer, a node paused by SIGSTOP whose
//!   timers all fire late on SIGCONT: the bound is checked before anything else) ends
//!   the term at once: [`Term::lost`] is cancelled, which stops the term's engine and
//!   its agents.
//!
//! The bound on failover: a holder that dies right after renewing leaves a lease that
//! expires `ttl` later; a standby tries every `ttl / 3`, so it holds the lease at most
//! `ttl + ttl / 3` after the holder's last renewal (20 s with the default 15 s ttl),
//! plus a database round trip, and then recovers from the store as a restart does. In
//! practice a standby times its next try to the lease's expiry as the database reports
//! it, so the lease changes hands about a ttl after the last renewal.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::lease::{self, TRACKER};
use super::nodes::{self, Node};

/// How often a node beats and tries or renews its lease: a third of the ttl.
pub fn heartbeat_every(ttl: Duration) -> Duration {
    ttl / 3
}

/// The longest a dead holder's lease keeps the others waiting (see the module doc).
pub fn failover_bound(ttl: Duration) -> Duration {
    ttl + heartbeat_every(ttl)
}

/// How long an agent's guard gives a term it was told nothing about (see
/// `agent::guard`; every renewal tells it the term's validity).
pub fn guard_window(ttl: Duration) -> Duration {
    heartbeat_every(ttl) * 2
}

/// When a standby tries again: at the next heartbeat, or just after the holder's lease
/// expires (the database said in how many seconds) when that comes first, so a dead
/// holder is replaced about a ttl after its last renewal rather than up to a heartbeat
/// later. A live holder renews before then, and the try simply fails.
fn next_try(every: Duration, expires_in: Option<f64>) -> Duration {
    match expires_in {
        Some(s) if s.is_finite() && s >= 0.0 => {
            every.min(Duration::from_secs_f64(s) + Duration::from_millis(20))
        }
        _ => every,
    }
}

/// How much sooner than the term an agent's guard kills its group: a tenth of the
/// ttl, at most a second.
pub fn guard_margin(ttl: Duration) -> Duration {
    (ttl / 10).min(Duration::from_secs(1))
}

/// A heartbeat sent at `sent` was recorded: the node's agents may run until a ttl after
/// it, less [`guard_margin`] (the holder counts a claimant dead a ttl after its last
/// heartbeat on the database's clock, which is after `sent`).
pub fn tell_guards(sent: Instant, ttl: Duration) {
    let until = sent + ttl;
    crate::agent::guard::beat(until.checked_sub(guard_margin(ttl)).unwrap_or(until));
}

/// One term of this node as the tracker lease's holder. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Term {
    /// The fencing token the database granted.
    pub token: i64,
    /// How much sooner than the term the agents' guards fire (see `tell_guards`).
    margin: Duration,
    /// Cancelled when the term ends because the lease was lost.
    pub lost: CancellationToken,
    valid_until: Arc<Mutex<Instant>>,
}

impl Term {
    /// A term granted `token` by an acquisition sent at `sent`.
    pub fn new(token: i64, sent: Instant, ttl: Duration) -> Term {
        Term {
            token,
            margin: guard_margin(ttl),
            lost: CancellationToken::new(),
            valid_until: Arc::new(Mutex::new(sent + ttl)),
        }
    }

    /// Whether this node may still act as the holder (by its own clock, conservatively).
    pub fn valid(&self) -> bool {
        !self.lost.is_cancelled() && Instant::now() < self.valid_until()
    }

    /// Tell the agents' guards how long this term is valid (see `agent::guard`), less
    /// [`guard_margin`]: the guards fire that much before the term (and the database's
    /// lease) runs out, which absorbs a guard process woken late on a loaded host.
    pub fn tell_guards(&self) {
        let until = self.valid_until();
        crate::agent::guard::beat(until.checked_sub(self.margin).unwrap_or(until));
    }

    fn valid_until(&self) -> Instant {
        *self
            .valid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn extend(&self, until: Instant) {
        let mut v = self
            .valid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *v = (*v).max(until);
    }

    fn lose(&self, node: &str, why: &str) {
        if !self.lost.is_cancelled() {
            warn!(
                node,
                token = self.token,
                why,
                "tracker lease lost: stopping the agents and the decider"
            );
            self.lost.cancel();
        }
    }
}

/// Why a node stopped waiting.
#[derive(Debug)]
pub enum StandbyEnd {
    /// It holds the lease now.
    Leader(Term),
    /// The daemon is stopping.
    Shutdown,
    /// Another process took this node's name over.
    NameTaken,
}

/// Wait as a standby until this node holds the tracker lease (or the daemon stops).
pub async fn standby(
    pool: &PgPool,
    node: &Node,
    ttl: Duration,
    running: &(impl Fn() -> usize + Send + Sync),
    shutdown: &CancellationToken,
) -> StandbyEnd {
    let mut said = false;
    let every = heartbeat_every(ttl);
    loop {
        let sent = Instant::now();
        let mut wait = every;
        match lease::acquire(pool, TRACKER, &node.name, ttl).await {
            Ok(Some(token)) => {
                info!(node = %node.name, token, "took the tracker lease: this node polls, decides and writes to the tracker");
                return StandbyEnd::Leader(Term::new(token, sent, ttl));
            }
            Ok(None) => {
                let held = lease::read(pool, TRACKER).await.ok().flatten();
                if !said {
                    said = true;
                    info!(
                        node = %node.name,
                        holder = held.as_ref().and_then(|l| l.holder.as_deref()).unwrap_or("?"),
                        "standby: another node holds the tracker lease"
                    );
                }
                wait = next_try(every, held.and_then(|l| l.expires_in));
            }
            Err(e) => {
                warn!(node = %node.name, error = %e, "cannot reach the store to take the lease; retrying")
            }
        }
        let beat = Instant::now();
        match nodes::heartbeat(pool, node, running()).await {
            Ok(false) => return StandbyEnd::NameTaken,
            Ok(true) => tell_guards(beat, ttl),
            Err(e) => warn!(node = %node.name, error = %e, "heartbeat failed; retrying"),
        }
        tokio::select! {
            () = sleep(wait.saturating_sub(sent.elapsed())) => {}
            () = shutdown.cancelled() => return StandbyEnd::Shutdown,
        }
    }
}

/// Keep `term` alive until `done` is cancelled or the lease is lost (then
/// `term.lost` is cancelled). `running` says how many agents the node runs.
pub async fn keep(
    pool: PgPool,
    node: Node,
    ttl: Duration,
    term: Term,
    running: impl Fn() -> usize + Send,
    done: CancellationToken,
) {
    let every = heartbeat_every(ttl);
    loop {
        tokio::select! {
            () = sleep(every) => {}
            () = sleep_until(term.valid_until()) => {}
            () = done.cancelled() => return,
        }
        // First: a node paused past its lease wakes with every timer overdue.
        if !term.valid() {
            term.lose(
                &node.name,
                "its lease ran out before it was renewed (paused, or the store did not answer)",
            );
            return;
        }
        let sent = Instant::now();
        match timeout(
            every,
            lease::renew(&pool, TRACKER, &node.name, term.token, ttl),
        )
        .await
        {
            Ok(Ok(true)) => {
                term.extend(sent + ttl);
                term.tell_guards();
            }
            Ok(Ok(false)) => {
                term.lose(
                    &node.name,
                    "the store says the lease expired or another node took it",
                );
                return;
            }
            Ok(Err(e)) => {
                warn!(node = %node.name, error = %e, "lease renewal failed; retrying until it runs out")
            }
            Err(_) => {
                warn!(node = %node.name, "lease renewal timed out; retrying until it runs out")
            }
        }
        let beat = Instant::now();
        match timeout(every, nodes::heartbeat(&pool, &node, running())).await {
            Ok(Ok(false)) => {
                term.lose(&node.name, "another process took this node's name");
                return;
            }
            Ok(Ok(true)) => tell_guards(beat, ttl),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_term_is_valid_for_the_ttl_from_before_its_grant() {
        let ttl = Duration::from_secs(15);
        let term = Term::new(3, Instant::now(), ttl);
        assert!(term.valid());
        sleep(Duration::from_millis(14_999)).await;
        assert!(term.valid());
        sleep(Duration::from_millis(1)).await;
        assert!(!term.valid(), "expired by the node's own clock");
        let renewed = Term::new(4, Instant::now(), ttl);
        renewed.extend(Instant::now() + ttl * 2);
        renewed.extend(Instant::now());
        sleep(ttl + Duration::from_secs(1)).await;
        assert!(renewed.valid(), "an extension never shortens a term");
        renewed.lose("n", "test");
        assert!(!renewed.valid() && renewed.lost.is_cancelled());
    }

    #[test]
    fn a_standby_tries_again_just_after_the_lease_expires() {
        let every = Duration::from_secs(5);
        assert_eq!(next_try(every, None), every);
        assert_eq!(next_try(every, Some(12.0)), every);
        assert_eq!(next_try(every, Some(1.5)), Duration::from_millis(1520));
        assert_eq!(
            next_try(every, Some(-3.0)),
            every,
            "already expired: the next beat"
        );
        assert_eq!(next_try(every, Some(f64::NAN)), every);
    }

    #[test]
    fn the_failover_bound_is_a_ttl_and_a_heartbeat() {
        assert_eq!(
            heartbeat_every(Duration::from_secs(15)),
            Duration::from_secs(5)
        );
        assert_eq!(
            failover_bound(Duration::from_secs(15)),
            Duration::from_secs(20)
        );
    }
}
