#!/usr/bin/env bash
# Makes sure a Docker daemon answers on /var/run/docker.sock. Machines with
# systemd already run one; elsewhere (containers, CI) this starts dockerd in
# the background, with the vfs storage driver when overlay is not available.
set -euo pipefail
SOCK=/var/run/docker.sock
answers() { curl -s --max-time 2 --unix-socket "$SOCK" http://docker/_ping 2>/dev/null | grep -q OK; }
answers && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
for driver in "" vfs; do
  args=()
  [ -n "$driver" ] && args=(--storage-driver "$driver")
  $SUDO sh -c "dockerd ${args[*]} >/var/log/berth-dockerd.log 2>&1 &"
  for _ in $(seq 1 30); do
    answers && { echo "dockerd started${driver:+ ($driver storage)}"; exit 0; }
    pgrep -x dockerd >/dev/null || break
    sleep 1
  done
  $SUDO pkill -x dockerd 2>/dev/null || true
  sleep 2
done
echo "dockerd did not start; see /var/log/berth-dockerd.log" >&2
exit 1
