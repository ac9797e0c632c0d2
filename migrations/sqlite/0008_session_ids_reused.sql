-- radgate schema v8: a NAS may reuse an Acct-Session-Id (a counter that
-- restarts after a reboot). A new session then gets a row of its own beside
-- the old one's, so (nas, acct_session_id) is no longer unique; accounting
-- matches a packet to the newest row for the pair and its code (the single
-- writer decides which packet opens a new session: policy/accounting.rs
-- `match_session`). close_reason gains 'replaced'.
DROP INDEX sessions_nas_acct;
CREATE INDEX sessions_nas_acct ON sessions (nas, acct_session_id) WHERE acct_session_id IS NOT NULL;
