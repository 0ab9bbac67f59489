#!/usr/bin/env bash
# The one test command: set up, then typecheck, lint, validate the GitOps tree and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== typecheck" && npm run --silent typecheck
echo "== lint" && npm run --silent lint
if [ -d gitops ] && [ -f dist/src/validate/index.js ]; then
  echo "== promoter validate gitops argocd" && node dist/src/cli.js validate gitops argocd
fi
echo "== tests" && npx vitest run "$@"
