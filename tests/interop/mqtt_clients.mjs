// MQTT devices, WebSocket clients and a C replica on one key of one hub
// (`patchwire serve --ws ... --mqtt ...`), through a real broker.
//
// - N devices on MQTT.js follow the recipe of proto/SPEC.md section 12 to the
//   letter: subscribe to state, patches and error; a fullsync with a higher
//   seq replaces the copy, patches whose seq is held+1 are applied, a larger
//   jump publishes resync; an edit is published on `edit` with an id and
//   never applied locally. Beside the recipe a device only counts: every id
//   it sent must come back exactly once, on `patches` or on `error`, and a
//   list with seq held+1 must apply.
//   The first device loses every 25th message on `patches` on purpose, so
//   that it meets gaps and resyncs.
// - M Visly-like WebSocket clients (ws_clients.mjs: JSON ones and one
//   MessagePack one).
// - The C replica, `$PW_CLI connect MQTT_URL --key appstate`, fed edits on
//   its standard input; its state is rebuilt from the lines it prints.
//
// One edit at a time first (every edit must reach everyone), then all at
// once; once the hub is quiet and its retained state has been republished,
// the replica's input ends (it must exit 0, or 1 having reported only
// refusals), a late MQTT subscriber and a late WebSocket joiner connect, and
// every state must be equal as JSON (devices: at the same seq too).
//
//   node mqtt_clients.mjs WS_URL MQTT_URL [--devices N] [--clients N]
//        [--edits N] [--seed N] [--codec json|msgpack] [--state-interval MS]
//        [--no-replica]
//
// --codec is the hub's --mqtt-codec: what devices decode and publish.
// Exit status 0 when every check passed, 1 otherwise (with a diff).
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';

import {
  Client, KEY, compareAll, fail, failures, newItem, pick, random, randomEdit, seedRandom,
  runToExit, waitQuiet, waitUntil, wire, wsUrl, QUIET_MAX_MS,
} from './ws_clients.mjs';

let mqttjs, immer, msgpack;
try {
  mqttjs = await import('mqtt');
  immer = await import('immer');
  msgpack = await import('@msgpack/msgpack');
} catch (e) {
  console.error(`mqtt_clients: ${e.message}\n` +
    'mqtt_clients: the npm packages are missing: run scripts/npm-deps (npm ci in tests/interop)');
  process.exit(1);
}
const { produceWithPatches, applyPatches } = immer;

const PREFIX = 'patchwire/';
const CONNECT_MS = 5000;   // to connect and hold a first fullsync
const STEP_MS = 5000;      // one-at-a-time phase: for everyone to see one edit
const ANSWER_MS = 10000;   // for every device edit to be answered once quiet
const EXIT_MS = 20000;     // for the replica to exit once its input ended

// ---- arguments ----

const opt = {
  devices: 3, clients: 2, edits: 30, seed: Date.now() % 100000, codec: 'json',
  stateInterval: 1000, replica: true,
};
const urls = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const num = () => {
    const v = Number(args[++i]);
    if (!Number.isInteger(v) || v < 0) usage(`${a} needs a non-negative integer`);
    return v;
  };
  if (a === '--devices') opt.devices = num();
  else if (a === '--clients') opt.clients = num();
  else if (a === '--edits') opt.edits = num();
  else if (a === '--seed') opt.seed = num();
  else if (a === '--state-interval') opt.stateInterval = num();
  else if (a === '--no-replica') opt.replica = false;
  else if (a === '--codec') {
    opt.codec = args[++i];
    if (opt.codec !== 'json' && opt.codec !== 'msgpack') usage('--codec is json or msgpack');
  } else if (!a.startsWith('-') && urls.length < 2) urls.push(a);
  else usage(`unknown argument ${a}`);
}
if (urls.length !== 2) usage('needs WS_URL and MQTT_URL');
const WS_URL = wsUrl(urls[0]);
const MQTT_URL = urls[1];
if (opt.replica && !process.env.PW_CLI) usage('PW_CLI (the patchwire program) is not set');
seedRandom(opt.seed);

function usage(why) {
  console.error(`mqtt_clients: ${why}\nusage: node mqtt_clients.mjs WS_URL MQTT_URL [--devices N] ` +
    '[--clients N] [--edits N] [--seed N] [--codec json|msgpack] [--state-interval MS] [--no-replica]');
  process.exit(2);
}

