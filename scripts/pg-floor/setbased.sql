-- One batch of 64 Interim-Updates, set-based: lock the tokens, read the
-- sessions, update both, commit (synchronous_commit on).
\set b random(1, 9900)
\startpipeline
BEGIN;
SELECT id FROM access_tokens WHERE id BETWEEN :b AND :b + 63 ORDER BY id FOR UPDATE;
SELECT id, session_time FROM sessions WHERE id BETWEEN :b AND :b + 63;
UPDATE sessions SET session_time = session_time + 60, updated_at = :b WHERE id BETWEEN :b AND :b + 63;
UPDATE access_tokens SET seconds_used = seconds_used + 60, last_access = :b WHERE id BETWEEN :b AND :b + 63;
COMMIT;
\endpipeline
