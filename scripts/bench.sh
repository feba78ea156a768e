#!/usr/bin/env bash
# Builds berth and the fleet benchmark, installs the reference hub's npm
# packages (Node's ws), and runs bench/fleet_sim. Arguments go to fleet_sim,
# e.g. scripts/bench.sh --sessions 10000 --rt-agents 1000 --seconds 10
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
command -v node >/dev/null || { echo "node is needed for the reference hub: apt-get install nodejs npm" >&2; exit 1; }
(cd bench/reference-hub && npm ci --no-audit --no-fund --silent)
exec build/bench/fleet_sim "$@"
