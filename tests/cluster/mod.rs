//! Several nodes on one PostgreSQL store (issue 14, items 2 to 4): leases, fencing,
//! failover, agents dying with their node, every node running agents from the run
//! queue, sessions resumed on their node. Every test needs `DATABASE_URL` and is
//! skipped with a message without it.

mod e2e;
mod lease;
mod queue;
mod runs;
mod secrets;
mod sessions;
