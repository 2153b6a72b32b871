-- 040_analytics: event-time rollups, late data and the analytics topic's
-- outbox (docs/operations.md, "Analytics"; docs/events.md,
-- "agent.analytics.v1").

-- One row per event-time window (UTC hour or day) and group. `kind` says
-- which group: 'agent' = (user_id, agent_type, agent_name), 'tool' = the
-- agent plus (tool_name, tool_category), 'model' = the agent plus model;
-- columns outside the kind's group are ''. One table, so that a batch
-- writes all its windows with one statement. Counters are exact under
-- redelivery: they only ever grow by the deltas of newly inserted
-- activities, in the transaction that inserts them.
CREATE TABLE analytics_rollups (
  grain              text NOT NULL CHECK (grain IN ('hour', 'day')),
  bucket_start       timestamptz NOT NULL,
  kind               text NOT NULL CHECK (kind IN ('agent', 'tool', 'model')),
  user_id            text NOT NULL,
  agent_type         text NOT NULL,
  agent_name         text NOT NULL DEFAULT '',
  tool_name          text NOT NULL DEFAULT '',
  tool_category      text NOT NULL DEFAULT '',
  model              text NOT NULL DEFAULT '',
  events             bigint NOT NULL DEFAULT 0,
  errors             bigint NOT NULL DEFAULT 0,   -- success = false
  processing_time_ms bigint NOT NULL DEFAULT 0,   -- sum
  -- DDSketch (Masson, Rim, Lee, VLDB 2019) of processing_time_ms:
  -- {"k": count} with bucket k = ceil(log_gamma(ms)), gamma = 1.01/0.99
  -- (1 % relative error), "-1" = 0 ms; merge with analytics_sketch_merge,
  -- read with analytics_sketch_quantile.
  latency_sketch     jsonb NOT NULL DEFAULT '{}',
  tokens             bigint NOT NULL DEFAULT 0,
  files              bigint NOT NULL DEFAULT 0,   -- file_upload events
  sessions_started   bigint NOT NULL DEFAULT 0,   -- session_start events
  sessions_ended     bigint NOT NULL DEFAULT 0,   -- session_end events
  cost_usd           numeric(24, 9) NOT NULL DEFAULT 0, -- priced events
  priced_events      bigint NOT NULL DEFAULT 0,
  unpriced_events    bigint NOT NULL DEFAULT 0,   -- model/tokens, no price
  last_event_at      timestamptz,                 -- greatest event time
  -- Hourly windows only: true once the watermark passed the window's end
  -- and its final record went to the outbox; revision counts the
  -- corrections emitted after that (late events beyond the grace).
  closed             boolean NOT NULL DEFAULT false,
  revision           integer NOT NULL DEFAULT 0,
  updated_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (grain, bucket_start, kind, user_id, agent_type, agent_name,
               tool_name, tool_category, model)
);
CREATE INDEX analytics_rollups_open_idx ON analytics_rollups (bucket_start)
  WHERE grain = 'hour' AND NOT closed;
CREATE INDEX analytics_rollups_user_idx
  ON analytics_rollups (user_id, grain, bucket_start);

