-- radgate schema v6: token Ids are never reused (AUTOINCREMENT), because
-- the HTTP API hands them to other systems: a booking system that still
-- holds the Id of a deleted token must not reach the next token created.
-- SQLite cannot add AUTOINCREMENT in place: the table is rebuilt (the
-- migration runs with foreign keys off, so sessions keep their rows).
CREATE TABLE access_tokens_v6 (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    unique_id         TEXT    NOT NULL UNIQUE,
    business_id       INTEGER NOT NULL DEFAULT 0,
    access_code       TEXT    NOT NULL,
    code_key          TEXT    NOT NULL,
    description       TEXT,
    minutes_included  INTEGER NOT NULL CHECK (minutes_included >= 0),
    seconds_used      INTEGER NOT NULL DEFAULT 0 CHECK (seconds_used >= 0),
    valid_from        INTEGER,
    valid_to          INTEGER,
    user_limit        INTEGER CHECK (user_limit IS NULL OR user_limit >= 1),
    mac_address       TEXT,
    booking_guid      TEXT,
    visitor_guid      TEXT,
    last_access       INTEGER,
    created_on        INTEGER NOT NULL,
    updated_on        INTEGER NOT NULL,
    updated_by        TEXT,
    valid_for_minutes INTEGER CHECK (valid_for_minutes IS NULL OR valid_for_minutes >= 1),
    single_use        INTEGER NOT NULL DEFAULT 0 CHECK (single_use IN (0, 1)),
    first_used_on     INTEGER,
    spent_on          INTEGER,
    rate_limit        TEXT,
    CHECK (valid_to IS NULL OR valid_from IS NULL OR valid_to > valid_from),
    UNIQUE (business_id, code_key)
);
INSERT INTO access_tokens_v6 (id, unique_id, business_id, access_code, code_key, description,
    minutes_included, seconds_used, valid_from, valid_to, user_limit, mac_address, booking_guid,
    visitor_guid, last_access, created_on, updated_on, updated_by, valid_for_minutes, single_use,
    first_used_on, spent_on, rate_limit)
SELECT id, unique_id, business_id, access_code, code_key, description,
    minutes_included, seconds_used, valid_from, valid_to, user_limit, mac_address, booking_guid,
    visitor_guid, last_access, created_on, updated_on, updated_by, valid_for_minutes, single_use,
    first_used_on, spent_on, rate_limit
FROM access_tokens;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_v6 RENAME TO access_tokens;
CREATE INDEX access_tokens_code_key ON access_tokens (code_key);
