//! Dispatch order: priority first (1 urgent .. 4 low, no priority last), then the oldest
//! ticket, then the identifier so the order is total and stable.

use std::cmp::Ordering;

use super::ticket::TicketSnapshot;

pub fn dispatch_order(a: &TicketSnapshot, b: &TicketSnapshot) -> Ordering {
    let rank = |t: &TicketSnapshot| t.priority.filter(|p| *p > 0).map_or(u8::MAX, |p| p);
    rank(a)
        .cmp(&rank(b))
        .then(a.created_at.cmp(&b.created_at))
        .then_with(|| a.identifier.cmp(&b.identifier))
}

/// Sort tickets into dispatch order, in place.
pub fn sort_for_dispatch(tickets: &mut [TicketSnapshot]) {
    tickets.sort_by(dispatch_order);
}
