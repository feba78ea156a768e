// The routes benchmark's app (bench/routes_bench.sh): answers every request with the
// version baked into its image. It logs, as one JSON line, when it starts listening and
// when it answers its first request: before the proxy routes to it, that request is the
// agent's health probe (User-Agent berth-health), so it marks the moment the new version
// was seen healthy, on the same clock as the load client's.
const http = require('http');
const fs = require('fs');
const version = fs.readFileSync('/version', 'utf8').trim();
let answered = 0;
const server = http.createServer((req, res) => {
  if (answered++ === 0) {
    console.log(JSON.stringify({ first_request_ms: Date.now(), ua: req.headers['user-agent'] || '' }));
  }
  res.setHeader('Content-Type', 'text/plain');
  res.end(version + '\n');
});
server.keepAliveTimeout = 65000;
server.listen(8080, () => console.log(JSON.stringify({ listening_ms: Date.now(), version })));
process.on('SIGTERM', () => process.exit(0));
