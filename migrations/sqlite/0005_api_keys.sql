-- radgate schema v5: API keys for the admin HTTP API (SPEC §7). Only a
-- SHA-256 hash of each key is stored; the key itself is shown once.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    key_hash     TEXT    NOT NULL UNIQUE,      -- hex SHA-256 of the whole key
    display      TEXT    NOT NULL,             -- rgk_ab1…xyz9
    roles        TEXT    NOT NULL,             -- comma-separated
    created_on   INTEGER NOT NULL,
    created_by   TEXT,
    last_used    INTEGER,
    revoked_on   INTEGER
);
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_on IS NULL;
