-- Every node runs agents (issue 14 item 2; src/cluster/queue.rs). The lease holder
-- decides a run and queues its plan here; any node with a free slot claims it
-- (`FOR UPDATE SKIP LOCKED`), runs it, and reports what the chain must record through
-- `run_reports`, which only the holder turns into events: the chain keeps one writer.
-- Like `nodes` and `leases`, these rows are coordination, not record: unhashed, on the
-- database's clock, deleted once relayed.

-- One row per run the holder wants run. `term` is the lease token it was queued
-- under: a run belongs to the term that decided it, and its claimant stops it when
-- the lease changes hands (the new holder retries what was interrupted, as a restart).
CREATE TABLE run_queue (
    run_id           TEXT COLLATE "C" PRIMARY KEY,
    issue            TEXT COLLATE "C" NOT NULL,
    term             BIGINT NOT NULL,
    -- The workflow digest the plan was made with: only a node running the same
    -- workflow claims it.
    digest           TEXT COLLATE "C" NOT NULL,
    -- The agent session the run resumes, if any: the node that holds it claims first.
    resume_session   TEXT COLLATE "C",
    plan             TEXT NOT NULL,
    queued_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    claimed_by       TEXT COLLATE "C",
    claimed_instance TEXT COLLATE "C",
    claimed_at       TIMESTAMPTZ,
    -- Set by the holder to stop the run (its reason).
    cancel           TEXT
);
CREATE INDEX run_queue_unclaimed ON run_queue (queued_at) WHERE claimed_by IS NULL;

-- What claimants report, in order per run: `events` (a batch for the chain),
-- `activity` (the dashboard's live row), `done` (the run's end). The holder takes
-- (deletes) them and records them.
CREATE TABLE run_reports (
    id     BIGSERIAL PRIMARY KEY,
    run_id TEXT COLLATE "C" NOT NULL REFERENCES run_queue (run_id) ON DELETE CASCADE,
    kind   TEXT COLLATE "C" NOT NULL,
    body   TEXT NOT NULL
);
CREATE INDEX run_reports_run ON run_reports (run_id);

-- Which node holds an agent session (for `session: inherit`): the node that ran it.
CREATE TABLE run_sessions (
    session_id TEXT COLLATE "C" PRIMARY KEY,
    node       TEXT COLLATE "C" NOT NULL,
    at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Tickets whose workspaces are to go (the holder's `CleanWorkspace`, when a ticket
-- ends): every node removes its own copy, unless it holds unpushed commits. Kept for a
-- day, so a node that was down a while still sees them.
CREATE TABLE workspace_removals (
    issue TEXT COLLATE "C" PRIMARY KEY,
    at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
