-- radgate schema v7: the same sessions table, rebuilt for the hot path.
-- 1. The state CHECK is written as comparisons. SQLite evaluates
--    `state IN ('pending', 'active', 'closed')` (three constants) by
--    building a temporary B-tree every time a row is inserted or its state
--    updated: about 8% of the accounting writer's time (perf, session 4).
--    SQLite cannot change a CHECK in place: the table is rebuilt (the
--    migration runs with foreign keys off, so nothing cascades), keeping
--    every row and its id.
-- 2. The index by token holds only the sessions that hold a place
--    (pending or active), not every session ever closed: it stays as small
--    as the number of guests online, so a Start or Stop updates a page
--    that is in the cache and shared with the other requests of its batch
--    (fewer WAL frames to write and sync), and the stale-session sweep,
--    Accounting-On and the pending-place purge read it instead of the
--    whole table. Queries use it only when their WHERE repeats the index's
--    condition word for word: `state IN ('pending', 'active')` (checked by
--    the writer's query-plan test).
CREATE TABLE sessions_v7 (
    id                 INTEGER PRIMARY KEY,
    token_id           INTEGER NOT NULL REFERENCES access_tokens (id) ON DELETE CASCADE,
    nas                TEXT    NOT NULL,          -- NAS source IP address
    device             TEXT,                      -- Calling-Station-Id (normalized MAC when it is one)
    state              TEXT    NOT NULL
                       CHECK (state = 'pending' OR state = 'active' OR state = 'closed'),
    acct_session_id    TEXT,
    framed_ip          TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    expires_at         INTEGER,                   -- pending places only
    session_time       INTEGER NOT NULL DEFAULT 0,
    stopped_at         INTEGER,
    terminate_cause    INTEGER,                   -- Acct-Terminate-Cause of the Stop
    close_reason       TEXT,                      -- stop | stale | nas-restart
    input_octets       INTEGER NOT NULL DEFAULT 0,
    output_octets      INTEGER NOT NULL DEFAULT 0,
    input_packets      INTEGER NOT NULL DEFAULT 0,
    output_packets     INTEGER NOT NULL DEFAULT 0,
    user_name          TEXT
);
INSERT INTO sessions_v7 (id, token_id, nas, device, state, acct_session_id, framed_ip,
    created_at, updated_at, expires_at, session_time, stopped_at, terminate_cause,
    close_reason, input_octets, output_octets, input_packets, output_packets, user_name)
SELECT id, token_id, nas, device, state, acct_session_id, framed_ip,
    created_at, updated_at, expires_at, session_time, stopped_at, terminate_cause,
    close_reason, input_octets, output_octets, input_packets, output_packets, user_name
FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_v7 RENAME TO sessions;
CREATE INDEX sessions_live ON sessions (token_id) WHERE state IN ('pending', 'active');
CREATE UNIQUE INDEX sessions_nas_acct ON sessions (nas, acct_session_id) WHERE acct_session_id IS NOT NULL;