-- Stream time per consumed partition: the greatest event time seen
-- (Kafka Streams' "stream time"); watermark = stream time - grace.
CREATE TABLE analytics_stream_time (
  consumer_group text NOT NULL,
  topic          text NOT NULL,
  partition      integer NOT NULL,
  max_event_at   timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now(),  -- last batch seen
  PRIMARY KEY (consumer_group, topic, partition)
);

-- Transactional outbox of the topic agent.analytics.v1: written in the
-- batch transaction that closes or corrects a window, published and then
-- deleted by the analytics publisher (at least once; records carry a
-- revision for deduplication). user_id: user deletion drops pending
-- records too.
CREATE TABLE analytics_outbox (
  id         bigserial PRIMARY KEY,
  user_id    text NOT NULL,
  record_key text NOT NULL,
  payload    jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Sum of two sketches (bucket-wise).
CREATE FUNCTION analytics_sketch_add(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(jsonb_object_agg(k, n), '{}'::jsonb)
  FROM (SELECT k, sum(v::bigint) AS n
        FROM (SELECT key AS k, value AS v FROM jsonb_each_text(a)
              UNION ALL
              SELECT key, value FROM jsonb_each_text(b)) x
        GROUP BY k) y
$$;

-- Merges the sketches of a group of rows (hours into days, any range).
CREATE AGGREGATE analytics_sketch_merge(jsonb) (
  SFUNC = analytics_sketch_add, STYPE = jsonb, INITCOND = '{}'
);

-- The q-quantile of a sketch: the value of the bucket holding 0-based rank
-- floor(q (n - 1)), 2 gamma^k / (gamma + 1) = 0.99 * (1.01/0.99)^k ms,
-- within 1 % of the exact order statistic. NULL when empty.
CREATE FUNCTION analytics_sketch_quantile(s jsonb, q double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN k < 0 THEN 0
              ELSE 0.99 * power(1.01 / 0.99, k) END
  FROM (SELECT k, sum(n) OVER (ORDER BY k) AS cum, sum(n) OVER () AS total
        FROM (SELECT key::integer AS k, value::bigint AS n
              FROM jsonb_each_text(s)) b) c
  WHERE cum > floor(greatest(0, least(1, q)) * (total - 1))
  ORDER BY k LIMIT 1
$$;

-- Kafka key of a window's record: its group as a JSON array.
CREATE FUNCTION analytics_record_key(r analytics_rollups) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT (CASE r.kind
            WHEN 'tool' THEN jsonb_build_array(r.kind, r.user_id,
              r.agent_type, r.agent_name, r.tool_name, r.tool_category)
            WHEN 'model' THEN jsonb_build_array(r.kind, r.user_id,
              r.agent_type, r.agent_name, r.model)
            ELSE jsonb_build_array(r.kind, r.user_id, r.agent_type,
              r.agent_name) END)::text
$$;

-- The agent.analytics.v1 record of a closed hourly window (docs/events.md).
CREATE FUNCTION analytics_window_record(r analytics_rollups, status text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'schema', 'agent.analytics.v1',
    'kind', r.kind,
    'window_start', to_char(r.bucket_start AT TIME ZONE 'UTC',
                            'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'window_end', to_char((r.bucket_start + CASE r.grain WHEN 'hour'
                           THEN interval '1 hour' ELSE interval '1 day' END)
                          AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'grain', r.grain,
    'status', status,
    'revision', r.revision,
    'group', jsonb_strip_nulls(jsonb_build_object(
       'user_id', r.user_id, 'agent_type', r.agent_type,
       'agent_name', r.agent_name,
       'tool_name', CASE WHEN r.kind = 'tool' THEN r.tool_name END,
       'tool_category', CASE WHEN r.kind = 'tool' THEN r.tool_category END,
       'model', CASE WHEN r.kind = 'model' THEN r.model END)),
    'events', r.events,
    'errors', r.errors,
    'success_rate', CASE WHEN r.events > 0
                         THEN round((r.events - r.errors)::numeric
                                    / r.events, 6) END,
    'processing_time_ms', r.processing_time_ms,
    'latency_ms', jsonb_build_object(
       'p50', analytics_sketch_quantile(r.latency_sketch, 0.5),
       'p90', analytics_sketch_quantile(r.latency_sketch, 0.9),
       'p99', analytics_sketch_quantile(r.latency_sketch, 0.99)),
    'latency_sketch', jsonb_build_object('gamma', 1.01 / 0.99,
       'buckets', r.latency_sketch),
    'tokens', r.tokens,
    'files', r.files,
    'sessions_started', r.sessions_started,
    'sessions_ended', r.sessions_ended,
    'cost_usd', r.cost_usd,
    'priced_events', r.priced_events,
    'unpriced_events', r.unpriced_events,
    'last_event_at', to_char(r.last_event_at AT TIME ZONE 'UTC',
                             'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'emitted_at', to_char(now() AT TIME ZONE 'UTC',
                          'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
$$;
