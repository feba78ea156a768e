#!/usr/bin/env bash
# Apps benchmark (issue: apps from container images). Needs a running dockerd
# (scripts/ensure-dockerd.sh) and the sample image (scripts/sample-image.sh).
#
# 1. Deploy-to-healthy: `berth app deploy` of an image already present, until
#    the CLI reports healthy, against the peer: a bare `docker run -d` of the
#    same image followed by an HTTP probe loop until the first 200. Both probe
#    every 50 ms. Median of N runs each, interleaved.
# 2. Idle agent memory (VmRSS) with 0 and with 20 apps running, after it has
#    been idle for IDLE_S seconds.
# Usage: bench/apps_bench.sh [runs=10] [apps=20] [idle_s=40]
set -euo pipefail
RUNS=${1:-10}
APPS=${2:-20}
IDLE_S=${3:-40}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BERTH=${BERTH:-$ROOT/build/src/berth}
IMAGE=berth-sample/hello:1
WORK=$(mktemp -d /tmp/berth-apps-bench-XXXXXX)
cd "$WORK"
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
cleanup() {
  [ -n "${AGENT_PID:-}" ] && kill "$AGENT_PID" 2>/dev/null || true
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null || true
  docker ps -aq --filter label=berth.managed=1 | xargs -r docker rm -f >/dev/null
  docker ps -aq --filter label=berth-bench=1 | xargs -r docker rm -f >/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
docker image inspect "$IMAGE" >/dev/null

# shellcheck source=bench/berth_local.sh
. "$ROOT/bench/berth_local.sh"
start_server
start_agent --proxy none
for _ in $(seq 1 100); do "$BERTH" node ls 2>/dev/null | grep -q online && break; sleep 0.1; done
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$AGENT_PID/status"; }

sleep "$IDLE_S"
IDLE0=$(rss_kib)

berth_times=() docker_times=()
for i in $(seq 1 "$RUNS"); do
  t0=$(now_ms)
  "$BERTH" app deploy bench --image "$IMAGE" --port 8080 --health http:/ --health-interval 50ms \
    --health-timeout 50ms >deploy.log 2>&1 || { cat deploy.log agent.log | tail -20; exit 1; }
  berth_times+=($(( $(now_ms) - t0 )))

  t0=$(now_ms)
  id=$(docker run -d --label berth-bench=1 "$IMAGE")
  ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$id")
  until curl -s -o /dev/null -m 1 "http://$ip:8080/"; do sleep 0.05; done
  docker_times+=($(( $(now_ms) - t0 )))
  docker rm -f "$id" >/dev/null
done
B=$(printf '%s\n' "${berth_times[@]}" | median)
D=$(printf '%s\n' "${docker_times[@]}" | median)
"$BERTH" app delete bench >/dev/null 2>&1

for i in $(seq 1 "$APPS"); do
  "$BERTH" app deploy "idle$i" --image "$IMAGE" --port 8080 --health tcp >/dev/null 2>&1
done
RUNNING=$(docker ps -q --filter label=berth.managed=1 | wc -l)
sleep "$IDLE_S"
IDLE20=$(rss_kib)

echo "deploy to healthy, image present (median of $RUNS)"
echo "  berth app deploy                     ${B} ms   (runs: ${berth_times[*]})"
echo "  peer: docker run -d + first 200 probe ${D} ms   (runs: ${docker_times[*]})"
awk -v b="$B" -v d="$D" 'BEGIN {printf "  ratio                                %.2fx   (target <= 1.3x)\n", b / d}'
echo "idle agent memory (VmRSS after ${IDLE_S}s idle)"
echo "  0 apps                               $((IDLE0 / 1024)).$(( (IDLE0 % 1024) * 10 / 1024 )) MiB"
echo "  $RUNNING apps running                      $((IDLE20 / 1024)).$(( (IDLE20 % 1024) * 10 / 1024 )) MiB"
