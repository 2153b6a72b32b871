-- 001_initial: canonical tables of agentmem (docs/architecture.md).
-- Timestamps are timestamptz (the pipeline's ms since epoch, UTC); optional
-- strings of an event are NULL when absent.

-- Every accepted event, exactly once (event_id is the idempotency key).
CREATE TABLE user_activities (
  activity_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id           text NOT NULL UNIQUE,
  ts                 timestamptz NOT NULL,
  user_id            text NOT NULL,
  session_id         text NOT NULL,
  agent_type         text NOT NULL,
  agent_name         text,
  event_type         text NOT NULL,
  activity_class     text NOT NULL,
  role               text,
  content            text,
  input              jsonb,
  output             jsonb,
  tool_name          text,
  tool_category      text,
  model              text,
  tokens_used        bigint NOT NULL DEFAULT 0,
  processing_time_ms bigint NOT NULL DEFAULT 0,
  success            boolean NOT NULL DEFAULT true,
  error_message      text,
  importance         real,
  tags               text[] NOT NULL DEFAULT '{}',
  metadata           jsonb,
  raw                jsonb NOT NULL, -- the event as received, unknown fields kept
  source_topic       text,
  source_partition   integer,
  source_offset      bigint,
  ingested_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_activities_user_ts_idx ON user_activities (user_id, ts);

-- One row per session; folded from session deltas of new events only.
CREATE TABLE agent_sessions (
  user_id            text NOT NULL,
  session_id         text NOT NULL,
  agent_type         text NOT NULL,
  started_at         timestamptz NOT NULL,
  ended_at           timestamptz,
  total_interactions bigint NOT NULL DEFAULT 0,
  last_activity_at   timestamptz NOT NULL,
  PRIMARY KEY (user_id, session_id)
);

-- Files of `file_upload` events.
CREATE TABLE file_uploads (
  event_id    text PRIMARY KEY,
  activity_id bigint NOT NULL
              REFERENCES user_activities (activity_id) ON DELETE CASCADE,
  user_id     text NOT NULL,
  session_id  text NOT NULL,
  filename    text,
  mime_type   text,
  size_bytes  bigint,                  -- NULL when the event did not say
  text_chars  integer NOT NULL DEFAULT 0, -- characters of extracted text
  uploaded_at timestamptz NOT NULL
);

-- Memories with their vectors; `seq` is the watermark that derived state
-- (vector index, RocksDB) catches up from.
CREATE TABLE memories (
  memory_id       text PRIMARY KEY,
  seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  point_id        bigint NOT NULL UNIQUE,
  memory_type     text NOT NULL,
  user_id         text NOT NULL,
  session_id      text NOT NULL,
  event_id        text NOT NULL,
  ts              timestamptz NOT NULL,
  importance      real NOT NULL,
  chunk_index     integer NOT NULL,
  role            text,
  speaker         text,
  text            text NOT NULL,
  metadata        jsonb,
  embedding       bytea,          -- float32 little-endian, dims * 4 bytes
  embedding_model text,
  dims            integer NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX memories_user_ts_idx ON memories (user_id, ts);
CREATE INDEX memories_user_session_ts_idx ON memories (user_id, session_id, ts);

-- Vector-index points and where they came from.
CREATE TABLE memory_links (
  collection  text NOT NULL,
  point_id    bigint NOT NULL,
  memory_id   text NOT NULL,
  activity_id bigint,            -- NULL when the source event is unknown
  memory_type text NOT NULL,
  PRIMARY KEY (collection, point_id)
);

-- Daily rollups per (user, UTC day, agent type).
CREATE TABLE usage_analytics (
  user_id                  text NOT NULL,
  day                      date NOT NULL,
  agent_type               text NOT NULL,
  activity_count           bigint NOT NULL DEFAULT 0,
  error_count              bigint NOT NULL DEFAULT 0,
  total_processing_time_ms bigint NOT NULL DEFAULT 0,
  tokens_used              bigint NOT NULL DEFAULT 0,
  files_uploaded           bigint NOT NULL DEFAULT 0,
  updated_at               timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, day, agent_type)
);

-- Next offset to consume, committed atomically with the data it covers.
CREATE TABLE kafka_offsets (
  consumer_group text NOT NULL,
  topic          text NOT NULL,
  partition      integer NOT NULL,
  next_offset    bigint NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, topic, partition)
);
