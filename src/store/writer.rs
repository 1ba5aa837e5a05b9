//! The writable store's durability side: the checkpoint-file writer, coalesced to at
//! most one write a second, and the counters the store benchmark prints.
//!
//! Appends never wait for the file. They advance the in-memory checkpoints and wake a
//! background task, which writes at once when the file was last written a second or
//! more ago, else at that second's end: a burst of appends costs one write. Each write
//! first `fsync`s the WAL (with `synchronous=NORMAL` a commit is not yet on disk), then
//! replaces the file (create, `fsync`, rename), so the file never vouches for a row a
//! power loss could take back. `close` and `verify` write it at once.
//!
//! A durability point (`Store::sync`, before every tracker write) needs the commits on
//! disk, not the file: it `fsync`s the WAL when something was committed since the last
//! `fsync` (once per process at least), and leaves the file to the writer. It rewrote
//! and signed the file before each of the drain bench's 200 tracker writes (issue 11).
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
    /// Appends committed in one request to SQLite with nothing read after the commit
    /// (see `sqlite_append`); the others of `transactions` went the long way or counted
    /// a ticket's pending intents after it.
    pub one_request: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    pub transactions: AtomicU64,
    pub checkpoint_writes: AtomicU64,
    pub wal_syncs: AtomicU64,
    pub one_request: AtomicU64,
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
            one_request: load(&self.one_request),
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
    /// Held for a whole flush: one file write at a time, in order.
    pub flushing: tokio::sync::Mutex<()>,
    /// The head the file holds (seq), to skip redundant writes.
    pub written: AtomicI64,
    /// The last seq appended through this store (0: none yet). The next append must
    /// continue after it: a lower seq means the database went back under us.
    pub appended: AtomicI64,
    /// The last seq this process made durable (`fsync` of the WAL); -1: none yet, so
    /// the first durability point syncs even what an earlier process committed.
    pub synced: AtomicI64,
    /// Held for a whole durability point: callers arriving together share one `fsync`.
    pub syncing: tokio::sync::Mutex<()>,
    pub wake: tokio::sync::Notify,
    pub counters: Arc<Counters>,
    /// The key that signs each write (set once by the daemon; unset: unsigned).
    pub signer: std::sync::OnceLock<Arc<super::signing::CheckpointKey>>,
}

