#!/usr/bin/env bash
# End-to-end check of scripts/kafka-broker.sh against a real broker: install,
# start, 1,000 messages through a 4-partition topic and a kcat consumer
# group, stop, restart on the same dir (topic, data and committed group
# offsets kept), stop --clean. Needs kcat (Debian package `kcat`).
#   scripts/kafka/smoke-test.sh [DIR]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KB="$HERE/../kafka-broker.sh"
DIR="${1:-$(mktemp -d /tmp/agentmem-kafka-smoke.XXXXXX)}"
N=1000
TOPIC=smoke.t4
GROUP=smoke-group
passed=0 failed=0

check() { # check NAME EXPECTED ACTUAL
  if [[ "$2" == "$3" ]]; then
    echo "ok   $1"; passed=$((passed + 1))
  else
    echo "FAIL $1: expected '$2', got '$3'"; failed=$((failed + 1))
  fi
}
cleanup() { "$KB" stop --dir "$DIR" --clean >/dev/null 2>&1 || true; }
trap cleanup EXIT
now() { date +%s.%N; }
took() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }

t=$(now); "$KB" install; echo "install: $(took "$t") s"
t=$(now); B=$("$KB" start --dir "$DIR" --partitions 4); echo "start (fresh dir): $(took "$t") s"
check "bootstrap file" "$B" "$(cat "$DIR/bootstrap")"
"$KB" status --dir "$DIR" >/dev/null; check "status running" 0 $?

"$KB" create-topic "$TOPIC" --dir "$DIR" --partitions 4 >/dev/null
check "partitions" 4 "$(kcat -L -b "$B" -t "$TOPIC" | grep -c '^    partition ')"

seq 1 "$N" | sed 's/.*/key-&:msg-&/' | kcat -P -b "$B" -t "$TOPIC" -K:
# -G without -o: start from committed offsets, else earliest. (-o in -G mode
# overrides committed offsets on every assignment.)
consume() {
  timeout 60 kcat -b "$B" -G "$GROUP" -X auto.offset.reset=earliest -e -q \
    -f '%p %k %s\n' "$TOPIC"
}
out=$(consume)
check "consumed count" "$N" "$(grep -c . <<<"$out")"
check "consumed distinct" "$N" "$(sort -u <<<"$out" | grep -c .)"
check "all partitions used" 4 "$(cut -d' ' -f1 <<<"$out" | sort -u | grep -c .)"
check "group committed (nothing new)" 0 "$(consume | grep -c . || true)"

t=$(now); "$KB" stop --dir "$DIR"; echo "stop: $(took "$t") s"
"$KB" status --dir "$DIR" >/dev/null && rc=0 || rc=$?
check "status stopped" 3 "$rc"

t=$(now); B2=$("$KB" start --dir "$DIR"); echo "start (restart, same dir): $(took "$t") s"
check "same bootstrap after restart" "$B" "$B2"
check "data kept" "$N" "$(kcat -C -b "$B2" -t "$TOPIC" -o beginning -e -q | grep -c .)"
check "offsets kept" 0 "$(consume | grep -c . || true)"
seq 1 10 | kcat -P -b "$B2" -t "$TOPIC"
check "group resumes" 10 "$(consume | grep -c . || true)"

"$KB" stop --dir "$DIR" --clean
check "clean removed dir" no "$([[ -e "$DIR" ]] && echo yes || echo no)"
trap - EXIT
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
