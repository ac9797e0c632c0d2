-- radgate schema v15: data allowances (SPEC §12). MegabytesIncluded
-- (1 MB = 1,000,000 bytes; NULL = unlimited) and the octets accounting has
-- charged (input + output, with Gigawords). A session's charge is the
-- increase of its octet counters over the highest values stored for it
-- (sessions.input_octets / output_octets, kept as high-water marks), like
-- its seconds: counters already stored when this runs are not charged.
-- At most a petabyte (token::MAX_MEGABYTES), so that byte arithmetic in
-- SQL never overflows.
ALTER TABLE access_tokens ADD COLUMN megabytes_included INTEGER
    CHECK (megabytes_included IS NULL OR megabytes_included BETWEEN 1 AND 1000000000);
ALTER TABLE access_tokens ADD COLUMN bytes_used INTEGER NOT NULL DEFAULT 0
    CHECK (bytes_used >= 0);
-- A quick-issue preset's data allowance, for the codes it makes.
ALTER TABLE presets ADD COLUMN megabytes_included INTEGER
    CHECK (megabytes_included IS NULL OR megabytes_included BETWEEN 1 AND 1000000000);
