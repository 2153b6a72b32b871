-- The embedding space of each vector collection: written at first start by
-- storage/collections.cpp (check_collection) and compared at every start,
-- so a node configured with another model or dims refuses to start instead
-- of mixing incomparable vectors.
CREATE TABLE IF NOT EXISTS collections (
  name            text PRIMARY KEY,
  embedding_model text NOT NULL,
  dims            integer NOT NULL CHECK (dims > 0),
  created_at      timestamptz NOT NULL DEFAULT now()
);
