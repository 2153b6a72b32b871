-- 033_graph_counts_without_evidence (docs/performance.md, eleventh round):
-- entity mention counts and edge weights grow only by the mentions and
-- edges of events whose activity the batch's transaction inserted (as the
-- usage rollups do), so the per-(entity, event) and per-(edge, event)
-- evidence rows that made replays idempotent are no longer written or
-- read. They were the largest tables of the knowledge graph (≈ 1.5 and
-- 0.7 rows per event, each with a text primary key) and ≈ 40 % of its
-- write cost per batch.
-- A node of an earlier version cannot commit batches after this
-- migration (it would insert into these tables): stop every node before
-- starting the first one of this version.
DROP TABLE IF EXISTS entity_mentions;
DROP TABLE IF EXISTS relationship_evidence;
