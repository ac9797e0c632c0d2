-- radgate schema v9: operators of the admin web UI (SPEC §10) and their
-- sign-in sessions. Passwords are stored as Argon2id PHC strings; a
-- session's cookie holds a random id, the table only its SHA-256.
CREATE TABLE operators (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL CHECK (role IN ('desk', 'manager', 'admin')),
    businesses    TEXT    NOT NULL DEFAULT '',   -- comma-separated BusinessIds; empty: all
    password_hash TEXT    NOT NULL,
    created_on    INTEGER NOT NULL,
    created_by    TEXT,
    disabled_on   INTEGER
);
CREATE TABLE web_sessions (
    id_hash      TEXT    PRIMARY KEY,            -- hex SHA-256 of the cookie's id
    operator_id  INTEGER NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    created_on   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL
);
CREATE INDEX web_sessions_operator ON web_sessions (operator_id);
