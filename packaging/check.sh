#!/bin/sh
# Checks the packaging without a running systemd: `systemd-analyze verify` on
# each unit (ExecStart pointed at /bin/true, since berth may not be installed
# yet; any warning fails), then sysusers and tmpfiles applied to a scratch root.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/units" "$scratch/root/etc"
for unit in "$here"/systemd/*.service; do
  sed 's#^ExecStart=/usr/bin/berth#ExecStart=/bin/true#' "$unit" > "$scratch/units/$(basename "$unit")"
done
out=$(cd "$scratch/units" && systemd-analyze verify --man=no ./*.service 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then echo "$out"; exit 1; fi
for f in passwd group shadow gshadow; do [ -f /etc/$f ] && cp /etc/$f "$scratch/root/etc/"; done
systemd-sysusers --root="$scratch/root" "$here/sysusers.d/berth.conf"
grep -q '^berth:' "$scratch/root/etc/passwd"
grep -q '^docker:.*berth' "$scratch/root/etc/group"
systemd-tmpfiles --root="$scratch/root" --create "$here/tmpfiles.d/berth.conf"
[ "$(stat -c %a "$scratch/root/run/berth")" = 750 ]
echo "packaging: units verify, sysusers and tmpfiles apply"
