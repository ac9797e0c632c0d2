-- radgate schema v1. Times are Unix seconds (UTC).
CREATE TABLE access_tokens (
    id               INTEGER PRIMARY KEY,
    unique_id        TEXT    NOT NULL UNIQUE,
    business_id      INTEGER NOT NULL DEFAULT 0,
    access_code      TEXT    NOT NULL,
    code_key         TEXT    NOT NULL,           -- upper-cased access_code, for lookup
    description      TEXT,
    minutes_included INTEGER NOT NULL CHECK (minutes_included >= 0),
    seconds_used     INTEGER NOT NULL DEFAULT 0 CHECK (seconds_used >= 0),
    valid_from       INTEGER,
    valid_to         INTEGER,
    user_limit       INTEGER CHECK (user_limit IS NULL OR user_limit >= 1),
    mac_address      TEXT,
    booking_guid     TEXT,
    visitor_guid     TEXT,
    last_access      INTEGER,
    created_on       INTEGER NOT NULL,
    updated_on       INTEGER NOT NULL,
    updated_by       TEXT,
    CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_to > valid_from),
    UNIQUE (business_id, code_key)
);
CREATE INDEX access_tokens_code_key ON access_tokens (code_key);

-- A session is a place on a token held by one device: 'pending' between an
-- Access-Accept and the accounting Start (expires_at bounds it), 'active'
-- while accounting runs, 'closed' afterwards.
CREATE TABLE sessions (
    id                 INTEGER PRIMARY KEY,
    token_id           INTEGER NOT NULL REFERENCES access_tokens (id) ON DELETE CASCADE,
    nas                TEXT    NOT NULL,          -- NAS source IP address
    device             TEXT,                      -- Calling-Station-Id (normalized MAC when it is one)
    state              TEXT    NOT NULL CHECK (state IN ('pending', 'active', 'closed')),
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
    output_packets     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_token_live ON sessions (token_id, state);
CREATE UNIQUE INDEX sessions_nas_acct ON sessions (nas, acct_session_id) WHERE acct_session_id IS NOT NULL;
