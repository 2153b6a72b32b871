#!/usr/bin/env bash
# Installs what the status page's browser test (tests/ui) needs: Chromium
# from Debian and Playwright's driver library (npm playwright-core, pinned by
# tests/ui/package-lock.json; no browser download). Idempotent; npm's cache
# (~/.npm) and tests/ui/node_modules make reruns offline. Run by
# scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! [ -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  # scripts/test.sh runs scripts/install-deps.sh first, which refreshed the
  # package lists moments ago: refresh only when they are missing or more
  # than 6 hours old.
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -360 -print -quit 2>/dev/null)" ]; then
    $SUDO apt-get update -q
  fi
  $SUDO apt-get install -y -q --no-install-recommends chromium
fi
command -v npm >/dev/null 2>&1 || {
  echo "install-ui-test: npm missing (scripts/install-deps.sh installs it)" >&2
  exit 1
}
want=$(node -e 'console.log(require("./tests/ui/package-lock.json").packages["node_modules/playwright-core"].version)')
have=$(node -e 'try { console.log(require("./tests/ui/node_modules/playwright-core/package.json").version) } catch { console.log("none") }')
if [ "$want" != "$have" ]; then
  (cd tests/ui && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error)
fi
echo "install-ui-test: chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'), playwright-core $want"
