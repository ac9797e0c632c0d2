-- radgate schema v12: batches (SPEC §10). Every `token generate` (CLI,
-- the web UI's quick issue) makes a named batch, so that a manager can
-- count, print, export, extend, revoke or delete its codes together. A
-- code keeps its batch for life; a batch whose codes are all deleted is
-- no longer listed. Ids are never reused.
CREATE TABLE batches (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    business_id INTEGER NOT NULL DEFAULT 0,
    created_on  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL
);
ALTER TABLE access_tokens ADD COLUMN batch_id INTEGER REFERENCES batches (id) ON DELETE SET NULL;
CREATE INDEX access_tokens_batch ON access_tokens (batch_id) WHERE batch_id IS NOT NULL;
