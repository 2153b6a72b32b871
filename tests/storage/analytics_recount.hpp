#pragma once

// The exactness check of the event-time rollups, shared by the storage
// tests and the fault tests: a recount of user_activities against
// analytics_windows.

#include <string>

namespace agentmem::test {

/// SQL: the number of windows of analytics_windows (any grain and kind; a
/// day window is its day row of closed hours plus its open hours, migration
/// 043) whose events, errors, tokens, processing time or sketch count
/// differ from a recount of user_activities (0 when the rollups are exact).
inline std::string analytics_recount_diff_sql() {
  return "WITH a AS (SELECT ts, user_id, agent_type, coalesce(agent_name, '')"
         " AS agent_name, coalesce(tool_name, '') AS tool_name,"
         " coalesce(tool_category, '') AS tool_category, coalesce(model, '')"
         " AS model, success, tokens_used, processing_time_ms FROM"
         " user_activities), k AS (SELECT g.grain, date_trunc(g.grain, a.ts"
         " AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS b, x.kind, a.user_id,"
         " a.agent_type, a.agent_name, CASE x.kind WHEN 'tool' THEN"
         " a.tool_name ELSE '' END AS tool_name, CASE x.kind WHEN 'tool' THEN"
         " a.tool_category ELSE '' END AS tool_category, CASE x.kind WHEN"
         " 'model' THEN a.model ELSE '' END AS model, a.success,"
         " a.tokens_used, a.processing_time_ms FROM a CROSS JOIN (VALUES"
         " ('hour'), ('day')) g(grain) JOIN (VALUES ('agent'), ('tool'),"
         " ('model')) x(kind) ON x.kind = 'agent' OR (x.kind = 'tool' AND"
         " a.tool_name <> '') OR (x.kind = 'model' AND a.model <> '')),"
         " c AS (SELECT grain, b, kind, user_id, agent_type, agent_name,"
         " tool_name, tool_category, model, count(*) AS n, count(*) FILTER"
         " (WHERE NOT success) AS e, sum(tokens_used) AS t,"
         " sum(processing_time_ms) AS p FROM k GROUP BY 1, 2, 3, 4, 5, 6, 7,"
         " 8, 9), r AS (SELECT grain, bucket_start AS b, kind, user_id,"
         " agent_type, agent_name, tool_name, tool_category, model,"
         " sum(events) AS events, sum(errors) AS errors, sum(tokens) AS"
         " tokens, sum(processing_time_ms) AS processing_time_ms,"
         " sum((SELECT sum(value::bigint) FROM"
         " jsonb_each_text(latency_sketch))) AS sk FROM analytics_windows"
         " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9) SELECT count(*) FROM c FULL JOIN r USING"
         " (grain, b, kind, user_id, agent_type, agent_name, tool_name,"
         " tool_category, model) WHERE c.n IS DISTINCT FROM r.events OR c.e"
         " IS DISTINCT FROM r.errors OR c.t IS DISTINCT FROM r.tokens OR c.p"
         " IS DISTINCT FROM r.processing_time_ms OR c.n IS DISTINCT FROM"
         " r.sk";
}

} // namespace agentmem::test
