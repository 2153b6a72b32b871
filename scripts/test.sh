#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, runs every ctest
# (unit, Postgres, Kafka mock-cluster and end-to-end tests; they start their
# own PostgreSQL, broker and Prometheus processes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 1200 "$@"
