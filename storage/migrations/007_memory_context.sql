-- 007_memory_context: retrieval context of a memory (docs/retrieval.md).
-- For conversation memories, the text of the turn just before it in the
-- same session; indexed beside `text` by the keyword index and embedded
-- with it, so that derived indexes rebuilt from Postgres match the live
-- ones. NULL when there is none.
ALTER TABLE memories ADD COLUMN context text;
