-- 021_memory_change_stream: the memory change stream agent.memory.v1
-- (docs/events.md "Output topic agent.memory.v1", docs/operations.md
-- "Memory change stream").
--
-- Every change of a memory row -- ADD (insert), UPDATE (a new version: dedup
-- near-duplicates, rolling summaries, PATCH) and DELETE (API, retention,
-- user deletion) -- writes a record to memory_outbox in the same
-- transaction, from statement-level triggers over the statement's
-- transition table: set-based (one INSERT .. SELECT per statement, never a
-- round trip per memory), and no writer of memories can forget it. The
-- memory publisher relays the outbox to Kafka like the analytics outbox
-- (actors/outbox_publisher.hpp).
--
-- Writers tell the triggers why they change memories with
-- set_config('agentmem.change_source', 'api' | 'retention' |
-- 'user_deletion', true); unset means 'pipeline'.

-- Pending records of agent.memory.v1, relayed in id order. user_id is the
-- user whose CONTENT the payload holds (ADD, UPDATE), so user deletion
-- removes those rows like any user data; content-free records (DELETE,
-- USER_DELETED) have user_id NULL and survive it. record_key (the Kafka
-- key) is always the user_id.
-- memory_id: the memory the record is about (NULL for USER_DELETED); its
-- pending records with content go when it is deleted. The outbox holds
-- only what is not yet published: small, so user deletion's
-- "WHERE user_id = $1" needs no index of its own.
CREATE TABLE memory_outbox (
  id         bigserial PRIMARY KEY,
  user_id    text,
  record_key text NOT NULL,
  memory_id  text,
  payload    jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX memory_outbox_memory_idx ON memory_outbox (memory_id)
  WHERE user_id IS NOT NULL;

-- Webhook deliveries (docs/operations.md "Webhooks"): the memory publisher
-- copies each relayed record here once per endpoint whose user_id prefix
-- matches, in the relay transaction; the webhook dispatcher POSTs them in
-- id order per (endpoint, record_key) and deletes them once acknowledged.
-- user_id as in memory_outbox.
CREATE TABLE memory_webhook_queue (
  id              bigserial PRIMARY KEY,
  endpoint        text NOT NULL,
  user_id         text,
  record_key      text NOT NULL,
  memory_id       text,
  payload         jsonb NOT NULL,
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX memory_webhook_queue_key_idx
  ON memory_webhook_queue (endpoint, record_key, id);
CREATE INDEX memory_webhook_queue_memory_idx ON memory_webhook_queue (memory_id)
  WHERE user_id IS NOT NULL;

-- Records a webhook endpoint still refused after its last attempt, with the
-- reason; user deletion removes those with the user's content.
CREATE TABLE memory_webhook_dead_letters (
  id           bigserial PRIMARY KEY,
  endpoint     text NOT NULL,
  user_id      text,
  record_key   text NOT NULL,
  memory_id    text,
  payload      jsonb NOT NULL,
  attempts     integer NOT NULL,
  reason       text NOT NULL,
  dead_at      timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION memory_change_time(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

CREATE FUNCTION memory_change_source() RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('agentmem.change_source', true), ''),
                  'pipeline')
$$;

-- The record of an ADD or UPDATE: the memory's state after the change
-- (what a consumer needs of the row; no vector, no retrieval context).
CREATE FUNCTION memory_change_record(op text, m memories, changed_at text,
  source text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'schema', 'agent.memory.v1', 'op', op, 'memory_id', m.memory_id,
    'user_id', m.user_id, 'session_id', m.session_id,
    'memory_type', m.memory_type, 'version', m.version, 'text', m.text,
    'importance', m.importance,
    'tags', coalesce(to_jsonb(m.tags), '[]'::jsonb), 'role', m.role,
    'speaker', m.speaker, 'event_id', m.event_id,
    'agent_type', m.agent_type, 'agent_name', m.agent_name,
    'project_id', m.project_id,
    'ts', memory_change_time(m.ts), 'changed_at', changed_at,
    'source', source)
$$;

-- ADD for inserted rows; UPDATE for updated rows with a new version only
-- (rows rewritten without one -- a cleared retrieval context, a recomputed
-- vector -- change nothing a consumer sees). changed_at and source are the
-- same for every row of a statement.
CREATE FUNCTION memory_outbox_written() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  changed_at text := memory_change_time(now());
  source text := memory_change_source();
BEGIN
  IF TG_OP = 'INSERT' THEN
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

-- Content-free: ids, the version the deletion is (the last one + 1, as in
-- memory_history) and why. The deleted memories' records that still hold
-- their content (not yet published, queued for a webhook, dead-lettered)
-- go first: no content outlives its memory; consumers get the DELETE.
CREATE FUNCTION memory_outbox_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM memory_outbox b USING memory_outbox_old o
   WHERE b.user_id IS NOT NULL AND b.memory_id = o.memory_id;
  DELETE FROM memory_webhook_queue b USING memory_outbox_old o
   WHERE b.user_id IS NOT NULL AND b.memory_id = o.memory_id;
  DELETE FROM memory_webhook_dead_letters b USING memory_outbox_old o
   WHERE b.user_id IS NOT NULL AND b.memory_id = o.memory_id;
  INSERT INTO memory_outbox (user_id, record_key, memory_id, payload)
  SELECT NULL, o.user_id, o.memory_id, jsonb_build_object(
    'schema', 'agent.memory.v1', 'op', 'DELETE', 'memory_id', o.memory_id,
    'user_id', o.user_id, 'session_id', o.session_id,
    'memory_type', o.memory_type, 'version', o.version + 1,
    'changed_at', memory_change_time(now()),
    'source', memory_change_source())
  FROM memory_outbox_old o ORDER BY o.seq;
  RETURN NULL;
END $$;

CREATE TRIGGER memories_outbox_insert AFTER INSERT ON memories
  REFERENCING NEW TABLE AS memory_outbox_new
  FOR EACH STATEMENT EXECUTE FUNCTION memory_outbox_written();
CREATE TRIGGER memories_outbox_update AFTER UPDATE ON memories
  REFERENCING OLD TABLE AS memory_outbox_old NEW TABLE AS memory_outbox_new
  FOR EACH STATEMENT EXECUTE FUNCTION memory_outbox_written();
CREATE TRIGGER memories_outbox_delete AFTER DELETE ON memories
  REFERENCING OLD TABLE AS memory_outbox_old
  FOR EACH STATEMENT EXECUTE FUNCTION memory_outbox_deleted();
