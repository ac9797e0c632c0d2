-- radgate schema v3: the User-Name a NAS knows a session by (the code as the
-- guest typed it), so that a Disconnect-Request (RFC 5176) names the session
-- the way the NAS does.
ALTER TABLE sessions ADD COLUMN user_name TEXT;
