-- 002_data_governance: per-user deletion, tombstones and the deletions log
-- (docs/data-governance.md). These tables are governance bookkeeping: user
-- deletion and export skip them although they have a user_id column.

-- A deleted user. Events of the user with event time ts <= cutoff are
-- dropped by the pipeline (in memory and again inside the writer's
-- transaction), so Kafka redelivery or a replay from older offsets cannot
-- bring the deleted data back; newer events are accepted (the user may
-- come back). cutoff = greatest(deletion time, newest stored event time).
CREATE TABLE user_tombstones (
  user_id    text PRIMARY KEY,
  deleted_at timestamptz NOT NULL,
  cutoff     timestamptz NOT NULL
);

-- Deletions that derived state (vector index, keyword index, RocksDB) of
-- every node must apply; tailed by seq like memories.seq. Kinds:
--   user     : every point/doc/buffer entry of user_id with ts <= cutoff
--   session  : the session's buffer and state, plus point_ids
--   memories : point_ids
CREATE TABLE deletions (
  seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind       text NOT NULL CHECK (kind IN ('user', 'session', 'memories')),
  user_id    text,
  session_id text,
  cutoff     timestamptz,
  point_ids  bigint[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX memory_links_memory_id_idx ON memory_links (memory_id);
CREATE INDEX memory_links_activity_id_idx ON memory_links (activity_id);
CREATE INDEX agent_sessions_last_activity_idx ON agent_sessions (last_activity_at);
CREATE INDEX memories_ts_importance_idx ON memories (ts, importance);
