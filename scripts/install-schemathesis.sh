#!/usr/bin/env bash
# Installs Schemathesis (PyPI), the OpenAPI fuzzer of the `contract` ctest
# (tests/contract/), into a venv under the cache dir
# ${AGENTMEM_CACHE:-$HOME/.cache/agentmem}/schemathesis-venv. The versions
# are pinned in tests/contract/requirements.txt (every transitive package
# too, so a new release upstream cannot change a CI run). Idempotent: a
# complete install (stamp file equals the requirements) is kept.
# Prints the path of the `schemathesis` executable on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${AGENTMEM_CACHE:-$HOME/.cache/agentmem}"
venv="$cache/schemathesis-venv"
stamp="$venv/.agentmem-stamp"
want="$(cat tests/contract/requirements.txt)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "$venv/bin/schemathesis"
  exit 0
fi
mkdir -p "$cache"
rm -rf "$venv"
python3 -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --no-deps -r tests/contract/requirements.txt >&2
"$venv/bin/python" -m pip check >&2
"$venv/bin/schemathesis" --version >&2
printf '%s' "$want" > "$stamp"
echo "$venv/bin/schemathesis"
