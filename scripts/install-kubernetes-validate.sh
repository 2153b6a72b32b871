#!/usr/bin/env bash
# Installs the PyPI package kubernetes-validate (it bundles the Kubernetes
# JSON schemas, so validation runs offline) into a cached venv and prints
# the path of its executable. Idempotent; concurrent runs wait (flock).
set -euo pipefail
version=1.37.0
cache="${AGENTMEM_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agentmem-tools}"
venv="$cache/kubernetes-validate-$version"
mkdir -p "$cache"
(
  flock 9
  if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "kubernetes-validate==$version" >&2
  fi
) 9>"$cache/.kubernetes-validate.lock"
echo "$venv/bin/kubernetes-validate"
