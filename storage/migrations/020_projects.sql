-- 020_projects: projects and agent scope (docs/api.md, "Projects"; issue
-- 11 §2–§3). An event may name the project it belongs to (`project_id`,
-- contract v1); activities, sessions, uploads and memories carry it, and
-- memories also carry the agent that produced their source event, so that
-- search and listings can filter by project and by agent, and the derived
-- indexes (payloads of the vector and keyword index) can be rebuilt from
-- Postgres alone.
ALTER TABLE user_activities ADD COLUMN project_id text;
ALTER TABLE file_uploads ADD COLUMN project_id text;
-- The session's project: the latest non-null project_id of its events.
ALTER TABLE agent_sessions ADD COLUMN project_id text;
ALTER TABLE memories ADD COLUMN agent_type text;
ALTER TABLE memories ADD COLUMN agent_name text;
ALTER TABLE memories ADD COLUMN project_id text;

-- Events stored before contract v1 knew `project_id` kept it in `raw`
-- (unknown fields are preserved): take it from there when it is what the
-- contract now accepts (a string of 1-128 characters).
UPDATE user_activities SET project_id = raw->>'project_id'
 WHERE jsonb_typeof(raw->'project_id') = 'string'
   AND char_length(raw->>'project_id') BETWEEN 1 AND 128;
UPDATE file_uploads f SET project_id = a.project_id
  FROM user_activities a
 WHERE a.event_id = f.event_id AND a.project_id IS NOT NULL;
UPDATE agent_sessions s SET project_id = p.project_id
  FROM (SELECT DISTINCT ON (user_id, session_id) user_id, session_id,
               project_id
          FROM user_activities WHERE project_id IS NOT NULL
         ORDER BY user_id, session_id, ts DESC) p
 WHERE p.user_id = s.user_id AND p.session_id = s.session_id;
-- Memories written before this migration take their source event's agent
-- and project (session summaries, whose event is a session_end or a
-- message, take them from that event as well); memories whose event was
-- never stored keep NULL (no agent: an agent filter does not match them).
UPDATE memories m SET agent_type = a.agent_type, agent_name = a.agent_name,
       project_id = a.project_id
  FROM user_activities a
 WHERE a.event_id = m.event_id AND m.agent_type IS NULL;

-- Listing a user's projects and filtering by project read these.
CREATE INDEX memories_user_project_idx ON memories (user_id, project_id)
  WHERE project_id IS NOT NULL;
CREATE INDEX agent_sessions_user_project_idx
  ON agent_sessions (user_id, project_id) WHERE project_id IS NOT NULL;
CREATE INDEX file_uploads_user_project_idx
  ON file_uploads (user_id, project_id) WHERE project_id IS NOT NULL;
