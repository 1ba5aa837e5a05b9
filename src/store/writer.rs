//! The writable store's durability side: the checkpoint-file writer, coalesced to at
//! most one write a second, and the counters the store benchmark prints.
//!
//! Appends never wait for the file. They advance the in-memory checkpoints and wake a
//! background task, which writes at once when the file was last written a second or
//! more ago, else at that second's end: a burst of appends costs one write. Each write
//! first `fsync`s the WAL (with `synchronous=NORMAL` a commit is not yet on disk), then
//! replaces the file (create, `fsync`, rename), so the file never vouches for a row a
//! power loss could take back. `Store::sync`, `close` and `verify` write it at once.
//!
//! Once the daemon has given the store its key ([`Store::set_signing_key`]), each write
//! signs what is new in the file (the head, new marks; see `signing`), with the time of
//! the write; the first write after the key is set signs the head even when it did not
//! move, so a store upgraded from unsigned checkpoints is vouched for at once.
//!
//! [`Store::set_signing_key`]: super::Store::set_signing_key

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use super::checkpoint::{self, Checkpoints};
use super::{StoreError, sqlite};

/// The least time between two checkpoint-file writes of the background task.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// What a store has done since it was opened: the figures the store benchmark
/// (`cargo bench --bench store`) prints per ticket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Committed append transactions.
    pub transactions: u64,
    /// Checkpoint-file writes (each one a create, `fsync` and rename).
    pub checkpoint_writes: u64,
    /// Explicit `fsync`s of the WAL (the durability points).
    pub wal_syncs: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    pub transactions: AtomicU64,
    pub checkpoint_writes: AtomicU64,
    pub wal_syncs: AtomicU64,
}

impl Counters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> StoreStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StoreStats {
            transactions: load(&self.transactions),
            checkpoint_writes: load(&self.checkpoint_writes),
            wal_syncs: load(&self.wal_syncs),
        }
    }
}

/// The checkpoint writer of a writable store: the file and what it holds. Its lock also
/// orders this process's appends, so the file only ever moves forward.
pub(super) struct CheckpointWriter {
    pub path: PathBuf,
    /// The SQLite database, whose WAL is synced before each file write (`None` on
    /// Postgres, where a commit is durable when it returns).
    pub db: Option<PathBuf>,
    pub state: tokio::sync::Mutex<Checkpoints>,
    /// The head the file holds (seq), to skip redundant writes.
    pub written: AtomicI64,
    /// The last seq appended through this store (0: none yet). The next append must
    /// continue after it: a lower seq means the database went back under us.
    pub appended: AtomicI64,
    pub wake: tokio::sync::Notify,
    pub counters: Arc<Counters>,
    /// The key that signs each write (set once by the daemon; unset: unsigned).
    pub signer: std::sync::OnceLock<Arc<super::signing::CheckpointKey>>,
}

impl CheckpointWriter {
    /// Make the commits durable and write the file, if it is behind the in-memory head.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        let head = state.head.0;
        let unsigned = self.signer.get().is_some()
            && head > 0
            && (state.head_seal.is_none() || state.marks.len() > state.mark_seals.len());
        if self.written.load(Ordering::SeqCst) >= head && !unsigned {
            return Ok(());
        }
        if let Some(db) = &self.db {
            sqlite::sync_wal(db)?;
            Counters::bump(&self.counters.wal_syncs);
        }
        if let Some(key) = self.signer.get() {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            state.seal(key, &now);
        }
        checkpoint::write(&self.path, &state)?;
        Counters::bump(&self.counters.checkpoint_writes);
        self.written.store(head, Ordering::SeqCst);
        Ok(())
    }

    /// The background writer: ends when the store is dropped.
    pub fn spawn(writer: &Arc<CheckpointWriter>) {
        let weak = Arc::downgrade(writer);
        tokio::spawn(async move {
            let mut last = None;
            loop {
                let Some(w) = weak.upgrade() else { return };
                // Holding the Arc only while waiting would keep the store alive forever;
                // the Notify permit survives a drop of the future, so re-check often.
                let woke = tokio::time::timeout(Duration::from_millis(500), w.wake.notified())
                    .await
                    .is_ok();
                if woke {
                    coalesce(&mut last, CHECKPOINT_INTERVAL).await;
                    if let Err(e) = w.flush().await {
                        tracing::warn!(error = %e, "checkpoint write failed; the next append retries it");
                    }
                }
            }
        });
    }
}

/// Wait until `interval` has passed since `last` (not at all the first time), then mark
/// now as the last write. The rate limit of the background writer: leading edge (a
/// lone append is checkpointed at once), then at most one write per `interval`.
pub async fn coalesce(last: &mut Option<tokio::time::Instant>, interval: Duration) {
    if let Some(at) = *last {
        tokio::time::sleep_until(at + interval).await;
    }
    *last = Some(tokio::time::Instant::now());
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    /// The background loop's shape with a counting write that, like `flush`, writes
    /// only when something was appended since: appends at 10 ms intervals for 3.5 s
    /// must produce a write at once, then at most one per second.
    #[tokio::test(start_paused = true)]
    async fn writes_are_coalesced_to_one_a_second() {
        let wake = Arc::new(tokio::sync::Notify::new());
        let appended = Arc::new(AtomicI64::new(0));
        let writes = Arc::new(std::sync::Mutex::new(Vec::<Duration>::new()));
        let start = Instant::now();
        let task = {
            let (wake, writes, appended) = (wake.clone(), writes.clone(), appended.clone());
            tokio::spawn(async move {
                let (mut last, mut written) = (None, 0);
                loop {
                    wake.notified().await;
                    coalesce(&mut last, CHECKPOINT_INTERVAL).await;
                    let head = appended.load(Ordering::SeqCst);
                    if head > written {
                        written = head;
                        writes.lock().expect("lock").push(start.elapsed());
                    }
                }
            })
        };
        for _ in 0..350 {
            appended.fetch_add(1, Ordering::SeqCst);
            wake.notify_one();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The burst is over: the pending appends get their write, then nothing more.
        tokio::time::sleep(Duration::from_secs(5)).await;
        task.abort();
        let writes = writes.lock().expect("lock").clone();
        assert_eq!(writes.first(), Some(&Duration::ZERO), "{writes:?}");
        for pair in writes.windows(2) {
            assert!(pair[1] - pair[0] >= CHECKPOINT_INTERVAL, "{writes:?}");
        }
        // 3.5 s of appends: the first at 0, then at 1, 2, 3 and 4 s (the last one covers
        // the appends after 3 s).
        assert_eq!(writes.len(), 5, "{writes:?}");
        assert_eq!(writes.last(), Some(&Duration::from_secs(4)), "{writes:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_append_after_a_quiet_second_is_written_at_once() {
        let mut last = None;
        coalesce(&mut last, CHECKPOINT_INTERVAL).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let before = Instant::now();
        coalesce(&mut last, CHECKPOINT_INTERVAL).await;
        assert_eq!(before.elapsed(), Duration::ZERO);
        // A second one right after waits out the interval.
        coalesce(&mut last, CHECKPOINT_INTERVAL).await;
        assert_eq!(before.elapsed(), CHECKPOINT_INTERVAL);
    }
}
