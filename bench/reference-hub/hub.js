// Reference hub for bench/fleet_sim: the same job as berth's gateway, minimally,
// on Node's `ws`. TLS with required client certificates from the same CA,
// subprotocol berth-agent-v1, HELLO -> WELCOME, heartbeats, TELEMETRY counted,
// POST /api/v1/nodes/:id/commands -> an Ed25519-signed COMMAND routed to the
// node's socket, RESULT marks it finished. No persistence, no validation beyond
// JSON parsing: a lower bound on what a hub costs.
//
// Usage: node hub.js <port> <dir with server.crt server.key ca.crt signing.key(base64 raw 64 bytes)> <api-key>
'use strict';
const fs = require('fs');
const https = require('https');
const crypto = require('crypto');
const { WebSocketServer } = require('ws');

const [port, dir, apiKey] = process.argv.slice(2);
const raw = Buffer.from(fs.readFileSync(`${dir}/signing.key`, 'utf8').trim(), 'base64');
// libsodium's secret key is seed (32) || public (32); Node wants PKCS#8 DER of the seed.
const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), raw.subarray(0, 32)]);
const signingKey = crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });

const sessions = new Map();  // node id -> socket
const metrics = { telemetry: 0, finished: 0, sessions: 0 };
const inflight = new Map();  // correlation id -> node id

function sortedJson(value) {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${sortedJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function frame(type, agentId, extra) {
  const now = Date.now();
  return { type, agent_id: agentId, issued_at: now, expires_at: now + 60000,
           nonce: crypto.randomBytes(16).toString('hex'), ...extra };
}

const server = https.createServer({
  cert: fs.readFileSync(`${dir}/server.crt`), key: fs.readFileSync(`${dir}/server.key`),
  ca: fs.readFileSync(`${dir}/ca.crt`), requestCert: true, rejectUnauthorized: false,
  minVersion: 'TLSv1.2',
}, (req, res) => {
  if (req.method === 'GET' && req.url === '/metrics') {
    res.end(`berth_telemetry_frames_total ${metrics.telemetry}\n` +
            `berth_commands_finished_total{state="succeeded"} ${metrics.finished}\n` +
            `berth_agent_sessions_active ${metrics.sessions}\n`);
    return;
  }
  const m = req.method === 'POST' && req.url.match(/^\/api\/v1\/nodes\/([^/]+)\/commands$/);
  if (!m) { res.statusCode = 404; res.end('{}'); return; }
  if (req.headers.authorization !== `Bearer ${apiKey}`) { res.statusCode = 401; res.end('{}'); return; }
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    const ws = sessions.get(m[1]);
    let parsed;
    try { parsed = JSON.parse(body); } catch { res.statusCode = 400; res.end('{}'); return; }
    if (!ws) { res.statusCode = 404; res.end('{}'); return; }
    const corr = parsed.correlation_id || crypto.randomBytes(8).toString('hex');
    const cmd = frame('COMMAND', m[1], { correlation_id: corr, verb: parsed.verb, args: parsed.args || {} });
    cmd.signature = crypto.sign(null, Buffer.from(sortedJson(cmd)), signingKey).toString('base64');
    inflight.set(corr, m[1]);
    ws.send(JSON.stringify(cmd));
    res.statusCode = 202;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ id: corr, state: 'dispatched' }));
  });
});

const wss = new WebSocketServer({ noServer: true, handleProtocols: (p) => (p.has('berth-agent-v1') ? 'berth-agent-v1' : false) });
server.on('upgrade', (req, socket, head) => {
  if (!req.client.authorized) { socket.destroy(); return; }
  const nodeId = req.socket.getPeerCertificate().subject.CN;
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data) => {
      let f;
      try { f = JSON.parse(data); } catch { return; }
      if (f.type === 'HELLO') {
        const old = sessions.get(nodeId);
        if (old) old.close();
        sessions.set(nodeId, ws);
        metrics.sessions = sessions.size;
        ws.send(JSON.stringify(frame('WELCOME', nodeId, { data: { heartbeat_interval_s: 20 } })));
      } else if (f.type === 'TELEMETRY') {
        metrics.telemetry++;
      } else if (f.type === 'RESULT') {
        if (inflight.delete(f.correlation_id)) metrics.finished++;
      }
    });
    ws.on('close', () => {
      if (sessions.get(nodeId) === ws) sessions.delete(nodeId);
      metrics.sessions = sessions.size;
    });
  });
});
server.listen(Number(port), '127.0.0.1', () => console.log(`hub listening on ${port}`));