const topic = (what) => `${PREFIX}${KEY}/${what}`;
const encode = (m) => (opt.codec === 'msgpack' ? msgpack.encode(m) : JSON.stringify(m));
// The codec of a payload from its first byte (SPEC section 9): the hub
// publishes state and patches in --codec, an error in the codec of the edit
// it answers (the C replica's are JSON).
const isJson = (p) => p.length > 0 && ' \t\n\r{["-0123456789tfn'.includes(String.fromCharCode(p[0]));
const decode = (p) => (isJson(p) ? JSON.parse(p) : msgpack.decode(p));

// ---- a device: SPEC section 12's recipe ----

class Device {
  // lose: every lose-th `patches` message is hidden from the recipe, as if
  // the network had lost it, so that gaps and resyncs happen.
  constructor(name, lose = 0) {
    this.name = name;
    this.lose = lose;
    this.patchesIn = 0;
    this.doc = null;          // the recipe's state: doc, seq, n
    this.seq = 0;
    this.n = 0;
    this.waiting = new Set(); // ids sent, not answered yet
    this.accepted = 0;
    this.refused = 0;
    this.resyncs = 0;
    this.problems = [];
    this.lastFrame = Date.now();
  }

  open() {
    return new Promise((resolve, reject) => {
      const c = mqttjs.connect(MQTT_URL, {
        clientId: `pw-test-${this.name}-${process.pid}`, connectTimeout: CONNECT_MS,
      });
      this.c = c;
      const timer = setTimeout(() => reject(new Error(`${this.name}: no fullsync of ${KEY} within ${CONNECT_MS} ms`)), CONNECT_MS);
      c.on('error', (e) => this.problems.push(`MQTT error: ${e.message}`));
      c.subscribe([topic('state'), topic('patches'), topic('error')]);
      c.on('message', (t, payload) => {
        this.lastFrame = Date.now();
        if (t !== topic('error') && isJson(payload) !== (opt.codec === 'json'))
          this.problems.push(`${t}: a message not in ${opt.codec}`);
        this.receive(payload, t === topic('patches') && this.lose && ++this.patchesIn % this.lose === 0);
        if (this.doc !== null) { clearTimeout(timer); resolve(); }
      });
    });
  }

  receive(payload, lost) {
    let m;
    try {
      m = decode(payload);
    } catch (e) {
      this.problems.push(`undecodable message: ${e.message}`);
      return;
    }
    this.count(m);
    if (lost) return;
    if (m.type === 'fullsync' && (this.doc === null || m.seq > this.seq)) { this.doc = m.data; this.seq = m.seq; }
    else if (m.type === 'patches' && this.doc !== null && m.seq === this.seq + 1) {
      try {
        this.doc = applyPatches(this.doc, m.data); this.seq = m.seq;
      } catch (e) {
        this.problems.push(`patches with seq ${m.seq} (held ${this.seq}) did not apply: ${e.message}`);
      }
    } else if (m.type === 'patches' && this.doc !== null && m.seq > this.seq + 1) {
      this.resyncs++;
      this.c.publish(topic('edit'), encode({ type: 'resync', key: KEY }));
    }
    else if (m.type === 'error' && String(m.id).startsWith(`${this.name}:`)) this.refused++;
  }

  // Not the recipe: each of this device's ids must be answered exactly once.
  count(m) {
    if (m === null || typeof m !== 'object' || !String(m.id).startsWith(`${this.name}:`)) return;
    if (!this.waiting.delete(m.id)) {
      this.problems.push(`${m.type} names ${m.id}, which is not waiting for an answer`);
      return;
    }
    if (m.type === 'patches') this.accepted++;
    else if (m.type !== 'error') this.problems.push(`${m.id} answered by a ${m.type}`);
  }

  edit() {
    const [, patches] = produceWithPatches(this.doc, (d) => randomEdit(d, this.name));
    if (patches.length === 0) return false;
    const id = `${this.name}:${++this.n}`;
    this.waiting.add(id);
    this.c.publish(topic('edit'), encode({ type: 'patches', key: KEY, id, data: patches }));
    return true;
  }

