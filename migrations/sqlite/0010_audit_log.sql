-- radgate schema v10: the audit log (SPEC §10). Every change made through
-- the CLI, the API or the web UI — codes, API keys, operators — gets a row
-- in the same transaction as the change: who, when, what, and the values
-- before and after (JSON with the Nexudus field names).
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,   -- cli:<user>, api:<key name>, ui:<operator>
    action      TEXT    NOT NULL,   -- token.create, token.update, apikey.revoke, …
    target      TEXT    NOT NULL,   -- what was changed, in words
    business_id INTEGER,            -- the code's business (codes only)
    before      TEXT,
    after       TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
