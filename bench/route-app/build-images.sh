#!/usr/bin/env bash
# Builds berth-bench/node:1 and :2 for bench/routes_bench.sh from the machine's
# /usr/bin/node and the libraries ldd lists (nothing is pulled): the same
# server.js, answering "v1" or "v2". Idempotent: existing images are kept.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# Rebuilt when server.js changed (its digest is a label of the image).
server=$(sha256sum "$HERE/server.js" | cut -c1-16)
for v in 1 2; do
  image=berth-bench/node:$v
  [ "$(docker image inspect -f '{{index .Config.Labels "berth.bench.server"}}' "$image" 2>/dev/null)" = "$server" ] && continue
  work=$(mktemp -d)
  mkdir -p "$work/rootfs/app" "$work/rootfs/tmp"
  cp /usr/bin/node "$work/rootfs/node"
  ldd /usr/bin/node | grep -o '/[^ ]*' | while read -r lib; do
    mkdir -p "$work/rootfs$(dirname "$lib")"
    cp -L "$lib" "$work/rootfs$lib"
  done
  cp "$HERE/server.js" "$work/rootfs/app/server.js"
  echo "v$v" >"$work/rootfs/version"
  tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
  docker import --change 'CMD ["/node","/app/server.js"]' --change 'EXPOSE 8080' \
    --change "LABEL berth.bench.server=$server" "$work/rootfs.tar" "$image" >/dev/null
  rm -rf "$work"
  echo "built $image"
done
