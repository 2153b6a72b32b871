-- 041_skills: the skills registry and which agents may use which skill
-- (docs/api.md, "Skills"). A tool call counts as a use of the skill whose
-- name equals its tool name (analytics_rollups, kind 'tool').
CREATE TABLE skills (
  name         text PRIMARY KEY CHECK (name <> ''),
  description  text NOT NULL DEFAULT '',
  category     text NOT NULL DEFAULT '',
  version      text NOT NULL DEFAULT '1',
  spec         jsonb NOT NULL DEFAULT '{}',   -- e.g. the tool's JSON schema
  dependencies text[] NOT NULL DEFAULT '{}',  -- names of other skills
  active       boolean NOT NULL DEFAULT true,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent_skill_bindings (
  agent_name text NOT NULL CHECK (agent_name <> ''),
  skill      text NOT NULL REFERENCES skills (name) ON DELETE CASCADE,
  enabled    boolean NOT NULL DEFAULT true,
  priority   integer NOT NULL DEFAULT 0,      -- higher first
  config     jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agent_name, skill)
);
CREATE INDEX agent_skill_bindings_skill_idx ON agent_skill_bindings (skill);
