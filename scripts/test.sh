#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, then runs every
# ctest — unit, Postgres, Kafka (mock cluster), end-to-end (mock broker),
# fault tests (real Apache Kafka broker) — and the end-to-end tests once
# more against the real broker. Tests start their own PostgreSQL, Kafka and
# Prometheus processes; nothing needs to be running.
# Arguments go to ctest instead (e.g. `scripts/test.sh -L unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/kafka-broker.sh install
scripts/build.sh
# The real embedding model server of tests/embedding (a venv in a cache dir).
AGENTMEM_EMBEDDING_PYTHON="$(scripts/install-embedding-server.sh | tail -n 1)"
export AGENTMEM_EMBEDDING_PYTHON
if [ $# -gt 0 ]; then
  exec ctest --test-dir build --output-on-failure --timeout 1200 "$@"
fi
ctest --test-dir build --output-on-failure --timeout 1200
echo "=== end-to-end tests against a real Apache Kafka broker"
AGENTMEM_IT_BROKER=real ctest --test-dir build --output-on-failure \
  --timeout 1200 -L integration
