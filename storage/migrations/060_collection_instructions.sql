-- 060_collection_instructions: the query/passage instructions of the
-- embedding provider (prefixes and input types, domain::embedder::
-- instructions()), recorded with the collection's model and dims at first
-- start and compared at every start (storage/collections.cpp): vectors of
-- texts embedded under other instructions are not comparable, so a restart
-- or a rebuild must not mix them. '' = none (every collection before this).
ALTER TABLE collections ADD COLUMN IF NOT EXISTS instructions text NOT NULL DEFAULT '';
