-- 005_memory_history: versioned memories (docs/memory.md, "Deduplication
-- and history"). A memory that nearly duplicates an existing one of the same
-- user updates it in place (mem0-style ADD/UPDATE/NOOP), and a session's
-- rolling summary is one memory updated as the session grows; every change
-- is kept here.

-- Current version of each memory (1 = as first added) and when it last
-- changed in place (NULL: never).
ALTER TABLE memories ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE memories ADD COLUMN updated_at timestamptz;

-- One row per version of a memory, like mem0's history table.
CREATE TABLE memory_history (
  memory_id        text NOT NULL,
  version          integer NOT NULL,       -- 1 for ADD, +1 per UPDATE
  event            text NOT NULL CHECK (event IN ('ADD', 'UPDATE', 'DELETE')),
  user_id          text NOT NULL,
  old_text         text,                   -- NULL for ADD
  new_text         text,                   -- NULL for DELETE
  old_importance   real,
  new_importance   real,
  event_id         text,                   -- source event of the change
  source_memory_id text,                   -- memory the change came from:
                                           -- its own id for ADD, the
                                           -- near-duplicate's id for UPDATE
  changed_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (memory_id, version)
);
CREATE INDEX memory_history_source_idx ON memory_history (source_memory_id);
CREATE INDEX memory_history_user_idx ON memory_history (user_id, memory_id);
