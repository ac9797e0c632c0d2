-- radgate schema v11: presets for the front desk's quick issue (SPEC §10):
-- a manager names a kind of code ("2 hours", "Day pass, 1 device"), the
-- desk makes 1..N such codes with one click.
CREATE TABLE presets (
    id                INTEGER PRIMARY KEY,
    name              TEXT    NOT NULL UNIQUE,
    business_id       INTEGER NOT NULL DEFAULT 0,
    minutes_included  INTEGER NOT NULL CHECK (minutes_included >= 1),
    valid_for_minutes INTEGER CHECK (valid_for_minutes IS NULL OR valid_for_minutes >= 1),
    user_limit        INTEGER CHECK (user_limit IS NULL OR user_limit >= 1),
    single_use        INTEGER NOT NULL DEFAULT 0,
    created_on        INTEGER NOT NULL
);
