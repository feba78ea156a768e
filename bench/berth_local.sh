# Sourced by the benchmark scripts: starts a `berth server` on a free loopback
# port with its data under $WORK/server (extra server flags as arguments), and
# joins one `berth agent` to it (start_agent, extra agent flags as arguments).
# Sets SERVER_PID, AGENT_PID and BERTH_CLI_CONFIG; needs BERTH and WORK.
start_server() {
  XDG_CONFIG_HOME="$WORK/xdg" "$BERTH" server --data-dir "$WORK/server" --listen 127.0.0.1:0 "$@" >server.log 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do [ -f "$WORK/server/cli.json" ] && break; sleep 0.1; done
  export BERTH_CLI_CONFIG=$WORK/server/cli.json
}

start_agent() {
  local url pin token
  url=$(python3 -c "import json;print(json.load(open('$BERTH_CLI_CONFIG'))['server'])")
  pin=$(grep -o '"ca_pin":"[^"]*"' server.log | head -1 | cut -d'"' -f4)
  token=$("$BERTH" token create --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])')
  "$BERTH" agent --state-dir "$WORK/agent" --server "$url" --ca-pin "$pin" --join "$token" "$@" >agent.log 2>&1 &
  AGENT_PID=$!
}
