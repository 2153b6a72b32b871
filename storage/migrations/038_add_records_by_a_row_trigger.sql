-- 038_add_records_by_a_row_trigger (docs/performance.md, nineteenth
-- round): the ADD records of inserted memories come from a row trigger
-- whose WHEN clause skips the batch writer's own COPY, instead of a
-- statement trigger with a transition table.
--
-- A statement trigger REFERENCING NEW TABLE makes PostgreSQL keep a copy
-- of every inserted row for it (a tuplestore, spilled to a temporary file
-- beyond work_mem), whether or not the trigger then uses it. The batch
-- writer prints its memories' ADD records itself (035) and the trigger
-- returned at once, yet every row of its COPY into memories (≈ 2 KB each,
-- the vector included) was still copied: 20 inserts of 2,000 rows into a
-- copy of memories took 1,554 / 1,837 / 2,027 ms without such a trigger
-- and 1,745 / 2,046 / 2,236 ms with one that does nothing (≈ 5 µs per
-- row, on the pipeline's serial path).
--
-- A row trigger's WHEN clause is evaluated as each row is inserted, and
-- an AFTER trigger whose WHEN is false queues nothing: the writer's COPY
-- (agentmem.add_records_by_writer = 'on' for exactly that statement: the
-- writer sets it before and clears it after) costs one comparison per
-- row. Every other insert -- the staged path, versioned adds, the API,
-- restores -- gets its ADD record from the trigger as before, now one per
-- row as the row is inserted: the records stay in the memories' seq
-- order, with the same fields (memory_change_record, 032). UPDATE and
-- DELETE records are unchanged.
CREATE FUNCTION memory_outbox_added() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO memory_outbox (user_id, record_key, memory_id, payload)
  VALUES (NEW.user_id, NEW.user_id, NEW.memory_id,
          memory_change_record('ADD', NEW, memory_change_time(now()),
                               memory_change_source()));
  RETURN NULL;
END $$;

-- The statement function keeps UPDATE only.
CREATE OR REPLACE FUNCTION memory_outbox_written() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO memory_outbox (user_id, record_key, memory_id, payload)
  SELECT n.user_id, n.user_id, n.memory_id,
         memory_change_record('UPDATE', n, memory_change_time(now()),
                              memory_change_source())
  FROM memory_outbox_new n JOIN memory_outbox_old o USING (memory_id)
  WHERE n.version <> o.version ORDER BY n.seq;
  RETURN NULL;
END $$;

DROP TRIGGER memories_outbox_insert ON memories;
CREATE TRIGGER memories_outbox_insert AFTER INSERT ON memories
  FOR EACH ROW
  WHEN (current_setting('agentmem.add_records_by_writer', true)
        IS DISTINCT FROM 'on')
  EXECUTE FUNCTION memory_outbox_added();
