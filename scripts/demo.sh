#!/usr/bin/env bash
# The main job on a fresh machine: set up, then run the local demo (real Prometheus, real git,
# a simulated Istio + Argo CD mesh on loopback) and clean up afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/src/cli.js demo "$@"
