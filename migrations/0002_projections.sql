-- Projections: a fold over the event log, updated in the same transaction as each
-- append (src/store/projection.rs). They can always be rebuilt by replaying the log.
-- Append-only: never edit this file once it has landed.
--
-- Times here are RFC 3339 UTC with nine fractional digits (sortable as text).

-- One row per ticket: its state in the machine and the phase within it. The phase's
-- data lives in columns whose presence the CHECKs tie to the phase.
CREATE TABLE tickets (
    identifier  TEXT    PRIMARY KEY,
    tracker_id  TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    phase       TEXT    NOT NULL CHECK (phase IN ('ready', 'running', 'succeeded',
                        'retry_waiting', 'waiting', 'escalated', 'held', 'done')),
    -- running, succeeded
    run_id      TEXT,
    -- running, retry_waiting
    attempt     INTEGER CHECK (attempt >= 0),
    -- running
    started_at  TEXT,
    -- retry_waiting
    due_at      TEXT,
    error       TEXT,
    -- escalated
    reason      TEXT,
    -- held
    held_column TEXT,
    -- Failed attempts in the current visit of the state.
    attempts    INTEGER NOT NULL CHECK (attempts >= 0),
    entered_at  TEXT    NOT NULL,
    -- Runs started per state, as a JSON object {"state": count}.
    runs        TEXT    NOT NULL DEFAULT '{}',
    updated_seq INTEGER NOT NULL,
    CHECK ((phase IN ('running', 'succeeded')) = (run_id IS NOT NULL)),
    CHECK ((phase IN ('running', 'retry_waiting')) = (attempt IS NOT NULL)),
    CHECK ((phase = 'running') = (started_at IS NOT NULL)),
    CHECK ((phase = 'retry_waiting') = (due_at IS NOT NULL AND error IS NOT NULL)),
    CHECK (phase = 'retry_waiting' OR (due_at IS NULL AND error IS NULL)),
    CHECK ((phase = 'escalated') = (reason IS NOT NULL)),
    CHECK ((phase = 'held') = (held_column IS NOT NULL))
) STRICT;

CREATE TABLE runs (
    run_id          TEXT    PRIMARY KEY,
    identifier      TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    run_number      INTEGER NOT NULL CHECK (run_number >= 1),
    attempt         INTEGER NOT NULL CHECK (attempt >= 0),
    runner          TEXT    NOT NULL,
    pid             INTEGER,
    started_at      TEXT    NOT NULL,
    finished_at     TEXT,
    status          TEXT    CHECK (status IN ('succeeded', 'failed', 'stalled', 'timed_out',
                            'max_turns', 'budget_exceeded', 'cancelled', 'interrupted')),
    -- The reason carried by failed / budget_exceeded / cancelled.
    status_detail   TEXT,
    exit_code       INTEGER,
    signal          INTEGER,
    duration_ms     INTEGER CHECK (duration_ms >= 0),
    tokens_input       INTEGER NOT NULL DEFAULT 0,
    tokens_output      INTEGER NOT NULL DEFAULT 0,
    tokens_cache_read  INTEGER NOT NULL DEFAULT 0,
    tokens_cache_write INTEGER NOT NULL DEFAULT 0,
    cost_usd        REAL,
    turns           INTEGER,
    session_id      TEXT,
    config_digest   TEXT    NOT NULL,
    prompt_digest   TEXT    NOT NULL,
    prompt_bytes    INTEGER NOT NULL,
    workspace       TEXT    NOT NULL,
    log_dir         TEXT    NOT NULL,
    -- JSON array of argv strings.
    command         TEXT    NOT NULL,
    resume_session  TEXT,
    started_seq     INTEGER NOT NULL,
    CHECK ((finished_at IS NULL) = (status IS NULL)),
    CHECK ((finished_at IS NULL) = (duration_ms IS NULL))
) STRICT;

CREATE INDEX runs_identifier ON runs (identifier, started_seq);
CREATE INDEX runs_open ON runs (started_seq) WHERE finished_at IS NULL;

-- A row exists iff the ticket's phase is retry_waiting.
CREATE TABLE retry_queue (
    identifier TEXT    PRIMARY KEY,
    state      TEXT    NOT NULL,
    attempt    INTEGER NOT NULL CHECK (attempt >= 0),
    due_at     TEXT    NOT NULL,
    error      TEXT    NOT NULL
) STRICT;

CREATE INDEX retry_queue_due ON retry_queue (due_at);

-- The latest agent session per (ticket, runner), for resuming conversations.
CREATE TABLE sessions (
    identifier  TEXT    NOT NULL,
    runner      TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    updated_seq INTEGER NOT NULL,
    PRIMARY KEY (identifier, runner)
) STRICT;

-- Mirrors IssueRecord.rework: rework requests per gate since it last approved.
CREATE TABLE rework_counts (
    identifier TEXT    NOT NULL,
    gate       TEXT    NOT NULL,
    count      INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (identifier, gate)
) STRICT;

-- The outbox: tracker writes recorded but not yet confirmed.
CREATE TABLE pending_intents (
    intent_id    TEXT    PRIMARY KEY,
    identifier   TEXT    NOT NULL,
    -- JSON of the IntentOp (tagged by "op").
    op           TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error   TEXT,
    recorded_at  TEXT    NOT NULL,
    recorded_seq INTEGER NOT NULL
) STRICT;

CREATE INDEX pending_intents_identifier ON pending_intents (identifier);
