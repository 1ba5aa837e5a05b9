-- The PostgreSQL store: the same tables, columns and encodings as the SQLite store's
-- migrations (../0001_event_chain.sql to ../0007_tickets_verdict.sql) at their latest,
-- in one step. Append-only: never edit this file once it has landed; change the schema
-- with a new migration here (and its SQLite twin one folder up).
--
-- Differences from SQLite, and why:
-- - integers are BIGINT (SQLite's INTEGER is 64-bit), except the two the store reads as
--   32-bit (`exit_code`, `signal`);
-- - hashes are BYTEA (BLOB), costs DOUBLE PRECISION (REAL);
-- - every TEXT column uses the "C" collation: byte order, as in SQLite, so listings sort
--   the same whatever the database's locale;
-- - times stay RFC 3339 text and payloads canonical JSON text: the bytes that are
--   hashed are the bytes that are stored (src/store/chain.rs).

CREATE TABLE events (
    -- 1-based and contiguous; a gap is a deleted row.
    seq       BIGINT  PRIMARY KEY CHECK (seq >= 1),
    -- RFC 3339 UTC with microseconds: 2026-11-21T07:00:00.123456Z
    at        TEXT COLLATE "C" NOT NULL CHECK (length(at) = 27 AND substr(at, 27, 1) = 'Z'),
    issue     TEXT COLLATE "C",
    kind      TEXT COLLATE "C" NOT NULL,
    -- Canonical JSON of the event without its `kind` tag.
    payload   TEXT COLLATE "C" NOT NULL,
    prev_hash BYTEA   NOT NULL CHECK (length(prev_hash) = 32),
    hash      BYTEA   NOT NULL CHECK (length(hash) = 32)
);

CREATE INDEX events_issue ON events (issue, seq) WHERE issue IS NOT NULL;
CREATE INDEX events_kind ON events (kind, seq);
CREATE INDEX events_issue_kind ON events (issue, kind, seq) WHERE issue IS NOT NULL;

-- Guard against accidental edits: the log is append-only. (A determined editor can drop
-- these triggers; `karajan verify` catches what they then do.)
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only';
END;
$$;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

-- The single row every append locks (SELECT … FOR UPDATE) and advances in its
-- transaction: concurrent appenders queue on it, so the chain never forks.
CREATE TABLE chain_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL CHECK (seq >= 0),
    hash BYTEA  NOT NULL CHECK (length(hash) = 32)
);

INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- Projections: a fold over the event log, updated in the same transaction as each
-- append (src/store/projection.rs). Times are RFC 3339 UTC with nine fractional digits.
CREATE TABLE tickets (
    identifier  TEXT COLLATE "C" PRIMARY KEY,
    tracker_id  TEXT COLLATE "C" NOT NULL,
    state       TEXT COLLATE "C" NOT NULL,
    phase       TEXT COLLATE "C" NOT NULL CHECK (phase IN ('ready', 'running', 'succeeded',
                'retry_waiting', 'waiting', 'escalated', 'held', 'done')),
    run_id      TEXT COLLATE "C",
    attempt     BIGINT CHECK (attempt >= 0),
    started_at  TEXT COLLATE "C",
    due_at      TEXT COLLATE "C",
    error       TEXT COLLATE "C",
    reason      TEXT COLLATE "C",
    held_column TEXT COLLATE "C",
    attempts    BIGINT NOT NULL CHECK (attempts >= 0),
    entered_at  TEXT COLLATE "C" NOT NULL,
    runs        TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    updated_seq BIGINT NOT NULL,
    pull_request TEXT COLLATE "C",
    verdict     TEXT COLLATE "C",
    CHECK ((phase IN ('running', 'succeeded')) = (run_id IS NOT NULL)),
    CHECK ((phase IN ('running', 'retry_waiting')) = (attempt IS NOT NULL)),
    CHECK ((phase = 'running') = (started_at IS NOT NULL)),
    CHECK ((phase = 'retry_waiting') = (due_at IS NOT NULL AND error IS NOT NULL)),
    CHECK (phase = 'retry_waiting' OR (due_at IS NULL AND error IS NULL)),
    CHECK ((phase = 'escalated') = (reason IS NOT NULL)),
    CHECK ((phase = 'held') = (held_column IS NOT NULL))
);