impl CheckpointWriter {
    /// Make the commits durable and write the file, if it is behind the in-memory head.
    ///
    /// The append lock (`state`) is held only to copy the checkpoints and to keep the
    /// seals made: the WAL `fsync`, the signing and the file write run on a blocking
    /// thread with the lock free, so an append never waits behind a slow disk (on a
    /// loaded machine an `fsync` takes seconds). `flushing` keeps the flushes in order,
    /// so the file only ever moves forward. Every row the copy names was committed
    /// before the copy was taken, so the `fsync` after it makes them durable first.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let db = self.db.clone();
        self.flush_with(move || match &db {
            Some(db) => sqlite::sync_wal(db).map(|()| true),
            None => Ok(false),
        })
        .await
    }

    /// Make every commit so far durable, without writing the file (see the module
    /// doc): one `fsync` of the WAL, unless nothing was committed since the last one.
    /// A no-op on Postgres, where a commit is durable when it returns.
    pub async fn sync(&self) -> Result<(), StoreError> {
        let Some(db) = self.db.clone() else {
            return Ok(());
        };
        let _one = self.syncing.lock().await;
        // Committed before the `fsync` below starts, so made durable by it.
        let target = self.appended.load(Ordering::SeqCst);
        if self.synced.load(Ordering::SeqCst) >= target {
            return Ok(());
        }
        tokio::task::spawn_blocking(move || sqlite::sync_wal(&db))
            .await
            .map_err(|e| StoreError::Corrupt(format!("the WAL sync failed: {e}")))??;
        Counters::bump(&self.counters.wal_syncs);
        self.synced.fetch_max(target, Ordering::SeqCst);
        Ok(())
    }

    /// The last seq made durable by this process (see [`Store::durable_through`]).
    ///
    /// [`Store::durable_through`]: super::Store::durable_through
    pub fn durable_through(&self) -> i64 {
        match self.db {
            Some(_) => self.synced.load(Ordering::SeqCst),
            // Postgres: a commit is durable when it returns.
            None => self.appended.load(Ordering::SeqCst),
        }
    }

    /// [`CheckpointWriter::flush`] with the durability step given (it says whether it
    /// synced anything): what the tests hold to see the append lock free meanwhile.
    pub(super) async fn flush_with(
        &self,
        sync: impl FnOnce() -> Result<bool, StoreError> + Send + 'static,
    ) -> Result<(), StoreError> {
        let _order = self.flushing.lock().await;
        let mut copy = {
            let state = self.state.lock().await;
            let head = state.head.0;
            let unsigned = self.signer.get().is_some()
                && head > 0
                && (state.head_seal.is_none() || state.marks.len() > state.mark_seals.len());
            if self.written.load(Ordering::SeqCst) >= head && !unsigned {
                return Ok(());
            }
            state.clone()
        };
        let signer = self.signer.get().cloned();
        let path = self.path.clone();
        let (copy, synced) = tokio::task::spawn_blocking(move || {
            let synced = sync()?;
            if let Some(key) = signer {
                let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                copy.seal(&key, &now);
            }
            checkpoint::write(&path, &copy)?;
            Ok::<_, StoreError>((copy, synced))
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("the checkpoint writer failed: {e}")))??;
        if synced {
            Counters::bump(&self.counters.wal_syncs);
            // Every row the copy names was committed before the sync.
            self.synced.fetch_max(copy.head.0, Ordering::SeqCst);
        }
        Counters::bump(&self.counters.checkpoint_writes);
        // Keep the seals made for what the file now holds (appends since do not undo
        // them: a head that moved on is sealed by the next write).
        let mut state = self.state.lock().await;
        if state.head == copy.head && state.head_seal.is_none() {
            state.head_seal = copy.head_seal.clone();
        }
        for (seq, seal) in copy.mark_seals {
            if state.marks.get(&seq) == copy.marks.get(&seq) {
                state.mark_seals.entry(seq).or_insert(seal);
            }
        }
        drop(state);
        self.written.fetch_max(copy.head.0, Ordering::SeqCst);
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

/// The store's durability points and checkpoint writes, as its callers see them.
impl super::Store {
    /// Write the checkpoint file now if it lags the chain head (a writable store
    /// otherwise writes it at most once a second after appends). Also makes every
    /// commit so far durable (see [`Store::sync`]).
    pub async fn flush_checkpoints(&self) -> Result<(), StoreError> {
        match &self.writer {
            Some(w) => w.flush().await,
            None => Ok(()),
        }
    }

    /// A durability point: every event appended so far is on disk (the WAL `fsync`ed)
    /// when this returns; the checkpoint file follows within a second (see `writer`).
    /// Appends alone are durable against the process dying at once, against power loss
    /// only after the next `fsync` (at most a second later); call this where a promise to
    /// someone outside the process needs the record on disk first. A no-op on a
    /// read-only store, on Postgres, or when nothing was appended since the last `fsync`.
    pub async fn sync(&self) -> Result<(), StoreError> {
        match &self.writer {
            Some(w) => w.sync().await,
            None => Ok(()),
        }
    }

    /// The last seq this store's process has made durable (on SQLite, what its last
    /// WAL `fsync` covered; on Postgres, the last committed): every event up to it
    /// survives a power loss. -1 before the first durability point of a SQLite store,
    /// and on a read-only store.
    pub fn durable_through(&self) -> i64 {
        self.writer.as_ref().map_or(-1, |w| w.durable_through())
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

    /// An append must not wait behind the disk: while a flush syncs the WAL (seconds on
    /// a loaded machine), the append lock is free and the chain can move on.
    #[tokio::test]
    async fn the_append_lock_is_free_while_a_flush_syncs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut state = Checkpoints::default();
        state.advance(&[(1, [7; 32])]);
        let writer = Arc::new(CheckpointWriter {
            path: dir.path().join("store.db.checkpoints"),
            db: None,
            state: tokio::sync::Mutex::new(state),
            flushing: tokio::sync::Mutex::new(()),
            written: AtomicI64::new(0),
            appended: AtomicI64::new(1),
            synced: AtomicI64::new(-1),
            syncing: tokio::sync::Mutex::new(()),
            wake: tokio::sync::Notify::new(),
            counters: Arc::default(),
            signer: std::sync::OnceLock::new(),
        });
        let during = writer.clone();
        writer
            .flush_with(move || {
                // What an append does first: take the lock, advance the head.
                let mut state = during.state.try_lock().expect("the append lock is free");
                state.advance(&[(2, [8; 32])]);
                Ok(true)
            })
            .await
            .expect("flush");
        // The file holds what was committed when the flush began; the next flush
        // catches up with the append made meanwhile.
        let file = checkpoint::load(&writer.path).expect("load");
        assert_eq!(file.head.0, 1);
        assert_eq!(writer.written.load(Ordering::SeqCst), 1);
        writer.flush_with(|| Ok(true)).await.expect("flush");
        let file = checkpoint::load(&writer.path).expect("load");
        assert_eq!(file.head.0, 2);
        assert_eq!(writer.counters.get().wal_syncs, 2);
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
