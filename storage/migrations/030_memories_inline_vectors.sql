-- 030_memories_inline_vectors (docs/performance.md): keep memory rows,
-- whose 384-d float32 embedding alone is 1.5 KB, in the heap page
-- instead of TOASTing them. With the default target (~2 KB) most rows
-- were TOASTed: a pglz compression attempt on the embedding (random
-- floats do not compress) and an out-of-line copy in the TOAST table and
-- its index, on every insert and update, and a detoast on every read.
-- Rows up to ~8 KB now stay inline and uncompressed; longer ones are
-- TOASTed as before. Existing rows are not rewritten.
ALTER TABLE memories SET (toast_tuple_target = 8160);
