-- 035_add_records_by_the_writer (docs/performance.md, seventeenth round):
-- the pipeline's writer may write the ADD records of the memories it
-- inserts itself; the outbox trigger then skips that one statement.
--
-- Building a record in SQL (memory_change_record, 032) costs ≈ 6 µs per
-- memory of the writer backend's time, more than a fifth of a memory
-- row's COPY. The writer's direct path (storage/postgres_store.cpp) prints
-- the same records in C++ (storage/change_records.hpp; a test compares
-- them byte for byte with memory_change_record) and COPYs them into
-- memory_outbox right after its COPY into memories, in the same
-- savepoint. It says so with
--   set_config('agentmem.add_records_by_writer', 'on', true)
-- just before its COPY; the INSERT trigger of the next statement that
-- inserts memories takes the flag and clears it, so it covers exactly one
-- statement (a rollback to the savepoint restores it, cleared). Every
-- other insert -- the staged path, the API, restores -- gets its records
-- from the trigger as before; UPDATE and DELETE records are unchanged.
CREATE OR REPLACE FUNCTION memory_outbox_written() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  changed_at text := memory_change_time(now());
  source text := memory_change_source();
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF current_setting('agentmem.add_records_by_writer', true) = 'on' THEN
      PERFORM set_config('agentmem.add_records_by_writer', '', true);
      RETURN NULL;
    END IF;
    INSERT INTO memory_outbox (user_id, record_key, memory_id, payload)
    SELECT n.user_id, n.user_id, n.memory_id,
           memory_change_record('ADD', n, changed_at, source)
    FROM memory_outbox_new n ORDER BY n.seq;
  ELSE
    INSERT INTO memory_outbox (user_id, record_key, memory_id, payload)
    SELECT n.user_id, n.user_id, n.memory_id,
           memory_change_record('UPDATE', n, changed_at, source)
    FROM memory_outbox_new n JOIN memory_outbox_old o USING (memory_id)
    WHERE n.version <> o.version ORDER BY n.seq;
  END IF;
  RETURN NULL;
END $$;
