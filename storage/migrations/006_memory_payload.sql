-- Payload of memories used by search filters (issue 4, "Search"): the
-- source event's tags, copied onto each memory so the derived indexes
-- (vector and keyword payload indexes) can be rebuilt from Postgres alone.
ALTER TABLE memories ADD COLUMN IF NOT EXISTS tags text[];
