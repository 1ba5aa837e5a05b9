//! Waking the nodes when the run queue changes, instead of polling it fast: the holder
//! notifies [`CHANNEL`] when it queues or stops a run and when its term starts
//! ([`notify`], PostgreSQL's `NOTIFY`), and each node's claim loop waits on a
//! [`Wake`] (`LISTEN`, on a connection of its own) for that or for its fallback
//! interval, whichever comes first. A notification is only a hint: a lost one (a
//! listener reconnecting) costs at most the fallback interval, never a run.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgListener, PgPoolOptions};
use tracing::warn;

/// The channel the run queue's changes are announced on.
pub const CHANNEL: &str = "karajan_run_queue";

/// Tell every node's claim loop to look at the queue now.
pub async fn notify(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(pool)
        .await
        .map(drop)
}

/// A claim loop's wait: a notification on [`CHANNEL`] or the fallback interval.
pub struct Wake {
    listener: Option<PgListener>,
}

impl Wake {
    /// Listen on a connection of its own (made from `pool`'s options), so the pool's
    /// connections stay free for heartbeats and claims. Without one (the database
    /// refused it), waits are the fallback interval.
    pub async fn listen(pool: &PgPool) -> Wake {
        let own = PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with((*pool.connect_options()).clone());
        let listener = match PgListener::connect_with(&own).await {
            Ok(mut l) => match l.listen(CHANNEL).await {
                Ok(()) => Some(l),
                Err(e) => {
                    warn!(error = %e, "cannot listen for run queue changes; polling instead");
                    None
                }
            },
            Err(e) => {
                warn!(error = %e, "cannot listen for run queue changes; polling instead");
                None
            }
        };
        Wake { listener }
    }

    /// Until a notification arrives or `every` has passed.
    pub async fn wait(&mut self, every: Duration) {
        let Some(listener) = &mut self.listener else {
            tokio::time::sleep(every).await;
            return;
        };
        let started = tokio::time::Instant::now();
        // A lost connection (reconnected at the next call) must not make this a busy
        // loop: wait out the interval.
        if let Ok(Err(_)) = tokio::time::timeout(every, listener.recv()).await {
            tokio::time::sleep(every.saturating_sub(started.elapsed())).await;
        }
    }
}
