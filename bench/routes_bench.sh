#!/usr/bin/env bash
# Routes benchmark (issue 9). Needs a running dockerd (scripts/ensure-dockerd.sh),
# nginx, and a build with the berth and route_load targets. Builds its own app
# images (bench/route-app/build-images.sh: Node.js answering "v1" or "v2").
#
# Starts a `berth server` (base_domain apps.test) and a `berth agent` with its
# own nginx on free loopback ports, deploys app rbench (one replica, port 8080,
# HTTP health check) and runs bench/route_load against the proxy (Host
# rbench.apps.test, open loop at RATE requests/s over CONNECTIONS keep-alive
# connections, latency counted from when each request was due) through:
#   rest   REST_S seconds with nothing happening;
#   reload UPDATES bare nginx reloads (SIGHUP, same configuration) 3 s apart:
#          the control that separates nginx's reload from a container start;
#   zd     UPDATES zero-downtime updates, one after the other, alternating
#          berth-bench/node:2 and :1 (--drain DRAIN, --watch 0);
#   held   the same app redeployed with --publish (a host port on 127.0.0.1,
#          which berth updates stop-then-start, routed the same way), then
#          UPDATES updates alternating the same two images: requests meeting
#          the gap wait at the agent's hold server (`hold`, default 10 s);
#   naive  the same with --hold 0: the naive stop-then-start update, 503 while
#          nothing runs (the peer the zero-downtime figures compare against);
#   cert   CERTS custom domains added one after the other (`berth app domain
#          add`), each timed until an HTTPS request with that name, verified
#          against Pebble's root, is answered through the proxy: a real Pebble
#          on loopback issues them (http-01 through the agent's nginx).
# Every request is recorded; bench/routes_report.py prints, per phase, the
# achieved rate, failed requests (non-2xx, and no answer by kind), p50/p99/max,
# and per update the switch time: from the moment the new container answered
# its first request (the agent's health probe, logged by the app) to the first
# response from the new version through the proxy.
# Usage: bench/routes_bench.sh [updates=20] [rate=2000] [rest_s=30] [certs=5]
#        env CONNECTIONS=50 DRAIN=2s KEEP=1 (keep the work directory)
#        WARMUP=3000: requests each new container answers itself before it listens
#        (0: a cold V8 takes the traffic; see docs/BENCHMARKS.md)
#        PHASES="rest zd" (the default runs all: rest reload zd held naive cert)
#        AGENT_FLAGS="--startup-cpu-shares 0" (more agent settings, e.g. to compare)
#        GAP=0: seconds between two zero-downtime updates (0: back to back, the issue's reading)
set -euo pipefail
UPDATES=${1:-20}
RATE=${2:-2000}
REST_S=${3:-30}
CERTS=${4:-5}
CONNECTIONS=${CONNECTIONS:-50}
DRAIN=${DRAIN:-2s}
WARMUP=${WARMUP:-3000}
PHASES=${PHASES:-rest reload zd held naive cert}
GAP=${GAP:-0}
phase_on() { case " $PHASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BERTH=${BERTH:-$ROOT/build/src/berth}
LOAD=${LOAD:-$ROOT/build/bench/route_load}
APP=rbench
HOST=$APP.apps.test
WORK=$(mktemp -d /tmp/berth-routes-bench-XXXXXX)
cd "$WORK"
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
cleanup() {
  [ -n "${LOAD_PID:-}" ] && kill "$LOAD_PID" 2>/dev/null || true
  if [ -n "${AGENT_PID:-}" ]; then
    kill "$AGENT_PID" 2>/dev/null || true
    wait "$AGENT_PID" 2>/dev/null || true
  fi
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null || true
  # shellcheck disable=SC2086
  [ -n "${PEBBLE_PIDS:-}" ] && kill $PEBBLE_PIDS 2>/dev/null || true
  # The agent leaves its nginx running across restarts (apps keep serving): stop it here.
  local pid
  pid=$(cat "$WORK/agent/proxy/nginx/run/nginx.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null || true
  docker ps -aq --filter "label=berth.app=$APP" | xargs -r docker rm -f >/dev/null
  # The agent's kernel rules (docs/routes.md) outlive it, as they must in production: not here.
  local chain table
  chain=BERTH-$(printf %s "$WORK/agent/proxy/nginx" | sha256sum | cut -c1-10)
  for table in nat filter; do
    iptables -w -t "$table" -S OUTPUT 2>/dev/null | grep -- "-j $chain\$" | sed 's/^-A //' |
      while read -r rule; do read -ra words <<<"$rule"; iptables -w -t "$table" -D "${words[@]}"; done || true
    iptables -w -t "$table" -F "$chain" 2>/dev/null && iptables -w -t "$table" -X "$chain" 2>/dev/null || true
  done
  [ -n "${CHALLENGES:-}" ] && rm -rf "$CHALLENGES"
  if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

"$ROOT/bench/route-app/build-images.sh"
[ -x "$LOAD" ] || cmake --build "$ROOT/build" --target route_load >/dev/null
HTTP_PORT=$(free_port)
HTTPS_PORT=$(free_port)
PUBLISH_PORT=$(free_port)

# shellcheck source=bench/berth_local.sh
. "$ROOT/bench/berth_local.sh"
# shellcheck source=bench/pebble_local.sh
. "$ROOT/bench/pebble_local.sh"
start_pebble "$HTTP_PORT"
# nginx's workers (another user) read the challenge files: not under the private work directory.
CHALLENGES=$(mktemp -d /tmp/berth-bench-challenges-XXXXXX)
chmod 755 "$CHALLENGES"
start_server --base-domain apps.test
# rbench.apps.test is no name a public CA issues for: it stays on HTTP; the cert phase's names get HTTPS.
start_agent --proxy nginx --proxy-listen-address 127.0.0.1 --proxy-http-port "$HTTP_PORT" \
  --proxy-https-port "$HTTPS_PORT" --tls acme --acme-directory-url "$PEBBLE_DIR_URL" --acme-ca-file "$PEBBLE_API_CA" \
  --acme-challenge-dir "$CHALLENGES" ${AGENT_FLAGS:-}
for _ in $(seq 1 100); do "$BERTH" node ls 2>/dev/null | grep -q online && break; sleep 0.1; done

# deploy <phase> <n> <version> [flags…]: one `berth app deploy`, timed; then the new
# container's own log (its first answered request) while it still runs.
deploy() {
  local phase=$1 n=$2 version=$3
  shift 3
  local t0 t1 id number
  t0=$(now_ms)
  "$BERTH" app deploy "$APP" --image "berth-bench/node:$version" --port 8080 --health http:/ --health-retries 10 \
    --drain "$DRAIN" --watch 0 --env "WARMUP=$WARMUP" --env "BENCH_TAG=$phase$n" "$@" >deploy.out 2>&1 || { cat deploy.out; tail -20 agent.log; exit 1; }
  t1=$(now_ms)
  # The newest deployment's container: the one this deploy started.
  read -r number id < <(docker ps --filter "label=berth.app=$APP" --filter status=running \
    --format '{{.Label "berth.deployment"}} {{.ID}}' | sort -n | tail -1)
  local first
  first=$(docker logs "$id" 2>&1 | grep -m1 first_request_ms | tr -d ' ')
  echo "$phase $n v$version-$phase$n $number $t0 $t1 $(echo "$first" | grep -o '"first_request_ms":[0-9]*' | cut -d: -f2)" \
    "$(echo "$first" | grep -o '"ua":"[^"]*"' | cut -d'"' -f4)" >>updates.txt
}

deploy setup 0 1
curl -sf -H "Host: $HOST" "http://127.0.0.1:$HTTP_PORT/" | grep -q v1 || { echo "not served through the proxy"; tail agent.log; exit 1; }
"$LOAD" --port "$HTTP_PORT" --host "$HOST" --rate "$RATE" --connections "$CONNECTIONS" --out requests.csv &
LOAD_PID=$!
sleep 5  # connections open, caches warm
echo "rest $(now_ms)" >phases.txt
sleep "$REST_S"
echo "rest_end $(now_ms)" >>phases.txt

phase_on reload && echo "reload $(now_ms)" >>phases.txt
phase_on reload && for _ in $(seq 1 "$UPDATES"); do
  kill -HUP "$(cat "$WORK/agent/proxy/nginx/run/nginx.pid")"
  sleep 3
done
phase_on reload && echo "reload_end $(now_ms)" >>phases.txt

echo "zd $(now_ms)" >>phases.txt
for n in $(seq 1 "$UPDATES"); do
  deploy zd "$n" $(( n % 2 == 1 ? 2 : 1 ))
  [ "$n" -lt "$UPDATES" ] && sleep "$GAP"
done
sleep 3  # the last drain ends and its container stops
echo "zd_end $(now_ms)" >>phases.txt

if phase_on held || phase_on naive; then
# Same app, now with a host port: berth stops the old version before it starts the new one,
# first holding the requests that meet the gap, then (naive) answering them 503.
deploy setup 0 $(( UPDATES % 2 == 1 ? 2 : 1 )) --publish "$PUBLISH_PORT"
sleep 5
echo "held $(now_ms)" >>phases.txt
for n in $(seq 1 "$UPDATES"); do deploy held "$n" $(( (n + UPDATES) % 2 == 1 ? 2 : 1 )) --publish "$PUBLISH_PORT"; done
sleep 3
echo "held_end $(now_ms)" >>phases.txt
echo "naive $(now_ms)" >>phases.txt
for n in $(seq 1 "$UPDATES"); do deploy naive "$n" $(( n % 2 == 1 ? 2 : 1 )) --publish "$PUBLISH_PORT" --hold 0; done
sleep 3
echo "naive_end $(now_ms)" >>phases.txt
fi
kill -TERM "$LOAD_PID"
wait "$LOAD_PID"
LOAD_PID=

# Domain add -> served certificate, one domain at a time, with the load stopped.
: >certs.txt
phase_on cert || CERTS=0
for n in $(seq 1 "$CERTS"); do
  domain=c$n.example.com
  t0=$(now_ms)
  "$BERTH" app domain add "$APP" "$domain" >/dev/null
  ok=
  for _ in $(seq 1 1200); do
    if curl -sf --max-time 2 --cacert "$PEBBLE_ROOT" --resolve "$domain:$HTTPS_PORT:127.0.0.1" \
      "https://$domain:$HTTPS_PORT/" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.05
  done
  t1=$(now_ms)
  [ -n "$ok" ] || { echo "no certificate served for $domain"; tail -20 agent.log; exit 1; }
  echo "$domain $(( t1 - t0 ))" >>certs.txt
done

echo "routes benchmark: $UPDATES updates per phase, $RATE req/s over $CONNECTIONS connections, drain $DRAIN, watch 0, app warm-up $WARMUP requests"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), nginx $(nginx -v 2>&1 | cut -d/ -f2)"
python3 "$ROOT/bench/routes_report.py" requests.csv phases.txt updates.txt agent.log
echo
echo "domain add -> HTTPS answered with a certificate Pebble issued (ms; verified against Pebble's root):"
cat certs.txt
sort -n -k2 certs.txt | awk '{a[NR]=$2} END {printf "median %d ms, max %d ms over %d domains\n", a[int((NR+1)/2)], a[NR], NR}'
