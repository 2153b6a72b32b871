-- 003_knowledge: facts with validity time, and graph memory (entities and
-- relationships). Written by commit_batch in the batch's transaction
-- (storage/knowledge_sql.cpp); rules in docs/memory.md.

-- (subject, predicate, object) statements. valid_at is the source event's
-- time; invalid_at is set when a later statement of the same slot
-- (user_id, subject, slot_group, slot_object) closes it, and recomputed for
-- the touched slots on every commit, so out-of-order arrival and replays
-- converge to the same intervals. recorded_at is transaction time.
CREATE TABLE knowledge_facts (
  fact_id        text PRIMARY KEY,          -- xxh3-128 hex, deterministic
  user_id        text NOT NULL,
  subject        text NOT NULL,             -- 'user' or a name
  predicate      text NOT NULL,             -- lives_in, likes, ...
  object         text NOT NULL,
  object_key     text NOT NULL,             -- lower-cased object
  kind           text NOT NULL CHECK (kind IN ('fact', 'preference')),
  polarity       boolean NOT NULL,          -- false: negated / retracted
  slot_group     text NOT NULL,             -- predicate, or 'sentiment'
  slot_object    text NOT NULL,             -- '' when single-valued
  confidence     real NOT NULL,
  session_id     text NOT NULL,
  event_id       text NOT NULL,             -- source event
  activity_id    bigint,                    -- user_activities.activity_id
  ordinal        integer NOT NULL,          -- position within the event
  source_text    text NOT NULL,
  valid_at       timestamptz NOT NULL,
  invalid_at     timestamptz,               -- NULL: still valid
  invalidated_by text,                      -- fact_id that closed it
  recorded_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX knowledge_facts_slot_idx
  ON knowledge_facts (user_id, subject, slot_group, slot_object, valid_at);
CREATE INDEX knowledge_facts_user_valid_idx
  ON knowledge_facts (user_id, valid_at);

-- Entities of one user; id = xxh3-128 of "type\0normalised name".
CREATE TABLE entities (
  user_id       text NOT NULL,
  entity_id     text NOT NULL,
  name          text NOT NULL,
  type          text NOT NULL,
  first_seen    timestamptz NOT NULL,
  last_seen     timestamptz NOT NULL,
  mention_count bigint NOT NULL DEFAULT 0,  -- distinct events mentioning it
  PRIMARY KEY (user_id, entity_id)
);
CREATE INDEX entities_user_type_idx
  ON entities (user_id, type, mention_count DESC);

-- One row per (entity, event): replays insert nothing, so mention_count
-- only grows by mentions that are new.
CREATE TABLE entity_mentions (
  user_id   text NOT NULL,
  entity_id text NOT NULL,
  event_id  text NOT NULL,
  ts        timestamptz NOT NULL,
  PRIMARY KEY (user_id, entity_id, event_id)
);

-- Edges; weight = number of distinct events that evidence the edge.
-- co_occurs edges are undirected with src_id < dst_id.
CREATE TABLE entity_relationships (
  user_id        text NOT NULL,
  src_id         text NOT NULL,
  dst_id         text NOT NULL,
  relation       text NOT NULL,
  weight         bigint NOT NULL DEFAULT 0,
  first_seen     timestamptz NOT NULL,
  last_seen      timestamptz NOT NULL,
  first_event_id text NOT NULL,
  last_event_id  text NOT NULL,
  PRIMARY KEY (user_id, src_id, dst_id, relation)
);
CREATE INDEX entity_relationships_dst_idx
  ON entity_relationships (user_id, dst_id);

CREATE TABLE relationship_evidence (
  user_id  text NOT NULL,
  src_id   text NOT NULL,
  dst_id   text NOT NULL,
  relation text NOT NULL,
  event_id text NOT NULL,
  ts       timestamptz NOT NULL,
  PRIMARY KEY (user_id, src_id, dst_id, relation, event_id)
);
