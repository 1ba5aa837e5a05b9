//! How often a waiting ticket's pull request is read (`checks:` / pull-request
//! `reviews:` gates).
//!
//! Each read costs a GraphQL query against the same hourly budget as the tracker, and
//! a gate can wait for hours (a long CI run, a reviewer away). So a ticket whose pull
//! request said the same thing as last time is read again only after a growing pause:
//! every poll at first, then every 2, 4, 8 … poll periods, up to [`MAX_PAUSE`]. Any
//! news resets it to every poll: a different answer, the gate entered anew, a failed
//! read followed by a good one, or a GitHub webhook about the pull request (a check run
//! or suite, a commit status, a review), which also reads it at once. A failed read
//! backs off the same way, so an unreachable API is not hammered either.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// The longest pause between two reads of a pull request whose answer did not change.
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy)]
struct Pace {
    next: Instant,
    pause: Duration,
    /// Half a poll period (see [`PrPace::due`]).
    slack: Duration,
}

/// The read schedule of every watched ticket's pull request.
#[derive(Debug, Default)]
pub(crate) struct PrPace {
    tickets: HashMap<String, Pace>,
}

impl PrPace {
    /// Whether `id`'s pull request may be read at `now`. Half a poll is slack: the
    /// read that set the pause answered a little after its poll, and the poll that
    /// comes one pause later must not miss it by those milliseconds.
    pub fn due(&self, id: &str, now: Instant) -> bool {
        self.tickets.get(id).is_none_or(|p| now + p.slack >= p.next)
    }

    /// The read said nothing new (or failed): wait twice as long as last time (one
    /// `poll` period the first time), at most [`MAX_PAUSE`].
    pub fn unchanged(&mut self, id: &str, now: Instant, poll: Duration) {
        let pause = match self.tickets.get(id) {
            Some(p) => (p.pause * 2).min(MAX_PAUSE),
            None => poll.min(MAX_PAUSE),
        };
        self.tickets.insert(
            id.to_string(),
            Pace {
                next: now + pause,
                pause,
                slack: poll / 2,
            },
        );
    }

    /// Something changed: read at every poll again.
    pub fn reset(&mut self, id: &str) {
        self.tickets.remove(id);
    }

    /// Forget the tickets `keep` does not keep (they left their gate).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.tickets.retain(|id, _| keep(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLL: Duration = Duration::from_secs(5);

    /// Reads of a pull request that never changes, at each 5 s poll over 10 minutes:
    /// the pauses double from one poll to the cap, and a reset reads at once.
    #[tokio::test(start_paused = true)]
    async fn an_unchanged_answer_is_read_less_and_less_often_until_news() {
        let mut pace = PrPace::default();
        let start = Instant::now();
        let mut reads = vec![];
        for _ in 0..120 {
            let now = Instant::now();
            if pace.due("t", now) {
                reads.push((now - start).as_secs());
                pace.unchanged("t", now, POLL);
            }
            tokio::time::sleep(POLL).await;
        }
        assert_eq!(
            reads,
            [0, 5, 15, 35, 75, 155, 275, 395, 515],
            "pauses 5, 10, 20, 40, 80, then 120 s"
        );
        // News (a webhook, another answer): the next poll reads it.
        pace.reset("t");
        assert!(pace.due("t", Instant::now()));
        pace.unchanged("t", Instant::now(), POLL);
        assert!(!pace.due("t", Instant::now()));
        // A read answers a little after its poll; the next poll still reads.
        tokio::time::sleep(POLL - Duration::from_millis(300)).await;
        assert!(pace.due("t", Instant::now()), "back to one poll");
    }

    #[tokio::test(start_paused = true)]
    async fn tickets_are_paced_apart_and_forgotten_when_they_leave() {
        let mut pace = PrPace::default();
        let now = Instant::now();
        pace.unchanged("a", now, POLL);
        assert!(!pace.due("a", now));
        assert!(pace.due("b", now), "another ticket is not held back");
        pace.retain(|id| id != "a");
        assert!(pace.due("a", now));
    }
}
