// The Node hub that Visly State's documentation shows: express + express-ws +
// ws + immer. On connect a client gets a FullSync of every key; a patches
// message is applied with Immer's applyPatches and relayed to every other
// client. Kept as the docs have it (no error handling: a patch that fails to
// apply throws), so that bench/ws measures what users would otherwise run.
//
//   node node-hub.js [PORT] [STATE.json]    (STATE: {"key": document, ...})
const fs = require('fs');
const express = require('express');
const expressWs = require('express-ws');
const { applyPatches, enablePatches } = require('immer');

enablePatches();
const port = Number(process.argv[2] || 8090);
const states = process.argv[3]
  ? JSON.parse(fs.readFileSync(process.argv[3], 'utf8'))
  : { appstate: { items: [] } };

const app = express();
expressWs(app);
const clients = new Set();

app.ws('/', (ws) => {
  clients.add(ws);
  for (const [key, data] of Object.entries(states))
    ws.send(JSON.stringify({ type: 'fullsync', key, data }));
  ws.on('message', (raw) => {
    const msg = JSON.parse(raw);
    if (msg.type !== 'patches') return;
    states[msg.key] = applyPatches(states[msg.key], msg.data);
    const text = raw.toString();
    for (const c of clients) if (c !== ws && c.readyState === 1) c.send(text);
  });
  ws.on('close', () => clients.delete(ws));
});

const server = app.listen(port, '127.0.0.1', () =>
  console.log(`node-hub listening on ws://127.0.0.1:${server.address().port}/`));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
