-- Several karajan nodes on one store (issue 14, items 2 and 3; src/cluster). Postgres
-- only: a SQLite store is one daemon's, so this migration has no SQLite twin.
--
-- Times here are the DATABASE's clock (`now()`), never a node's: a lease expires when
-- the server says so, whatever the nodes' clocks read. They are not hashed and not part
-- of the chain, so they are `timestamptz`, not RFC 3339 text.

-- One row per node (`karajan run --node NAME`): who is up, how many agents it may run,
-- how many it runs. `instance` tells two processes claiming one name apart: a node name
-- whose heartbeat is fresh belongs to the instance that wrote it.
CREATE TABLE nodes (
    name           TEXT COLLATE "C" PRIMARY KEY,
    instance       TEXT COLLATE "C" NOT NULL,
    host           TEXT COLLATE "C" NOT NULL,
    pid            BIGINT NOT NULL,
    started_at     TIMESTAMPTZ NOT NULL,
    heartbeat_at   TIMESTAMPTZ NOT NULL,
    max_concurrent BIGINT NOT NULL CHECK (max_concurrent >= 0),
    running        BIGINT NOT NULL DEFAULT 0 CHECK (running >= 0),
    stopped_at     TIMESTAMPTZ
);

-- Named leases with fencing tokens. `token` grows by one on every acquisition (a new
-- term, whoever takes it); a renewal keeps it. Every event append of a cluster node
-- checks, in the append's transaction, that its (holder, token) is this row's and has
-- not expired: a stale holder's append is rejected (src/store/append.rs).
CREATE TABLE leases (
    name       TEXT COLLATE "C" PRIMARY KEY,
    holder     TEXT COLLATE "C",
    token      BIGINT NOT NULL DEFAULT 0 CHECK (token >= 0),
    expires_at TIMESTAMPTZ NOT NULL
);

-- The tracker lease: its holder polls the tracker, decides, and writes to it.
INSERT INTO leases (name, holder, token, expires_at) VALUES ('tracker', NULL, 0, '-infinity');
