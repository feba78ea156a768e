#!/usr/bin/env bash
# One command for a newcomer: install, build, and run `berth dev` (server and
# one agent on this machine, SQLite under ./berth-data). Extra arguments go to
# `berth dev`, e.g. scripts/dev.sh --listen 127.0.0.1:8443
# It also makes sure dockerd runs and builds the sample image berth-sample/hello:1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
scripts/ensure-dockerd.sh
scripts/sample-image.sh
exec build/src/berth dev "$@"
