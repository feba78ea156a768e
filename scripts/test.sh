#!/usr/bin/env bash
# One command for the whole test suite: install, build, run unit, integration
# and fuzz tests with ctest. Exits non-zero when any test fails.
# Usage: scripts/test.sh [ctest args...]   e.g. scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
cd build
# -j4 on two cores: most integration tests wait on dockerd, nginx or a
# deadline, not the CPU (190 s at -j2, ~130 s at -j4; docs/BENCHMARKS.md).
ctest --output-on-failure --no-tests=error --timeout 600 -j4 "$@"
