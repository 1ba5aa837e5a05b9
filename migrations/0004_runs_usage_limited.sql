-- A run can end `usage_limited` (the agent CLI's plan or quota limit was hit; not a
-- failed attempt). SQLite cannot change a CHECK in place, so the `runs` projection is
-- rebuilt with the same columns and rows; the event chain is untouched.
CREATE TABLE runs_new (
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
                            'max_turns', 'budget_exceeded', 'cancelled', 'interrupted',
                            'usage_limited')),
    -- The reason carried by failed / budget_exceeded / cancelled / usage_limited.
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

INSERT INTO runs_new SELECT * FROM runs;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
CREATE INDEX runs_identifier ON runs (identifier, started_seq);
CREATE INDEX runs_open ON runs (started_seq) WHERE finished_at IS NULL;
