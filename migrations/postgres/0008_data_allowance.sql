-- radgate on PostgreSQL, schema v8 (SQLite v15): data allowances (SPEC §12);
-- see the SQLite migration.
ALTER TABLE access_tokens ADD COLUMN megabytes_included BIGINT
    CHECK (megabytes_included IS NULL OR megabytes_included BETWEEN 1 AND 1000000000);
ALTER TABLE access_tokens ADD COLUMN bytes_used BIGINT NOT NULL DEFAULT 0
    CHECK (bytes_used >= 0);
-- A quick-issue preset's data allowance, for the codes it makes.
ALTER TABLE presets ADD COLUMN megabytes_included BIGINT
    CHECK (megabytes_included IS NULL OR megabytes_included BETWEEN 1 AND 1000000000);
