#!/usr/bin/env bash
# Deploy-from-source benchmark (issue 11). A small Node repository (no
# dependencies) served by a local git server (nginx + fcgiwrap running git
# http-backend over TLS with basic auth, as the tests use), deployed:
#  - by berth: `berth app deploy NAME --git URL` (the node's plan, no Dockerfile),
#    timed from the command until the app answers the new version over HTTP:
#    cold (first deploy of a fresh repository), warm (after a one-line change,
#    pushed) and unchanged (the same commit again: the built image is reused);
#  - by a plain script in the same run: `git clone && docker build && docker run`
#    of the same repository (the Dockerfile berth's plan renders) and a probe
#    loop until the new version answers 200, cold and warm.
# Both sides use the machine's dockerd (scripts/ensure-dockerd.sh) and the
# classic builder, from two copies of one base image (node from this machine,
# imported: nothing is pulled) so neither reuses the other's layer cache; each
# run uses a fresh repository so "cold" has no cached layers. Probes every 50 ms.
# Prints the medians, the ratios and the targets, and where berth's time went
# (the deployment's events). Usage: [BERTH=path/to/berth] bench/source_bench.sh [runs=3]
set -euo pipefail
RUNS=${1:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BERTH=${BERTH:-$ROOT/build/src/berth}
WORK=$(mktemp -d /tmp/berth-source-bench-XXXXXX)
cd "$WORK"
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
cleanup() {
  [ -n "${AGENT_PID:-}" ] && kill "$AGENT_PID" 2>/dev/null || true
  [ -n "${SERVER_PID:-}" ] && kill "$SERVER_PID" 2>/dev/null || true
  [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null || true
  [ -n "${FCGI_PID:-}" ] && { kill "$FCGI_PID"; pkill -f "fcgiwrap -c 4 -s unix:$WORK/" ; } 2>/dev/null || true  # its prefork children too
  docker ps -aq --filter label=berth.managed=1 | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker ps -aq --filter label=berth-bench=1 | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker images -q --filter label=berth-bench-app=1 | sort -u | xargs -r docker rmi -f >/dev/null 2>&1 || true
  docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^(bench[0-9]+|plain[0-9]+):' |
    xargs -r docker rmi -f >/dev/null 2>&1 || true
  docker rmi berth-bench/node:20 plain-bench/node:20 >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
"$ROOT/scripts/ensure-dockerd.sh" >/dev/null

# The node base image, twice (berth's and the plain script's), from this machine's node and its libraries.
mkdir -p rootfs/usr/local/bin rootfs/tmp
cp /usr/bin/node rootfs/usr/local/bin/node
for lib in $(ldd /usr/bin/node | grep -o '/[^ ]*'); do
  mkdir -p "rootfs$(dirname "$lib")" && cp -L "$lib" "rootfs$lib"
done
tar -C rootfs -cf node.tar .
docker import --change 'LABEL berth-bench.side=berth' node.tar berth-bench/node:20 >/dev/null
docker import --change 'LABEL berth-bench.side=plain' node.tar plain-bench/node:20 >/dev/null

# The git server: a CA, a certificate for 127.0.0.1, basic auth, git http-backend.
TOKEN=bench-token-$$
mkdir -p git/tmp repos
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout git/ca.key -out git/ca.pem \
  -days 1 -subj "/CN=berth bench git CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout git/server.key -out git/server.csr \
  -subj /CN=127.0.0.1 2>/dev/null
echo subjectAltName=IP:127.0.0.1 >git/ext.cnf
openssl x509 -req -in git/server.csr -CA git/ca.pem -CAkey git/ca.key -CAcreateserial -out git/server.pem \
  -days 1 -extfile git/ext.cnf 2>/dev/null
htpasswd -bnm x-access-token "$TOKEN" >git/htpasswd 2>/dev/null
GIT_PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
/usr/sbin/fcgiwrap -c 4 -s "unix:$WORK/git/fcgi.sock" >git/fcgiwrap.log 2>&1 &
FCGI_PID=$!
cat >git/nginx.conf <<EOF
daemon off; master_process off; user root; pid $WORK/git/nginx.pid; error_log $WORK/git/error.log;
events {}
http {
  access_log off;
  client_body_temp_path $WORK/git/tmp/body; fastcgi_temp_path $WORK/git/tmp/fastcgi;
  proxy_temp_path $WORK/git/tmp/proxy; uwsgi_temp_path $WORK/git/tmp/uwsgi; scgi_temp_path $WORK/git/tmp/scgi;
  server {
    listen 127.0.0.1:$GIT_PORT ssl;
    ssl_certificate $WORK/git/server.pem; ssl_certificate_key $WORK/git/server.key;
    location / {
      auth_basic "git"; auth_basic_user_file $WORK/git/htpasswd;
      include /etc/nginx/fastcgi_params;
      fastcgi_pass unix:$WORK/git/fcgi.sock;
      fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;
      fastcgi_param GIT_PROJECT_ROOT $WORK/repos; fastcgi_param GIT_HTTP_EXPORT_ALL "";
      fastcgi_param PATH_INFO \$uri; fastcgi_param REMOTE_USER \$remote_user;
      fastcgi_param GIT_PROTOCOL \$http_git_protocol;
    }
  }
}
EOF
/usr/sbin/nginx -c "$WORK/git/nginx.conf" -p "$WORK/git" -e "$WORK/git/error.log" >git/nginx.log 2>&1 &
NGINX_PID=$!
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert git/ca.pem "https://127.0.0.1:$GIT_PORT/")" = 401 ] && break
  sleep 0.1
done
export BERTH_BENCH_GIT_TOKEN=$TOKEN
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
AUTH="Authorization: Basic $(printf 'x-access-token:%s' "$TOKEN" | base64 -w0)"

# berth: a server and an agent on this dockerd, no proxy.
# shellcheck source=bench/berth_local.sh
. "$ROOT/bench/berth_local.sh"
start_server
start_agent --proxy none --git-ca-file "$WORK/git/ca.pem"
for _ in $(seq 1 100); do "$BERTH" node ls 2>/dev/null | grep -q online && break; sleep 0.1; done
NODE=$("$BERTH" node ls --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["nodes"][0]["id"])')
echo '{"base_image": "berth-bench/node:20", "install": []}' >plan.json

# A repository whose server answers "version N".
commit_version() {  # dir version
  cat >"$1/server.js" <<EOF
require('http').createServer((q, s) => s.end('version $2\n')).listen(process.env.PORT || 3000);
EOF
  git -C "$1" add -A && git -C "$1" commit -qm "version $2" && git -C "$1" push -q origin main
}
wait_answer() {  # ip:port expected-body (gives up after 2 minutes)
  local n=0
  until [ "$(curl -s -m 1 "http://$1/" 2>/dev/null)" = "$2" ]; do
    n=$((n + 1)); [ $n -gt 2400 ] && { echo "no answer '$2' from $1" >&2; exit 1; }
    sleep 0.05
  done
}
app_ip() {  # app deployment -> the container's address
  docker ps -q --filter "label=berth.app=$1" --filter "label=berth.deployment=$2" | head -1 |
    xargs -r docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}'
}
berth_deploy() {  # app version deployment -> ms until the new version answers
  local t0 ip
  t0=$(now_ms)
  "$BERTH" app deploy "$1" --git "https://127.0.0.1:$GIT_PORT/$1.git" --ref main --token-env BERTH_BENCH_GIT_TOKEN \
    --port 3000 --health http:/ --health-interval 50ms --health-timeout 50ms --health-start-period 30s --watch 0 --drain 0 \
    >deploy.log 2>&1 || { tail -n 30 deploy.log agent.log >&2; exit 1; }
  ip=$(app_ip "$1" "$3")
  wait_answer "$ip:3000" "version $2"
  echo $(( $(now_ms) - t0 ))
}
# The same steps by hand, with the Dockerfile berth's plan renders for this repository.
plain_deploy() {  # app version -> ms until the new version answers
  local t0 id ip
  t0=$(now_ms)
  rm -rf "plain-$1"
  GIT_SSL_CAINFO="$WORK/git/ca.pem" git -c http.extraHeader="$AUTH" clone -q --depth 1 \
    "https://127.0.0.1:$GIT_PORT/$1.git" "plain-$1"
  cat >"plain-$1/Dockerfile" <<'EOF'
FROM plain-bench/node:20
WORKDIR /app
COPY ["package.json","./"]
ENV NODE_ENV="production" PORT="3000"
COPY . .
EXPOSE 3000
CMD ["node","server.js"]
EOF
  docker build -q --label berth-bench-app=1 -t "plain$1:$2" "plain-$1" >/dev/null 2>build.log ||
    { cat build.log >&2; exit 1; }
  docker ps -q --filter "label=berth-bench-app-name=$1" | xargs -r docker rm -f >/dev/null
  id=$(docker run -d --label berth-bench=1 --label "berth-bench-app-name=$1" "plain$1:$2")
  ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$id")
  wait_answer "$ip:3000" "version $2"
  echo $(( $(now_ms) - t0 ))
}
# Where a deployment's time went: its events, as ms after the first.
breakdown() {  # app deployment
  "$BERTH" app events "$1" --json | python3 -c '
import json, sys
n = int(sys.argv[1])
body = json.load(sys.stdin)
ev = [e for e in (body if isinstance(body, list) else body.get("events", [])) if e["deployment"] == n]
ev.sort(key=lambda e: e["id"])
t0 = ev[0]["at"] if ev else 0
print("   ", "  ".join("%s%s +%d" % (e["state"], ("/" + e["reason"][:12]) if e["reason"] else "", e["at"] - t0) for e in ev))
' "$2"
}

cold=() warm=() same=() pcold=() pwarm=()
for i in $(seq 1 "$RUNS"); do
  app=bench$i
  git init -q --bare -b main "repos/$app.git"
  git -C "repos/$app.git" config http.receivepack false
  git -C "repos/$app.git" config uploadpack.allowReachableSHA1InWant true
  git init -q -b main "src-$app"
  git -C "src-$app" remote add origin "$WORK/repos/$app.git"
  printf '{"name":"%s","version":"1.0.0","main":"server.js","description":"run %s at %s"}\n' \
    "$app" "$i" "$(date +%s%N)" >"src-$app/package.json"
  commit_version "src-$app" 1
  "$BERTH" app create "$app" --node "$NODE" >/dev/null
  "$BERTH" app plan "$app" --set plan.json >/dev/null

  cold+=("$(berth_deploy "$app" 1 1)")
  [ "$i" = 1 ] && { echo "berth cold, run 1:"; breakdown "$app" 1; }
  pcold+=("$(plain_deploy "$app" 1)")
  commit_version "src-$app" 2  # the one-line change: server.js answers "version 2"
  warm+=("$(berth_deploy "$app" 2 2)")
  [ "$i" = 1 ] && { echo "berth warm, run 1:"; breakdown "$app" 2; }
  pwarm+=("$(plain_deploy "$app" 2)")
  same+=("$(berth_deploy "$app" 2 3)")
  [ "$i" = 1 ] && { echo "berth unchanged, run 1:"; breakdown "$app" 3; }
  docker ps -aq --filter "label=berth-bench-app-name=$app" | xargs -r docker rm -f >/dev/null
  "$BERTH" app delete "$app" >/dev/null 2>&1 || true
done

C=$(printf '%s\n' "${cold[@]}" | median)
W=$(printf '%s\n' "${warm[@]}" | median)
S=$(printf '%s\n' "${same[@]}" | median)
PC=$(printf '%s\n' "${pcold[@]}" | median)
PW=$(printf '%s\n' "${pwarm[@]}" | median)
echo
echo "push -> answering, median of $RUNS (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '  %-34s %8s %8s %8s  %s\n' "" berth plain ratio target
awk -v b="$C" -v p="$PC" 'BEGIN {printf "  %-34s %6d ms %5d ms %7.2fx  <= 1.2x\n", "cold (first deploy)", b, p, b / p}'
awk -v b="$W" -v p="$PW" 'BEGIN {printf "  %-34s %6d ms %5d ms %7.2fx  <= 1.2x\n", "warm (one-line change)", b, p, b / p}'
awk -v b="$S" 'BEGIN {printf "  %-34s %6d ms %8s %8s  < 2000 ms\n", "unchanged commit (image reused)", b, "-", "-"}'
echo "  runs: berth cold ${cold[*]}; warm ${warm[*]}; unchanged ${same[*]}; plain cold ${pcold[*]}; warm ${pwarm[*]}"
