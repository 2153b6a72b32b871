#!/usr/bin/env bash
# Checks the deployment files without a cluster (ctest `deploy_files`):
#   - deploy/kubernetes/*.yaml against the Kubernetes JSON schemas bundled
#     in the PyPI package kubernetes-validate (offline; installed into a
#     cached venv by scripts/install-kubernetes-validate.sh);
#   - deploy/systemd/agentmem.service with `systemd-analyze verify` (the
#     ExecStart binary pointed at the build's agentmem);
#   - deploy/compose.yaml with `docker compose config` where docker has
#     the compose plugin (skipped with a note otherwise).
# Usage: scripts/check-deploy.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build}"
validate="$(scripts/install-kubernetes-validate.sh | tail -n 1)"
failed=0
echo "== kubernetes-validate (schemas of Kubernetes 1.30, offline)"
if "$validate" --strict --kubernetes-version 1.30.0 \
     deploy/kubernetes/*.yaml; then :; else failed=1; fi

echo "== systemd-analyze verify deploy/systemd/agentmem.service"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
agentmem="$(realpath "$build_dir/pipeline/agentmem")"
sed "s|/usr/bin/agentmem|$agentmem|g" deploy/systemd/agentmem.service \
  > "$tmp/agentmem.service"
if out="$(systemd-analyze verify "$tmp/agentmem.service" 2>&1)" \
   && [ -z "$out" ]; then
  echo "ok"
else
  echo "$out"
  failed=1
fi

echo "== docker compose config deploy/compose.yaml"
if docker compose version >/dev/null 2>&1; then
  if AGENTMEM_CLUSTER_SECRET=x AGENTMEM_TOKENS=x \
     docker compose -f deploy/compose.yaml config --quiet; then
    echo "ok"
  else
    failed=1
  fi
else
  echo "skipped: no docker compose plugin on this machine"
fi
if [ "$failed" -ne 0 ]; then
  echo "1 failed"
  exit 1
fi
echo "deploy files: 0 failed"
