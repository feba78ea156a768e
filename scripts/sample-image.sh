#!/usr/bin/env bash
# Builds the sample app image berth-sample/hello:1 (busybox httpd serving one
# page on port 8080) from the machine's busybox-static: nothing is pulled.
# Idempotent: an existing image is left alone.
set -euo pipefail
IMAGE=berth-sample/hello:1
docker image inspect "$IMAGE" >/dev/null 2>&1 && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/www" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
echo "hello from berth" >"$work/rootfs/www/index.html"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
docker import --change 'CMD ["/bin/busybox","httpd","-f","-v","-p","8080","-h","/www"]' \
  --change 'EXPOSE 8080' "$work/rootfs.tar" "$IMAGE" >/dev/null
echo "built $IMAGE"
