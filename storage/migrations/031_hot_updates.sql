-- 031_hot_updates: rows that a steady stream updates in every batch become
-- HOT-updatable (docs/performance.md, "Updates that write no index
-- entries"). An UPDATE that changes no indexed column and finds room on the
-- row's page writes a heap-only tuple: no new entry in any of the table's
-- indexes. Measured at the end of a 20,000-event pipeline_bench run: 0 of
-- 1,694 entity updates, 6 of 443 relationship updates and 16 of 310 usage
-- updates were HOT before this migration.

-- entities: each batch's upsert changes mention_count, which was the third
-- column of the listing index, so no entity update could be HOT. The
-- listing ("top entities of a user [of a type]") sorts by mention_count,
-- last_seen and entity_id anyway; the index keeps the (user_id, type)
-- lookup and the sort runs over that user's entities of the type.
DROP INDEX entities_user_type_idx;
CREATE INDEX entities_user_type_idx ON entities (user_id, type);

-- Updated columns no index covers (weight/first/last seen; counters), but
-- full pages: 20 % free space per page lets the update stay on its page.
-- Takes effect for pages written from now on.
ALTER TABLE entities SET (fillfactor = 80);
ALTER TABLE entity_relationships SET (fillfactor = 80);
ALTER TABLE usage_analytics SET (fillfactor = 80);
