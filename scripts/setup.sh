#!/usr/bin/env bash
# Installs what berth needs on Debian 12 and builds it. Idempotent: packages
# already present are skipped and the build is incremental.
# Usage: scripts/setup.sh [--dev] [--packages-only] [build-dir]
#   (no flag)        every package (run, build, test), everything built in
#                    RelWithDebInfo in build-dir (default: build): tests,
#                    fuzzers, benchmarks. What scripts/test.sh uses.
#   --dev            only what `berth dev` needs to build and run, and only the
#                    `berth` binary, Release, in build-dir (default:
#                    build-release). What scripts/dev.sh uses.
#   --packages-only  install the packages and stop (to time them on their own).
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0
PACKAGES_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dev) DEV=1; shift ;;
    --packages-only) PACKAGES_ONLY=1; shift ;;
    *) break ;;
  esac
done

# What `berth dev` runs: dockerd, the sample image (busybox), the agent's
# host tools (tc and ip from iproute2, nsenter from util-linux), and what
# scripts/ensure-dockerd.sh calls (curl, pgrep from procps), and nginx: the agent's default
# reverse proxy (berth runs its own nginx master; Debian's nginx service, where systemd starts
# it, holds port 80, and `berth dev` then picks 8080/8443).
RUN_PACKAGES=(docker.io busybox-static iproute2 util-linux procps curl nginx)
# What building the `berth` binary needs.
BUILD_PACKAGES=(g++ cmake ninja-build pkg-config
  libboost-dev libboost-system-dev libssl-dev nlohmann-json3-dev libfmt-dev
  libcli11-dev libsqlite3-dev libsodium-dev libjemalloc-dev)
# What the tests, fuzzers and benchmarks add (scripts/test.sh, fuzz.sh, bench.sh).
TEST_PACKAGES=(build-essential git libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev docker-registry apache2-utils openssl python3
  caddy pebble  # the other reverse proxy and the ACME test server (issue 9); tests run their own instances
  openssh-client  # ssh-keygen and ssh-keyscan: the deploy-key and host-key tests of apps from git (issue 11)
  openssh-server fcgiwrap  # the git servers of the source-build tests (sshd with git-shell; git http-backend behind nginx)
  systemd)  # systemd-analyze, -sysusers, -tmpfiles for packaging/check.sh (nothing is started as init)

if [ "$DEV" = 1 ]; then
  PACKAGES=("${RUN_PACKAGES[@]}" "${BUILD_PACKAGES[@]}")
  # The recommended extras (git, needrestart, apparmor for docker.io; make for
  # cmake) are not needed to build or run berth; the full set keeps them.
  APT_FLAGS=(--no-install-recommends)
  BUILD_DIR=${1:-build-release}
else
  PACKAGES=("${RUN_PACKAGES[@]}" "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}")
  APT_FLAGS=()
  BUILD_DIR=${1:-build}
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${APT_FLAGS[@]}" "${missing[@]}"
fi
[ "$PACKAGES_ONLY" = 1 ] && exit 0

if [ "$DEV" = 1 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBERTH_BUILD_TESTS=OFF -DBERTH_BUILD_FUZZ=OFF -DBERTH_BUILD_BENCH=OFF >/dev/null
  cmake --build "$BUILD_DIR" --target berth -j"$(nproc)"
else
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD_DIR" -j"$(nproc)"
fi
