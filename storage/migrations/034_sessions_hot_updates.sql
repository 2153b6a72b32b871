-- 034_sessions_hot_updates (docs/performance.md, sixteenth round): the
-- batch's upsert of agent_sessions becomes HOT-updatable, like the
-- entities and rollups in 031_hot_updates.
--
-- Every batch moves last_activity_at of each session it touches, and
-- last_activity_at was indexed (for retention), so no session update
-- could be HOT: each one wrote a new entry into every index of the table
-- (0 of 56,031 updates were HOT in a 100,000-event steady run, ≈ one
-- update per two events). Retention's idle-session scans
-- (storage/governance_store.cpp) find their candidates by started_at
-- instead, which the upsert changes only when an event older than the
-- session's first arrives: a session's last activity is never before its
-- start (both are the min / max of its events' times), so
-- `last_activity_at < cutoff` implies `started_at < cutoff`.
DROP INDEX agent_sessions_last_activity_idx;
-- Open sessions, for closing the idle ones (ended_at set once per session).
CREATE INDEX agent_sessions_open_started_idx ON agent_sessions (started_at)
  WHERE ended_at IS NULL;
-- Every session, for deleting the ones idle beyond the retention period.
CREATE INDEX agent_sessions_started_idx ON agent_sessions (started_at);
-- Room on each page for the updated row (takes effect for pages written
-- from now on).
ALTER TABLE agent_sessions SET (fillfactor = 80);