  get state() {
    return this.doc === null ? undefined : this.doc;
  }

  close() {
    return this.c?.endAsync();
  }
}

// ---- the C replica: patchwire connect mqtt://... ----

class Replica {
  constructor(name) {
    this.name = name;
    this.state = undefined; // its printed lines say no version for an acked edit of its own
    this.sent = 0;
    this.lines = 0;
    this.answers = 0; // accepted and refused lines
    this.problems = [];
    this.stderr = '';
    this.lastFrame = Date.now();
    this.exit = null; // {code, signal} once it has exited
  }

  open() {
    const p = spawn(process.env.PW_CLI, ['connect', MQTT_URL, '--key', KEY, '--timeout', '100'],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = p;
    process.on('exit', () => { if (!this.exit) p.kill('SIGKILL'); });
    this.exited = new Promise((resolve) => p.on('exit', (code, signal) => {
      this.exit = { code, signal };
      resolve();
    }));
    p.stdin.on('error', (e) => this.problems.push(`stdin: ${e.message}`));
    p.stderr.on('data', (d) => { this.stderr += d; });
    let partial = '';
    p.stdout.on('data', (d) => {
      const parts = (partial + d).split('\n');
      partial = parts.pop();
      for (const l of parts) this.line(l);
    });
    return waitUntil(() => this.state !== undefined || this.exit, CONNECT_MS).then((ok) => {
      if (!ok || this.state === undefined)
        throw new Error(`${this.name}: no fullsync within ${CONNECT_MS} ms: ${this.stderr}`);
    });
  }

  // A printed change: a fullsync replaces, local and remote lists apply in
  // the order printed, as they did on the replica.
  line(text) {
    this.lastFrame = Date.now();
    this.lines++;
    let m;
    try {
      m = JSON.parse(text);
      if (m.type === 'fullsync') this.state = m.data;
      else if (m.type === 'accepted' || m.type === 'refused') this.answers++; // the hub's answer to an edit printed before
      else this.state = applyPatches(this.state, m.data);
    } catch (e) {
      this.problems.push(`printed line ${this.lines} (${text.slice(0, 80)}): ${e.message}`);
    }
  }

  // Edits that apply to whatever the replica holds when the line reaches it
  // (the state read here may be a few changes behind): insert at the front,
  // and change or remove the first item only while there are plenty.
  edit() {
    const items = this.state?.items;
    if (!Array.isArray(items)) return false;
    const r = random();
    let patches;
    if (items.length >= 4 && r < 0.3) patches = [{ op: 'remove', path: ['items', 0] }];
    else if (items.length >= 4 && r < 0.6) patches = [{ op: 'replace', path: ['items', 0, 'done'], value: r < 0.45 }];
    else if (r < 0.85 && items.length < 12) patches = [{ op: 'add', path: ['items', 0], value: newItem(this.name) }];
    else patches = [{ op: 'add', path: ['replica'], value: { n: pick(1000) } }];
    this.proc.stdin.write(`${JSON.stringify(patches)}\n`);
    this.sent++;
    return true;
  }

  async end() {
    this.proc.stdin.end();
    await Promise.race([this.exited, sleep(EXIT_MS)]);
    if (!this.exit) {
      this.proc.kill('SIGKILL');
      fail(`${this.name}: still running ${EXIT_MS} ms after its input ended`);
      return;
    }
    const lines = this.stderr.split('\n').filter((l) => l.trim() !== '');
    const refusals = lines.filter((l) => /hub refused|were not accepted/.test(l));
    const trouble = lines.filter((l) => /input:|timed out|cannot|out of memory/.test(l));
    if (trouble.length) fail(`${this.name}: ${trouble.join('; ')}`);
    if (this.exit.code === 0 && refusals.length)
      fail(`${this.name}: exit 0 but it reported refusals: ${refusals.join('; ')}`);
    if (this.exit.code === 1 && refusals.length === 0)
      fail(`${this.name}: exit 1 with no refusal reported: ${this.stderr}`);
    if (this.exit.code !== 0 && this.exit.code !== 1)
      fail(`${this.name}: exit ${this.exit.code} (signal ${this.exit.signal}): ${this.stderr}`);
    this.refusals = refusals.length;
  }

  close() {
    if (!this.exit) this.proc?.kill('SIGKILL');
  }
}

// ---- the run ----

const answered = (peers) => peers.every((p) => !(p instanceof Device) || p.waiting.size === 0);

// Every peer holds the editor's change: the editor's own copy (a client, the
// replica) or, for a device, once its id came back.
function settled(peers, editor) {
  if (!answered([editor])) return false;
  const want = wire(peers[0].state);
  return peers.every((p) => isDeepStrictEqual(wire(p.state), want));
}

async function main() {
  console.log(`mqtt_clients: ${WS_URL} ${MQTT_URL}, ${opt.devices} MQTT.js device(s) (${opt.codec}), ` +
    `${opt.clients} JSON WebSocket client(s) + 1 MessagePack, ${opt.replica ? '1' : 'no'} C replica, ` +
    `${opt.edits} edits each, seed ${opt.seed}`);
  const devices = [];
  for (let i = 0; i < opt.devices; i++) devices.push(new Device(`dev${i}`, i === 0 ? 25 : 0));
  const clients = [];
  for (let i = 0; i < opt.clients; i++) clients.push(new Client(`ws${i}`, 'json', WS_URL));
  clients.push(new Client('ws-msgpack', 'msgpack', WS_URL));
  const replicas = opt.replica ? [new Replica('replica')] : [];
  const peers = [...devices, ...clients, ...replicas];
  const closeAll = () => Promise.all(peers.map((p) => p.close()));
  try {
    await Promise.all(peers.map((p) => p.open()));
    compareAll(peers, clients[0], 'after join');

    // One edit at a time, round robin: every edit reaches everyone.
    for (let e = 0; e < 2 * peers.length && failures.length === 0; e++) {
      const p = peers[e % peers.length];
      if (!p.edit()) continue;
      if (!(await waitUntil(() => settled(peers, p), STEP_MS)))
        compareAll(peers, clients[0], `one at a time: edit ${e} by ${p.name} not everywhere within ${STEP_MS} ms`);
    }
    console.log('mqtt_clients: one at a time: every edit reached every peer');

    // All at once.
    if (failures.length === 0) {
      await Promise.all(peers.map(async (p) => {
        for (let e = 0; e < opt.edits; e++) {
          await sleep(pick(12));
          if (p.state !== undefined) p.edit();
        }
      }));
      if (!(await waitQuiet(peers))) fail(`the hub was not quiet ${QUIET_MAX_MS} ms after the edits stopped`);
      if (!(await waitUntil(() => answered(devices), ANSWER_MS)))
        for (const d of devices)
          if (d.waiting.size) fail(`${d.name}: ${d.waiting.size} edit(s) never answered: ${[...d.waiting].slice(0, 5)}`);
      // The retained state is at most one interval behind.
      await sleep(opt.stateInterval + 300);
      for (const r of replicas) await r.end();
      const late = [new Device('late-dev'), new Client('late-ws', 'json', WS_URL)];
      peers.push(...late);
      await Promise.all(late.map((p) => p.open()));
      await sleep(300);
      compareAll(peers, late[1], 'after the concurrent phase');
      for (const d of devices)
        if (d.seq !== late[0].seq) fail(`${d.name} holds seq ${d.seq}, the retained state ${late[0].seq}`);
      const sum = (list, f) => list.reduce((s, x) => s + f(x), 0);
      console.log(`mqtt_clients: devices: ${sum(devices, (d) => d.n)} edits, ${sum(devices, (d) => d.accepted)} ` +
        `accepted, ${sum(devices, (d) => d.refused)} refused, ${sum(devices, (d) => d.resyncs)} resyncs; ` +
        `clients: ${sum(clients, (c) => c.sent)} edits, ${sum(clients, (c) => c.applyFailures)} lists that did ` +
        `not apply; replica: ${sum(replicas, (r) => r.sent)} edits, exit ${replicas[0]?.exit?.code}, ` +
        `${sum(replicas, (r) => r.refusals ?? 0)} refusals reported; seq ${late[0].seq}, ` +
        `${late[1].state?.items?.length} items`);
    }
    for (const p of peers) for (const pr of p.problems) fail(`${p.name}: ${pr}`);
  } finally {
    await closeAll();
  }
}

await runToExit('mqtt_clients', main, 150000);
