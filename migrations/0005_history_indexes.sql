-- Queries that run per poll or per run start must not grow with history.
-- Append-only: never edit this file once it has landed.

-- Today's spend (budget checks, dashboard): a range over `started_at` instead of a scan
-- of every run ever started.
CREATE INDEX runs_started_at ON runs (started_at);

-- One kind of a ticket's events (the last transition, its finished runs) without reading
-- its agent output lines.
CREATE INDEX events_issue_kind ON events (issue, kind, seq) WHERE issue IS NOT NULL;

-- The tickets still in play: the orchestrator loads only these.
CREATE INDEX tickets_active ON tickets (identifier) WHERE phase <> 'done';
