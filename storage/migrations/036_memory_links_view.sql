-- 036_memory_links_view (docs/performance.md, nineteenth round):
-- memory_links, the link from each vector-index point to the activity it
-- came from, becomes a view over the rows that already hold it.
--
-- Every column of a link row was a copy: collection was always
-- 'memories' (the pipeline's collection; the API's collections keep their
-- own points, 004_collections), point_id, memory_id and memory_type are
-- the memory's own columns, and activity_id was looked up, when the memory
-- was inserted, from the activity with the memory's event_id (which no
-- update of a memory changes). Writing that copy was ≈ 8 % of the batch
-- writer's PostgreSQL time in a backlog (a COPY of one row per memory
-- and three index entries), on the one serial path of the pipeline.
--
-- The view holds the same rows, with the same columns and types: one per
-- memory, joined to its activity through user_activities' unique
-- event_id. activity_id is NULL when the memory has no stored activity
-- (a memory created through the API, or an activity deleted before its
-- memories), as it was for memories the pipeline could not link. A link
-- goes when its memory goes; nothing writes or deletes links any more.
-- Lookups by point_id or memory_id use the memories' unique indexes.
DROP TABLE memory_links;
CREATE VIEW memory_links AS
  SELECT 'memories'::text AS collection, m.point_id, m.memory_id,
         a.activity_id, m.memory_type
  FROM memories m LEFT JOIN user_activities a ON a.event_id = m.event_id;
