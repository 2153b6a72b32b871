-- 032_change_records_as_json: the memory change stream's records
-- (021_memory_change_stream) are stored as json, built from a typed row.
--
-- Every memory the pipeline inserts gets its ADD record from the outbox
-- trigger in the batch's transaction, and the relay reads each record back
-- as text. As jsonb, a record was built key by key (jsonb_build_object of
-- 21 arguments, ~0.7 µs per key), parsed into jsonb's binary form, and
-- printed again by the relay's payload::text. As json it is printed once,
-- by row_to_json of a row of the type below, and stored and read as the
-- text it is. Measured over 2,000 records (docs/performance.md, "Fourth
-- round"): building 30.8 -> 18.5 ms, the relay's payload::text 10.6 ->
-- 4.1 ms, the INSERT INTO memories of 2,000 memories with its trigger
-- ≈ 142 -> 119 ms.
--
-- The records' fields and values are unchanged; their text is compact
-- JSON with the keys in the order below (jsonb printed them sorted, with
-- blanks), which JSON readers do not see.

-- The fields of an ADD / UPDATE record, in the order they are printed.
CREATE TYPE memory_change_row AS (
  schema      text,
  op          text,
  memory_id   text,
  user_id     text,
  session_id  text,
  memory_type text,
  version     integer,
  text        text,
  importance  real,
  tags        text[],
  role        text,
  speaker     text,
  event_id    text,
  agent_type  text,
  agent_name  text,
  project_id  text,
  ts          text,
  changed_at  text,
  source      text
);

-- The outbox and the webhook copies hold json; DELETE and USER_DELETED
-- records, still built with jsonb_build_object (a handful per deletion),
-- are assigned to json by PostgreSQL's assignment cast.
ALTER TABLE memory_outbox ALTER COLUMN payload TYPE json USING payload::json;
ALTER TABLE memory_webhook_queue
  ALTER COLUMN payload TYPE json USING payload::json;
ALTER TABLE memory_webhook_dead_letters
  ALTER COLUMN payload TYPE json USING payload::json;

-- Same name and arguments, now returning json. A single SELECT without
-- FROM: PostgreSQL inlines it into the trigger's INSERT ... SELECT.
DROP FUNCTION memory_change_record(text, memories, text, text);
CREATE FUNCTION memory_change_record(op text, m memories, changed_at text,
  source text) RETURNS json
LANGUAGE sql STABLE AS $$
  SELECT row_to_json(ROW('agent.memory.v1', op, m.memory_id, m.user_id,
    m.session_id, m.memory_type, m.version, m.text, m.importance,
    coalesce(m.tags, '{}'), m.role, m.speaker, m.event_id, m.agent_type,
    m.agent_name, m.project_id, memory_change_time(m.ts), changed_at,
    source)::memory_change_row)
$$;
