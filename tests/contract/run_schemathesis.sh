#!/usr/bin/env bash
# The `contract` ctest (tests/contract/CMakeLists.txt): starts `agentmem dev`
# on free ports in a fresh data dir, seeds it with a few seconds of simulated
# agent activity (users user-0001..user-0005, the users the examples of
# docs/openapi.yaml name), then runs Schemathesis against the served
# /openapi.json with the dev admin token: every operation; explicit
# examples, boundary/negative coverage cases and property-based fuzzing;
# checks not_a_server_error, response_schema_conformance and
# status_code_conformance. Any failure fails the test.
#
# usage: run_schemathesis.sh PATH/TO/agentmem
# env:   AGENTMEM_SCHEMATHESIS    the schemathesis executable (default: the
#                                 venv of scripts/install-schemathesis.sh)
#        CONTRACT_MAX_EXAMPLES    fuzzed cases per operation (default 20)
#        CONTRACT_SEED            Hypothesis seed (default fixed, so a CI
#                                 failure reproduces; set another to explore)
set -euo pipefail
agentmem=$1
st=${AGENTMEM_SCHEMATHESIS:-${AGENTMEM_CACHE:-$HOME/.cache/agentmem}/schemathesis-venv/bin/schemathesis}
if [ ! -x "$st" ]; then
  echo "$st not found: run scripts/install-schemathesis.sh (or set AGENTMEM_SCHEMATHESIS)" >&2
  exit 1
fi
t0=$(date +%s%N)
elapsed() { local ms=$((($(date +%s%N) - t0) / 1000000)); printf '%d.%01d s' $((ms / 1000)) $((ms % 1000 / 100)); }
work=$(mktemp -d "${TMPDIR:-/tmp}/agentmem-contract.XXXXXX")
data=$work/data
"$agentmem" dev --data-dir "$data" --http-port 0 --partitions 4 \
  >"$work/dev.log" 2>&1 &
dev_pid=$!
status=1
finish() {
  if kill -0 "$dev_pid" 2>/dev/null; then
    kill -TERM "$dev_pid"
    for _ in $(seq 1 100); do
      kill -0 "$dev_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$dev_pid" 2>/dev/null || true
  fi
  wait "$dev_pid" 2>/dev/null || true
  if [ "$status" != 0 ]; then
    echo "--- last lines of the agentmem dev log ($work/dev.log)"
    tail -n 40 "$work/dev.log" || true
  else
    rm -rf "$work"
  fi
}
trap finish EXIT

# The HTTP port `agentmem dev` picked, from its banner.
port=""
for _ in $(seq 1 240); do
  port=$(sed -n 's|^  http: *http://[^:]*:\([0-9]*\)$|\1|p' "$work/dev.log")
  [ -n "$port" ] && break
  kill -0 "$dev_pid" 2>/dev/null || { echo "agentmem dev exited" >&2; exit 1; }
  sleep 0.25
done
[ -n "$port" ] || { echo "agentmem dev did not come up" >&2; exit 1; }
base=http://127.0.0.1:$port
for _ in $(seq 1 240); do
  curl -sf "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.25
done
curl -sf "$base/readyz" >/dev/null
echo "=== agentmem dev ready on $base after $(elapsed)"

# Seed: memories, sessions, facts, entities, usage for user-0001..0005.
"$agentmem" simulate --brokers "$(cat "$data/kafka.bootstrap")" --users 5 \
  --rate 100 --duration 3
metric() { curl -sf "$base/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
for _ in $(seq 1 120); do
  c=$(metric agentmem_events_consumed_total)
  k=$(metric agentmem_events_committed_total)
  [ -n "$c" ] && [ "$c" != 0 ] && [ "$c" = "$k" ] && break
  sleep 0.25
done
echo "=== seeded: $(metric agentmem_events_committed_total) events committed after $(elapsed)"

# Real identifiers of user-0001 (the user of the document's examples) as
# Schemathesis dictionaries: half of the generated user_id, memory_id,
# session_id and entity_id values are drawn from them, so the operations on
# one memory, session or entity also answer 200 with real rows (random ids
# only ever reach the 400/404 paths). The rest stay fuzzed.
token=$(cat "$data/dev-token")
ids() { # ids PATH ARRAY FIELD [FROM [TO]]: TOML list of FIELD of items[FROM:TO]
  curl -sf -H "Authorization: Bearer $token" "$base$1" | python3 -c '
import json, sys
a = sys.argv[1:]
items = [i[a[1]] for i in json.load(sys.stdin)[a[0]]]
items = items[int(a[2]) if len(a) > 2 else 0:int(a[3]) if len(a) > 3 else None]
print(json.dumps(items or ["none"]))' "${@:2}"
}
u=/v1/users/user-0001
cat >"$work/schemathesis.toml" <<TOML
[dictionaries.user_ids]
values = ["user-0001"]
[dictionaries.deleted_user_ids]
values = ["user-0005"]
[dictionaries.memory_ids]
values = $(ids "$u/memories?limit=20" memories memory_id 0 15)
[dictionaries.deleted_memory_ids]
values = $(ids "$u/memories?limit=20" memories memory_id 15)
[dictionaries.session_ids]
values = $(ids "$u/sessions?limit=10" sessions session_id)
[dictionaries.entity_ids]
values = $(ids "$u/entities?limit=10" entities entity_id)
[parameters]
"query.user_id" = { dictionary = "user_ids", probability = 0.5 }
"path.user_id" = { dictionary = "user_ids", probability = 0.5 }
"path.memory_id" = { dictionary = "memory_ids", probability = 0.5 }
"path.session_id" = { dictionary = "session_ids", probability = 0.5 }
"path.entity_id" = { dictionary = "entity_ids", probability = 0.5 }
# Deletions erase real rows too, but not those the other operations read.
[[operations]]
include-operation-id = "deleteUser"
parameters = { "path.user_id" = { dictionary = "deleted_user_ids", probability = 0.5 } }
[[operations]]
include-operation-id = "deleteMemory"
parameters = { "path.memory_id" = { dictionary = "deleted_memory_ids", probability = 0.5 } }
TOML

"$st" --version
# --workers 1: with 2, CPython 3.11's ast module is not thread-safe and
# Hypothesis (describing a filter) crashes the run now and then.
set +e
# From the scratch dir: Schemathesis keeps a cache (.schemathesis/) in its
# working directory.
cd "$work"
"$st" --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "${CONTRACT_MAX_EXAMPLES:-20}" \
  --seed "${CONTRACT_SEED:-20261202}" \
  --workers 1 \
  --request-timeout 10 \
  --wait-for-schema 10 \
  --suppress-health-check too_slow,filter_too_much \
  --report junit,har --report-dir "$work/report"
status=$?
set -e
echo "=== schemathesis exit $status after $(elapsed) in total"
exit "$status"
