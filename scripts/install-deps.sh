#!/usr/bin/env bash
# Installs every build, run and test dependency of agentmem from Debian
# packages. Idempotent; needs root (or sudo). Used by README and .ci/run.
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build pkg-config git
  libcaf-dev librdkafka-dev libpqxx-dev librocksdb-dev libhnswlib-dev
  libboost-test-dev libcpp-httplib-dev nlohmann-json3-dev libsimdjson-dev
  libspdlog-dev libcli11-dev libtomlplusplus-dev libxxhash-dev libstemmer-dev
  libjemalloc-dev
  libssl-dev postgresql prometheus kcat curl procps
  python3 python3-venv python3-yaml unzip
)
# Java + Maven run the real Apache Kafka broker of the tests
# (scripts/kafka-broker.sh); machines that already have them keep theirs.
command -v java >/dev/null 2>&1 || pkgs+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || pkgs+=(maven)
# npm fetches the status page's charting library (uPlot) at build time
# (ui/CMakeLists.txt); machines with their own Node.js keep it.
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
