# Sourced by the benchmark scripts: starts Debian's Pebble (a real ACME test CA)
# on free loopback ports with its API on a certificate from a CA made here, and
# pebble-challtestsrv as its DNS (every name is 127.0.0.1), validating http-01
# on port $1 (where the agent's proxy listens). Sets PEBBLE_DIR_URL,
# PEBBLE_API_CA (the file to trust for the ACME API), PEBBLE_ROOT (the file its
# issued chains verify to) and PEBBLE_PIDS; needs WORK and free_port.
start_pebble() {
  local http_port=$1 dir=$WORK/pebble dns_port acme_port mgmt_port
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/ca.key" -out "$dir/ca.pem" \
    -days 2 -subj /CN=pebble-api-ca 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/pebble.key" -out "$dir/pebble.csr" \
    -subj /CN=127.0.0.1 2>/dev/null
  openssl x509 -req -in "$dir/pebble.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
    -out "$dir/pebble.crt" -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost') 2>/dev/null
  dns_port=$(free_port)
  acme_port=$(free_port)
  mgmt_port=$(free_port)
  pebble-challtestsrv -dns01 "127.0.0.1:$dns_port" -http01 "" -https01 "" -tlsalpn01 "" \
    -management "127.0.0.1:$(free_port)" -defaultIPv4 127.0.0.1 -defaultIPv6 "" >"$dir/challtestsrv.log" 2>&1 &
  PEBBLE_PIDS="$!"
  cat >"$dir/pebble.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$acme_port", "managementListenAddress": "127.0.0.1:$mgmt_port",
 "certificate": "$dir/pebble.crt", "privateKey": "$dir/pebble.key", "httpPort": $http_port,
 "tlsPort": $(free_port), "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON
  PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
    pebble -config "$dir/pebble.json" -dnsserver "127.0.0.1:$dns_port" >"$dir/pebble.log" 2>&1 &
  PEBBLE_PIDS="$PEBBLE_PIDS $!"
  PEBBLE_DIR_URL=https://127.0.0.1:$acme_port/dir
  PEBBLE_API_CA=$dir/ca.pem
  PEBBLE_ROOT=$dir/root.pem
  for _ in $(seq 1 100); do
    curl -sf --cacert "$PEBBLE_API_CA" "https://127.0.0.1:$mgmt_port/roots/0" -o "$PEBBLE_ROOT" && return 0
    sleep 0.1
  done
  echo "pebble did not start: $(tail -5 "$dir/pebble.log")" >&2
  return 1
}
