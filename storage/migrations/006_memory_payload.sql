-- Payload of memories used by search filters (issue 4, "Search"): the
-- source event's tags, copied onto each memory so the derived indexes
-- (vector and keyword payload indexes) can be rebuilt from Postgres alone.
ALTER TABLE memories ADD COLUMN IF NOT EXISTS tags text[];
-- Memories written before this migration take their source event's tags
-- (memories of events that were never stored keep NULL: no tags).
UPDATE memories m SET tags = a.tags
  FROM user_activities a
 WHERE a.event_id = m.event_id AND m.tags IS NULL;
