-- radgate schema v2: validity measured from the first login, and single-use codes.
-- ValidForMinutes: the code stays valid this many minutes after its first
-- successful login (the window also ends at ValidTo, whichever comes first).
ALTER TABLE access_tokens ADD COLUMN valid_for_minutes INTEGER
    CHECK (valid_for_minutes IS NULL OR valid_for_minutes >= 1);
-- SingleUse: the code is spent when its first session ends.
ALTER TABLE access_tokens ADD COLUMN single_use INTEGER NOT NULL DEFAULT 0
    CHECK (single_use IN (0, 1));
-- FirstUsedOn: the first successful login (Access-Accept), Unix seconds.
ALTER TABLE access_tokens ADD COLUMN first_used_on INTEGER;
-- SpentOn: when the first session of a single-use code ended.
ALTER TABLE access_tokens ADD COLUMN spent_on INTEGER;
