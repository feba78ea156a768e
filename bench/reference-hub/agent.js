// Minimal reference agent on Node's `ws`: mutual TLS, HELLO, heartbeats every
// 20 s, nothing else. bench/fleet_sim measures its idle resident memory.
// Usage: node agent.js <url> <dir with ca.crt client.crt client.key> <node id>
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const WebSocket = require('ws');
const [url, dir, nodeId] = process.argv.slice(2);
function frame(type, extra) {
  const now = Date.now();
  return JSON.stringify({ type, agent_id: nodeId, issued_at: now, expires_at: now + 60000,
                          nonce: crypto.randomBytes(16).toString('hex'), ...extra });
}
const ws = new WebSocket(`${url}/agent/ws`, 'berth-agent-v1', {
  ca: fs.readFileSync(`${dir}/ca.crt`), cert: fs.readFileSync(`${dir}/client.crt`), key: fs.readFileSync(`${dir}/client.key`),
});
ws.on('open', () => {
  ws.send(frame('HELLO', { data: { hostname: 'ref', version: 'ref' } }));
  setInterval(() => ws.send(frame('HEARTBEAT', { data: {} })), 20000);
});
ws.on('message', () => {});
ws.on('error', (e) => { console.error(e.message); process.exit(1); });
