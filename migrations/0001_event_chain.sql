-- The hash-chained event log and its head. Append-only: never edit this file once it
-- has landed; change the schema with a new migration.
--
-- Hashes are computed in Rust (src/store/chain.rs), never by the database.

CREATE TABLE events (
    -- 1-based and contiguous; a gap is a deleted row.
    seq       INTEGER PRIMARY KEY CHECK (seq >= 1),
    -- RFC 3339 UTC with microseconds: 2026-11-21T07:00:00.123456Z
    at        TEXT    NOT NULL CHECK (length(at) = 27 AND substr(at, 27, 1) = 'Z'),
    issue     TEXT,
    kind      TEXT    NOT NULL,
    -- Canonical JSON of the event without its `kind` tag.
    payload   TEXT    NOT NULL,
    prev_hash BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash      BLOB    NOT NULL CHECK (length(hash) = 32)
) STRICT;

CREATE INDEX events_issue ON events (issue, seq) WHERE issue IS NOT NULL;

-- Guard against accidental edits: the log is append-only. (A determined editor can drop
-- these triggers; `karajan verify` catches what they then do.)
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only');
END;

-- The single row every append locks and advances in its transaction.
CREATE TABLE chain_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL CHECK (seq >= 0),
    hash BLOB    NOT NULL CHECK (length(hash) = 32)
) STRICT;

INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, zeroblob(32));
