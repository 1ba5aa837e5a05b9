//! The two bounded memories of the webhook endpoint:
//!
//! - [`Seen`]: delivery ids already accepted, so a replayed delivery is refused. Only
//!   deliveries whose signature checked out enter it (junk cannot evict real ids), it
//!   forgets ids after `retain`, and it never holds more than `cap` (oldest first out).
//! - [`Coalesce`]: which refusals to record in the store. A flood of junk must not fill
//!   the store: at most one event per (source, reason) per `every`, carrying how many
//!   refusals of that kind went unrecorded since the previous one.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

pub(crate) struct Seen {
    order: VecDeque<(Instant, String)>,
    ids: HashSet<String>,
    cap: usize,
    retain: Duration,
}

impl Seen {
    pub(crate) fn new(cap: usize, retain: Duration) -> Seen {
        Seen {
            order: VecDeque::new(),
            ids: HashSet::new(),
            cap: cap.max(1),
            retain,
        }
    }

    /// Remember `id`; `false` when it was already there (a replay).
    pub(crate) fn insert(&mut self, id: &str, now: Instant) -> bool {
        while self
            .order
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= self.retain)
        {
            self.forget_oldest();
        }
        if self.ids.contains(id) {
            return false;
        }
        while self.order.len() >= self.cap {
            self.forget_oldest();
        }
        self.ids.insert(id.to_string());
        self.order.push_back((now, id.to_string()));
        true
    }

    fn forget_oldest(&mut self) {
        if let Some((_, old)) = self.order.pop_front() {
            self.ids.remove(&old);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.ids.len()
    }
}

pub(crate) struct Coalesce {
    every: Duration,
    slots: HashMap<(&'static str, &'static str), Slot>,
}

struct Slot {
    recorded_at: Instant,
    suppressed: u64,
}

impl Coalesce {
    pub(crate) fn new(every: Duration) -> Coalesce {
        Coalesce {
            every,
            slots: HashMap::new(),
        }
    }

    /// A refusal of `key` happened: `Some(suppressed)` when it is to be recorded (with
    /// the count of those not recorded since the last), `None` when it is only counted.
    pub(crate) fn admit(&mut self, key: (&'static str, &'static str), now: Instant) -> Option<u64> {
        match self.slots.get_mut(&key) {
            Some(slot) if now.duration_since(slot.recorded_at) < self.every => {
                slot.suppressed += 1;
                None
            }
            Some(slot) => {
                let n = slot.suppressed;
                *slot = Slot {
                    recorded_at: now,
                    suppressed: 0,
                };
                Some(n)
            }
            None => {
                self.slots.insert(
                    key,
                    Slot {
                        recorded_at: now,
                        suppressed: 0,
                    },
                );
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_ids_are_refused_until_they_expire_and_the_set_stays_bounded() {
        let mut seen = Seen::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(seen.insert("a", t0));
        assert!(!seen.insert("a", t0 + Duration::from_secs(59)), "a replay");
        assert!(seen.insert("a", t0 + Duration::from_secs(61)), "forgotten");
        for (i, id) in ["b", "c", "d", "e"].iter().enumerate() {
            assert!(seen.insert(id, t0 + Duration::from_secs(62 + i as u64)));
        }
        assert_eq!(seen.len(), 3, "never more than the cap");
        assert!(
            seen.insert("a", t0 + Duration::from_secs(70)),
            "oldest out first"
        );
        assert!(!seen.insert("e", t0 + Duration::from_secs(70)));
    }

    #[test]
    fn refusals_are_recorded_once_a_minute_with_the_count_left_out() {
        let mut c = Coalesce::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let bad = ("linear", "bad_signature");
        assert_eq!(c.admit(bad, t0), Some(0));
        for s in 1..=1000 {
            assert_eq!(c.admit(bad, t0 + Duration::from_millis(s * 50)), None);
        }
        assert_eq!(
            c.admit(("github", "bad_signature"), t0),
            Some(0),
            "each kind on its own"
        );
        assert_eq!(c.admit(bad, t0 + Duration::from_secs(61)), Some(1000));
        assert_eq!(c.admit(bad, t0 + Duration::from_secs(62)), None);
    }
}
