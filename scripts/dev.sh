#!/usr/bin/env bash
# One command for a newcomer: install, build, and run `berth dev` (server and
# one agent on this machine, SQLite under ./berth-data). Extra arguments go to
# `berth dev`, e.g. scripts/dev.sh --listen 127.0.0.1:8443
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
exec build/src/berth dev "$@"
