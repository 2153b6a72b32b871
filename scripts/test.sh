#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, then runs every
# ctest — unit, Postgres, Kafka (mock cluster), end-to-end (mock broker),
# fault tests (real Apache Kafka broker), the OpenAPI contract fuzzed by
# Schemathesis — and the end-to-end tests once
# more against the real broker. Tests start their own PostgreSQL, Kafka and
# Prometheus processes; nothing needs to be running.
# Arguments go to ctest instead (e.g. `scripts/test.sh -L unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/kafka-broker.sh install
scripts/build.sh
# kubernetes-validate for the deploy-files check (a venv in a cache dir).
scripts/install-kubernetes-validate.sh >/dev/null
# The real embedding model server of tests/embedding (a venv in a cache dir).
AGENTMEM_EMBEDDING_PYTHON="$(scripts/install-embedding-server.sh | tail -n 1)"
export AGENTMEM_EMBEDDING_PYTHON
# Schemathesis for the OpenAPI contract test (tests/contract/; a venv too).
AGENTMEM_SCHEMATHESIS="$(scripts/install-schemathesis.sh | tail -n 1)"
export AGENTMEM_SCHEMATHESIS
# Chromium and Playwright for the status page test (tests/ui).
scripts/install-ui-test.sh
# Failed tests keep their whole output (ctest cuts it at 300 KB by default,
# and the fault tests print a lot); after a failed run the Boost.Test
# failure lines are repeated at the end, where a CI summary shows them.
CTEST=(ctest --test-dir build --output-on-failure --timeout 1200
       --test-output-size-failed 8000000)
failure_digest() {
  local log=build/Testing/Temporary/LastTest.log
  echo "=== failures (from $log)"
  grep -E 'error: in "|fatal error|critical error|Test timeout|\*\*\*Exception|signal: SIG|\*\*\* [0-9]+ failure' \
    "$log" | cut -c1-2000 | head -n 60 || true
}
run_ctest() {
  "${CTEST[@]}" "$@" || { rc=$?; failure_digest; exit "$rc"; }
}
if [ $# -gt 0 ]; then
  run_ctest "$@"
  exit 0
fi
# Two at a time where nothing measures time or CPU (every test starts its
# own servers on free ports); the fault tests (timed failover, SIGKILLs)
# and the benchmark smoke test (a CPU ratio) run alone.
run_ctest -j 2 -LE 'faults|bench'
run_ctest -L 'faults|bench'
echo "=== end-to-end tests against a real Apache Kafka broker"
AGENTMEM_IT_BROKER=real run_ctest -L integration
