#!/usr/bin/env bash
# Installs what berth needs on Debian 12 and builds it. Idempotent: packages
# already present are skipped and the build is incremental.
# Usage: scripts/setup.sh [build-dir]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}

PACKAGES=(build-essential cmake ninja-build pkg-config git
  libboost-dev libboost-system-dev libssl-dev nlohmann-json3-dev libfmt-dev
  libcli11-dev libsqlite3-dev libsodium-dev libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev procps docker.io busybox-static
  iproute2 util-linux curl docker-registry apache2-utils openssl python3)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
