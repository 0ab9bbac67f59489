#!/usr/bin/env bash
# The README's status-page screenshots, from the demo: builds, runs a canary to 50 % on loopback,
# and renders / and /canary/backend in headless chromium (docs/status-overview.png, docs/status-canary.png).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent build
exec node dist/test/support/screenshot.js