CREATE INDEX tickets_active ON tickets (identifier) WHERE phase <> 'done';

CREATE TABLE runs (
    run_id          TEXT COLLATE "C" PRIMARY KEY,
    identifier      TEXT COLLATE "C" NOT NULL,
    state           TEXT COLLATE "C" NOT NULL,
    run_number      BIGINT NOT NULL CHECK (run_number >= 1),
    attempt         BIGINT NOT NULL CHECK (attempt >= 0),
    runner          TEXT COLLATE "C" NOT NULL,
    pid             BIGINT,
    started_at      TEXT COLLATE "C" NOT NULL,
    finished_at     TEXT COLLATE "C",
    status          TEXT COLLATE "C" CHECK (status IN ('succeeded', 'failed', 'stalled',
                    'timed_out', 'max_turns', 'budget_exceeded', 'cancelled', 'interrupted',
                    'usage_limited')),
    status_detail   TEXT COLLATE "C",
    exit_code       INTEGER,
    signal          INTEGER,
    duration_ms     BIGINT CHECK (duration_ms >= 0),
    tokens_input       BIGINT NOT NULL DEFAULT 0,
    tokens_output      BIGINT NOT NULL DEFAULT 0,
    tokens_cache_read  BIGINT NOT NULL DEFAULT 0,
    tokens_cache_write BIGINT NOT NULL DEFAULT 0,
    cost_usd        DOUBLE PRECISION,
    turns           BIGINT,
    session_id      TEXT COLLATE "C",
    config_digest   TEXT COLLATE "C" NOT NULL,
    prompt_digest   TEXT COLLATE "C" NOT NULL,
    prompt_bytes    BIGINT NOT NULL,
    workspace       TEXT COLLATE "C" NOT NULL,
    log_dir         TEXT COLLATE "C" NOT NULL,
    command         TEXT COLLATE "C" NOT NULL,
    resume_session  TEXT COLLATE "C",
    started_seq     BIGINT NOT NULL,
    CHECK ((finished_at IS NULL) = (status IS NULL)),
    CHECK ((finished_at IS NULL) = (duration_ms IS NULL))
);

CREATE INDEX runs_identifier ON runs (identifier, started_seq);
CREATE INDEX runs_open ON runs (started_seq) WHERE finished_at IS NULL;
CREATE INDEX runs_started_at ON runs (started_at);

CREATE TABLE retry_queue (
    identifier TEXT COLLATE "C" PRIMARY KEY,
    state      TEXT COLLATE "C" NOT NULL,
    attempt    BIGINT NOT NULL CHECK (attempt >= 0),
    due_at     TEXT COLLATE "C" NOT NULL,
    error      TEXT COLLATE "C" NOT NULL
);

CREATE INDEX retry_queue_due ON retry_queue (due_at);

CREATE TABLE sessions (
    identifier  TEXT COLLATE "C" NOT NULL,
    runner      TEXT COLLATE "C" NOT NULL,
    session_id  TEXT COLLATE "C" NOT NULL,
    updated_seq BIGINT NOT NULL,
    PRIMARY KEY (identifier, runner)
);

CREATE TABLE rework_counts (
    identifier TEXT COLLATE "C" NOT NULL,
    gate       TEXT COLLATE "C" NOT NULL,
    count      BIGINT NOT NULL CHECK (count >= 0),
    PRIMARY KEY (identifier, gate)
);

CREATE TABLE pending_intents (
    intent_id    TEXT COLLATE "C" PRIMARY KEY,
    identifier   TEXT COLLATE "C" NOT NULL,
    op           TEXT COLLATE "C" NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error   TEXT COLLATE "C",
    recorded_at  TEXT COLLATE "C" NOT NULL,
    recorded_seq BIGINT NOT NULL
);

CREATE INDEX pending_intents_identifier ON pending_intents (identifier);
