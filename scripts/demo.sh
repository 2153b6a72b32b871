#!/usr/bin/env bash
# The README's first command: installs, builds, starts `agentmem dev` (embedded
# Kafka-protocol broker + private PostgreSQL), runs the simulator against it,
# then prints a memory search result and a usage rollup. Leaves agentmem dev
# running in the foreground afterwards unless DEMO_EXIT=1 (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
data_dir=${DATA_DIR:-./data}
port=${HTTP_PORT:-8080}
rm -f "$data_dir/kafka.bootstrap" "$data_dir/dev-token"
build/pipeline/agentmem dev --data-dir "$data_dir" --http-port "$port" &
dev_pid=$!
trap 'kill -TERM $dev_pid 2>/dev/null; wait $dev_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  kill -0 $dev_pid 2>/dev/null || { echo "agentmem dev exited"; exit 1; }
  sleep 0.5
done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null
brokers=$(cat "$data_dir/kafka.bootstrap")
# Every /v1 call needs a bearer token; `agentmem dev` minted an admin one.
auth="Authorization: Bearer $(cat "$data_dir/dev-token")"
echo "--- simulating 10 s of agent activity into $brokers"
build/pipeline/agentmem simulate --brokers "$brokers" --users 5 --rate 200 \
  --duration 10
# Wait until the consumer has caught up (committed == consumed, non-zero).
metric() {
  curl -sf "http://127.0.0.1:$port/metrics" \
    | awk -v m="$1" '$1 == m {print $2}'
}
for _ in $(seq 1 60); do
  c=$(metric agentmem_events_consumed_total); k=$(metric agentmem_events_committed_total)
  [ -n "$c" ] && [ "$c" != 0 ] && [ "$c" = "$k" ] && break
  sleep 0.5
done
echo "--- events committed: $(metric agentmem_events_committed_total)"
echo "--- POST /v1/memories/search (user user-0001)"
curl -s -X POST "http://127.0.0.1:$port/v1/memories/search" \
  -H "$auth" -H 'Content-Type: application/json' \
  -d '{"user_id":"user-0001","query":"flight to Lisbon and hotel budget","top_k":3}' \
  | python3 -m json.tool
today=$(date -u +%F)
echo "--- GET /v1/users/user-0001/usage?from=$today&to=$today"
curl -s -H "$auth" \
  "http://127.0.0.1:$port/v1/users/user-0001/usage?from=$today&to=$today" \
  | python3 -m json.tool
echo "--- GET /v1/analytics/agents (today's agent performance, all users)"
curl -s -H "$auth" \
  "http://127.0.0.1:$port/v1/analytics/agents?from=${today}T00:00:00Z&to=$(date -u +%FT%TZ)" \
  | python3 -c 'import json, sys
# The first two agents only; `| head` would break the pipe under pipefail.
d = json.load(sys.stdin); d["agents"] = d["agents"][:2]
print(json.dumps(d, indent=4))'
echo "--- status page: http://127.0.0.1:$port/ui"
echo "    (live pipeline health; for today's analytics paste the admin token"
echo "    from $data_dir/dev-token into the page)"
if [ "${DEMO_EXIT:-0}" = 1 ]; then
  exit 0
fi
echo "--- agentmem dev keeps running on http://127.0.0.1:$port (Ctrl-C stops it)"
echo "    status page: http://127.0.0.1:$port/ui"
echo "    token: $data_dir/dev-token (send it as 'Authorization: Bearer <token>')"
trap - EXIT
wait $dev_pid
