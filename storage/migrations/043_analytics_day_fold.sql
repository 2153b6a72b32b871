-- 043_analytics_day_fold: day rows of analytics_rollups hold the sum of
-- their day's closed hours (docs/operations.md, "Analytics").
--
-- Until now every batch upserted each event into its hour row and its day
-- row: two rows per event and group, and in a steady stream nearly every
-- one an update of a hot window (docs/performance.md, "Analytics rollups in
-- the aggregation stage"). From here on a batch upserts the hour rows only;
-- when an hour closes (the watermark passed it), the statement that closes
-- it adds its sums into its day row, and a late event of a closed hour is
-- added to the hour and to its day. So at every commit:
--   day row = sum of its day's closed hour rows,
--   the day = day row + its open hour rows,
-- which the view analytics_windows gives: every row of the table, plus
-- each open hour again as a row of its day. Readers of day windows
-- aggregate (sum, analytics_sketch_merge, max) over the view's rows of the
-- window; hour rows read the same through the view or the table.

CREATE VIEW analytics_windows AS
  SELECT grain, bucket_start, kind, user_id, agent_type, agent_name,
         tool_name, tool_category, model, events, errors, processing_time_ms,
         latency_sketch, tokens, files, sessions_started, sessions_ended,
         cost_usd, priced_events, unpriced_events, last_event_at, closed,
         revision, updated_at
  FROM analytics_rollups
  UNION ALL
  SELECT 'day', date_trunc('day', bucket_start, 'UTC'), kind, user_id,
         agent_type, agent_name, tool_name, tool_category, model, events,
         errors, processing_time_ms, latency_sketch, tokens, files,
         sessions_started, sessions_ended, cost_usd, priced_events,
         unpriced_events, last_event_at, false, revision, updated_at
  FROM analytics_rollups
  WHERE grain = 'hour' AND NOT closed;

-- Existing day rows counted their open hours too: take those out, so that
-- the view counts each event once. (last_event_at stays: the view's max
-- over the day row and the open hours is the same.)
WITH o AS (
  SELECT date_trunc('day', bucket_start, 'UTC') AS day, kind, user_id,
         agent_type, agent_name, tool_name, tool_category, model,
         sum(events) AS events, sum(errors) AS errors,
         sum(processing_time_ms) AS processing_time_ms,
         analytics_sketch_merge(latency_sketch) AS sketch,
         sum(tokens) AS tokens, sum(files) AS files,
         sum(sessions_started) AS sessions_started,
         sum(sessions_ended) AS sessions_ended, sum(cost_usd) AS cost_usd,
         sum(priced_events) AS priced_events,
         sum(unpriced_events) AS unpriced_events
  FROM analytics_rollups
  WHERE grain = 'hour' AND NOT closed
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8)
UPDATE analytics_rollups r SET
  events = r.events - o.events,
  errors = r.errors - o.errors,
  processing_time_ms = r.processing_time_ms - o.processing_time_ms,
  latency_sketch = coalesce(
    (SELECT jsonb_object_agg(key, n)
     FROM (SELECT key, value::bigint - coalesce((o.sketch ->> key)::bigint, 0)
                   AS n
           FROM jsonb_each_text(r.latency_sketch)) b
     WHERE n <> 0), '{}'),
  tokens = r.tokens - o.tokens,
  files = r.files - o.files,
  sessions_started = r.sessions_started - o.sessions_started,
  sessions_ended = r.sessions_ended - o.sessions_ended,
  cost_usd = r.cost_usd - o.cost_usd,
  priced_events = r.priced_events - o.priced_events,
  unpriced_events = r.unpriced_events - o.unpriced_events,
  updated_at = now()
FROM o
WHERE r.grain = 'day' AND r.bucket_start = o.day AND r.kind = o.kind
  AND r.user_id = o.user_id AND r.agent_type = o.agent_type
  AND r.agent_name = o.agent_name AND r.tool_name = o.tool_name
  AND r.tool_category = o.tool_category AND r.model = o.model;

-- Days whose every hour is still open: their closes will create them.
DELETE FROM analytics_rollups WHERE grain = 'day' AND events = 0;
