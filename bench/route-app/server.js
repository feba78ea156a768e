// The routes benchmark's app (bench/routes_bench.sh): answers every request with the
// version baked into its image. It logs, as one JSON line, when it starts listening and
// when it answers its first request: before the proxy routes to it, that request is the
// agent's health probe (User-Agent berth-health), so it marks the moment the new version
// was seen healthy, on the same clock as the load client's.
// WARMUP=N: before listening on 8080 it answers N requests of its own on 127.0.0.1:8081
// (V8 compiles the hot path), as an app whose readiness waits for its warm-up would.
const http = require('http');
const fs = require('fs');
// BENCH_TAG: set per update by the benchmark, so an answer names the update that started its
// container, not only the image (images alternate, and a draining version answers for a while).
const version = fs.readFileSync('/version', 'utf8').trim() + (process.env.BENCH_TAG ? '-' + process.env.BENCH_TAG : '');
const warmup = parseInt(process.env.WARMUP || '0', 10);
let answered = 0;
const handler = (req, res) => {
  res.setHeader('Content-Type', 'text/plain');
  res.end(version + '\n');
};
const server = http.createServer((req, res) => {
  if (answered++ === 0) {
    console.log(JSON.stringify({ first_request_ms: Date.now(), ua: req.headers['user-agent'] || '' }));
  }
  handler(req, res);
});
server.keepAliveTimeout = 65000;
const listen = () => server.listen(8080, () => console.log(JSON.stringify({ listening_ms: Date.now(), version })));
process.on('SIGTERM', () => process.exit(0));

if (warmup <= 0) {
  listen();
} else {
  const local = http.createServer(handler).listen(8081, '127.0.0.1', () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    let done = 0;
    const started = Date.now();
    for (let i = 0; i < warmup; ++i) {
      http.get({ host: '127.0.0.1', port: 8081, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (++done === warmup) {
            agent.destroy();
            local.close();
            console.log(JSON.stringify({ warmup_requests: warmup, warmup_ms: Date.now() - started }));
            listen();
          }
        });
      });
    }
  });
}
