#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian 12 + Node.js 20 machine:
# the npm dependencies (from the lock file) and, when missing, Debian's prometheus (with promtool),
# victoria-metrics (a Prometheus-compatible backend) and chromium (the status-page test).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || missing+=(prometheus)
command -v victoria-metrics >/dev/null 2>&1 || [ -x /usr/bin/victoria-metrics ] || missing+=(victoria-metrics)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]} (about a minute)" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "setup: building" >&2
npm run --silent build

# `promoter` on the PATH: a global symlink to this checkout's dist/src/cli.js (npm link). Skipped
# when a promoter is already on the PATH or PROMOTER_NO_LINK=1; otherwise use `npx promoter`.
if [ -z "${PROMOTER_NO_LINK:-}" ] && ! command -v promoter >/dev/null 2>&1; then
  if npm link --no-audit --no-fund --loglevel=error >/dev/null 2>&1; then
    echo "setup: promoter is on the PATH ($(command -v promoter || echo "$(npm prefix -g)/bin/promoter"))" >&2
  else
    echo "setup: npm link failed (no write access to $(npm prefix -g)?); run the CLI as npx promoter" >&2
  fi
fi
