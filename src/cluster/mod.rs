//! Several karajan nodes on one PostgreSQL store (`store.cluster: true`, issue 14).
//!
//! # Theory of operation
//!
//! Every `karajan run` pointed at a cluster store is a *node* (`--node NAME`, default
//! the host name and the pid), registered in the `nodes` table and beating its row
//! every third of the lease ttl (`nodes`). Exactly one node at a time holds the
//! `tracker` lease (`lease`): it polls the tracker, decides and writes to the tracker,
//! as a single daemon does, and is the only writer of the chain; the others try to take
//! the lease at every heartbeat (`term`). Leases live on the database's clock; every
//! acquisition opens a new *term* with a larger fencing token.
//!
//! Every node runs agents. The holder's run task for a run queues the run's plan
//! (`plan`, `queue`) and relays what the claimant reports into the store
//! (`orchestrator::remote_run`, fed by `relay`); every node, the holder included,
//! claims queued runs up to its `agent.max_concurrent` and runs them with its own
//! workflow (`claimant`, `orchestrator::run_claimed`), pushing the branch itself. The
//! holder's dispatch counts the live nodes' slots together. A run belongs to the term
//! that queued it: claimants stop the runs of an ended term, and a new holder waits for
//! them to go before it recovers (a restart's recovery: the interrupted runs are
//! retried). A claimant whose heartbeat is a ttl old has had its agents killed by their
//! guards (which its heartbeats feed): the holder ends its runs `interrupted`, and
//! they are retried elsewhere.
//!
//! A term is served exactly like a daemon's life (`cli::run::serve`): the store is
//! opened (its records read afresh), and the orchestrator starts with its recovery:
//! runs a previous holder left unfinished are stopped if still visible, recorded
//! `interrupted` and retried, and the outbox's owed tracker writes are performed,
//! reading the tracker back first. So taking over after a holder died is a restart.
//!
//! Fencing: the term's store appends under the term's token (`store::fence`), checked
//! in each append's transaction under the chain head's lock, and its tracker refuses
//! writes once the term is no longer valid by the node's own clock (`fenced_tracker`).
//! A node that finds its lease lost (a renewal that fails, its local bound passing, or
//! a rejected append) stops its decider and its agents at once (the orchestrator's
//! shutdown path, which stops every run but can record nothing more) and goes back to
//! standby: it is a healthy node whose term ended, and may serve the next one.
//! A node that loses its *name* to another process (see `nodes`) exits instead.
//!
//! Failover bound: `store.lease_ttl` (default 15 s) plus one heartbeat (ttl / 3), i.e.
//! 20 s by default, from the dead holder's last renewal to a standby holding the lease
//! (`term::failover_bound`); recovery then takes what a restart takes.
//!
//! Agents die with their node: each agent's process group carries a guard that kills
//! the group when the daemon's end of a pipe closes (`agent::guard`), so a SIGKILLed
//! node leaves no agent running while another node retries its tickets.
//!
//! A store is a single daemon's or a cluster's, never both at once (`exclusion`).

pub mod claimant;
pub mod exclusion;
pub mod fenced_tracker;
pub mod lease;
pub mod nodes;
pub mod plan;
pub mod queue;
pub mod relay;
pub mod term;
pub mod wake;
