-- 050_partition_ownership: partition-owned index shards (docs/operations.md,
-- "Scaling out"). Kafka's consumer group decides which node consumes a
-- partition; a node keeps derived state (vector and keyword index, search
-- docs, conversation buffers) only for the partitions it owns, so the
-- partition each event arrived on is recorded here, never recomputed from
-- a hash (producers may use librdkafka's CRC32 or Java's murmur2).

-- The Kafka partition of the event a memory came from; NULL when unknown
-- (a memory written without a Kafka source), which belongs to partition 0.
ALTER TABLE memories ADD COLUMN source_partition integer;
UPDATE memories m SET source_partition = a.source_partition
  FROM user_activities a
 WHERE a.event_id = m.event_id AND m.source_partition IS NULL;
-- A shard catching up reads its partition's memories in seq order.
CREATE INDEX memories_partition_seq_idx
  ON memories (coalesce(source_partition, 0), seq);

-- Every partition a user's events arrived on (written in the batch's
-- transaction). Usually one; a user lists several after the topic's
-- partition count changed or with a producer using another partitioner.
CREATE TABLE user_partitions (
  user_id       text NOT NULL,
  partition     integer NOT NULL,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, partition)
);
CREATE INDEX user_partitions_partition_idx ON user_partitions (partition);
INSERT INTO user_partitions (user_id, partition)
SELECT DISTINCT user_id, coalesce(source_partition, 0) FROM memories
ON CONFLICT DO NOTHING;
INSERT INTO user_partitions (user_id, partition)
SELECT DISTINCT user_id, source_partition FROM user_activities
 WHERE source_partition IS NOT NULL
ON CONFLICT DO NOTHING;

-- A new owner rebuilds working memory from the activities ingested within
-- its TTL: a BRIN index keeps that scan to the newest blocks at almost no
-- cost per insert.
CREATE INDEX user_activities_ingested_brin
  ON user_activities USING brin (ingested_at);

-- The routing table. Nodes announce themselves and heartbeat; a node whose
-- heartbeat is older than the routers' liveness window is ignored.
CREATE TABLE cluster_nodes (
  node_id      text PRIMARY KEY,
  http_address text NOT NULL,        -- host:port other nodes forward to
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  shards       integer NOT NULL DEFAULT 0, -- shards held (any state)
  points       bigint NOT NULL DEFAULT 0   -- vector-index points held
);

-- Who owns each partition of a consumer group's topic, written from the
-- rebalance callback. `generation` grows with every change of owner and
-- fences late writes of an earlier owner. A new owner is `warming` until
-- its shard has caught up with Postgres; meanwhile `previous_node_id`
-- (the owner before it) keeps serving the shard read-only.
CREATE TABLE partition_owners (
  consumer_group   text NOT NULL,
  topic            text NOT NULL,
  partition        integer NOT NULL,
  node_id          text NOT NULL,
  generation       bigint NOT NULL DEFAULT 1,
  state            text NOT NULL CHECK (state IN ('warming', 'serving')),
  previous_node_id text,
  indexed_seq      bigint NOT NULL DEFAULT 0, -- the shard's watermark
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, topic, partition)
);
