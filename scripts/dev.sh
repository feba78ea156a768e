#!/usr/bin/env bash
# One command for a newcomer: install, build, and run `berth dev` (server and
# one agent on this machine, SQLite under ./berth-data). Extra arguments go to
# `berth dev`, e.g. scripts/dev.sh --listen 127.0.0.1:8443
# It installs only the packages `berth dev` needs and builds only the `berth`
# binary, Release, in build-release/ (no tests, fuzzers or benchmarks: those
# are scripts/test.sh's, in build/).
# It also makes sure dockerd runs and builds the sample image berth-sample/hello:1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev build-release
scripts/ensure-dockerd.sh
scripts/sample-image.sh
exec build-release/src/berth dev "$@"
