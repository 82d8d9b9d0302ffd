// JavaScript peers against a hub over WebSocket: N JSON clients that behave
// like Visly State's WSSyncAdapter (text frames; a local edit is made with
// Immer's produceWithPatches, applied at once and sent as {"type":"patches"};
// incoming patches go through applyPatches; a FullSync overwrites the state;
// no echo expected) and one MessagePack client (subprotocol
// patchwire.msgpack, binary frames, same logic) edit "appstate".
//
// Phase 1 (sequential): one edit at a time; every client must reach the
// editor's state before the next edit, and every client must have received
// exactly one `patches` message per edit of the others (relay, no echo).
// Phase 2 (concurrent): every client makes random edits with small random
// delays, all at once; then, once the hub is quiet, late joiners connect and
// every state must be deep-equal to theirs.
//
//   node ws_clients.mjs URL [--clients N] [--edits N] [--seed N]
//                           [--no-msgpack] [--sequential-only]
//
// URL may be ws://, wss:// or the http:// line patchwire serve prints.
// Exit status 0 when every check passed, 1 otherwise (with a diff).
//
// Imported as a module (mqtt_clients.mjs does), it runs nothing: it exports
// the client, the random edits and the checks.
import { isDeepStrictEqual } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

let WebSocket, immer, msgpack;
try {
  ({ WebSocket } = await import('ws'));
  immer = await import('immer');
  msgpack = await import('@msgpack/msgpack');
} catch (e) {
  console.error(`ws_clients: ${e.message}\n` +
    'ws_clients: the npm packages are missing: run scripts/npm-deps (npm ci in tests/interop)');
  process.exit(1);
}
const { enablePatches, produceWithPatches, applyPatches } = immer;
enablePatches();

export const KEY = 'appstate';
const CONNECT_MS = 5000;      // to open a socket and get the first FullSync
const STEP_MS = 5000;         // sequential phase: for everyone to see one edit
export const QUIET_MS = 400;  // no frame for this long: the hub is done
export const QUIET_MAX_MS = 20000; // give up waiting for quiet after this
const MAX_ITEMS = 12;

// ---- arguments ----

const opt = { clients: 4, edits: 40, seed: Date.now() % 100000, msgpack: true, concurrent: true };
let url = null;

function parseArgs(args) {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const num = () => {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < 0) usage(`${a} needs a non-negative integer`);
      return v;
    };
    if (a === '--clients') opt.clients = num();
    else if (a === '--edits') opt.edits = num();
    else if (a === '--seed') opt.seed = num();
    else if (a === '--no-msgpack') opt.msgpack = false;
    else if (a === '--sequential-only') opt.concurrent = false;
    else if (!a.startsWith('-') && !url) url = a;
    else usage(`unknown argument ${a}`);
  }
  if (!url) usage('no URL');
  url = wsUrl(url);
  seedRandom(opt.seed);
}

// ws:// or wss:// from what patchwire serve prints (http:// or https://).
export function wsUrl(u) {
  return u.trim().replace(/^http(s?):/, 'ws$1:');
}

function usage(why) {
  console.error(`ws_clients: ${why}\nusage: node ws_clients.mjs URL [--clients N] [--edits N] ` +
    '[--seed N] [--no-msgpack] [--sequential-only]');
  process.exit(2);
}

// A small seeded generator (mulberry32), so that a failing run's edits can be
// told apart by seed; timing still varies from run to run.
let rngState = 0;
export function seedRandom(seed) {
  rngState = seed >>> 0;
}
export function random() {
  rngState = (rngState + 0x6d2b79f5) >>> 0;
  let t = rngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
export const pick = (n) => Math.floor(random() * n);
const WORDS = ['milk', 'eggs', 'bread', 'tea', 'rice', 'soap', 'jam', 'nuts', 'ÄÖü', '日本', 'a "q"', 'tab\t'];

// ---- a peer ----

export class Client {
  constructor(name, codec, hubUrl = url) {
    this.name = name;
    this.codec = codec;          // 'json' | 'msgpack'
    this.url = hubUrl;
    this.state = undefined;      // undefined until the first FullSync
    this.fullsyncs = 0;
    this.patchesIn = 0;
    this.errorsIn = 0;
    this.applyFailures = 0;
    this.sent = 0;
    this.problems = [];
    this.lastFrame = Date.now();
    this.closedOk = false;
  }

  open() {
    return new Promise((resolve, reject) => {
      const protocols = this.codec === 'msgpack' ? ['patchwire.msgpack'] : [];
      const ws = new WebSocket(this.url, protocols);
      this.ws = ws;
      const timer = setTimeout(() => reject(new Error(`${this.name}: no FullSync of ${KEY} within ${CONNECT_MS} ms`)), CONNECT_MS);
      ws.on('error', (e) => { clearTimeout(timer); reject(new Error(`${this.name}: ${e.message}`)); });
      ws.on('close', (code) => {
        if (!this.closedOk) this.problems.push(`connection closed by the hub (code ${code})`);
      });
      ws.on('message', (data, isBinary) => {
        this.receive(data, isBinary);
        if (this.state !== undefined) { clearTimeout(timer); resolve(); }
      });
    });
  }

  receive(data, isBinary) {
    this.lastFrame = Date.now();
    let msg;
    try {
      if (this.codec === 'msgpack') {
        if (!isBinary) this.problems.push('text frame on a patchwire.msgpack connection');
        msg = isBinary ? msgpack.decode(data) : JSON.parse(data.toString('utf8'));
      } else {
        if (isBinary) this.problems.push('binary frame on a JSON connection');
        msg = JSON.parse(data.toString('utf8'));
      }
    } catch (e) {
      this.problems.push(`undecodable frame: ${e.message}`);
      return;
    }
    if (msg === null || typeof msg !== 'object' || msg.key !== KEY) return;
    if (msg.type === 'fullsync') {
      this.state = msg.data;
      this.fullsyncs++;
    } else if (msg.type === 'patches') {
      this.patchesIn++;
      try {
        this.state = applyPatches(this.state, msg.data);
      } catch {
        // As a Visly client: the change crossed one of ours and is dropped;
        // the hub's resync FullSync brings this peer back.
        this.applyFailures++;
      }
    } else if (msg.type === 'error') {
      this.errorsIn++;
    }
  }

  // One random edit, made and sent the way Visly State's client does it.
  // Returns whether it produced patches.
  edit() {
    const [next, patches] = produceWithPatches(this.state, (d) => randomEdit(d, this.name));
    if (patches.length === 0) return false;
    this.state = next;
    const msg = { type: 'patches', data: patches, key: KEY };
    this.ws.send(this.codec === 'msgpack' ? msgpack.encode(msg) : JSON.stringify(msg));
    this.sent++;
    return true;
  }

  close() {
    this.closedOk = true;
    this.ws?.close();
  }
}

let serial = 0;
export function newItem(author) {
  serial++;
  return {
    id: `${author}-${serial}`,
    title: WORDS[pick(WORDS.length)],
    done: false,
    meta: { prio: pick(5), tags: [], weight: pick(8) + 0.5 },
  };
}

export function randomEdit(d, author) {
  if (!Array.isArray(d.items)) d.items = [];
  const items = d.items;
  const n = items.length;
  const r = random();
  const i = pick(Math.max(n, 1));
  if (n === 0 || (r < 0.22 && n < MAX_ITEMS)) {
    items.splice(pick(n + 1), 0, newItem(author));           // add anywhere
  } else if (r < 0.34 || n >= MAX_ITEMS) {
    items.splice(i, 1);                                       // remove
  } else if (r < 0.46) {
    items[i].done = !items[i].done;                           // toggle
  } else if (r < 0.56) {
    items[i].title = `${WORDS[pick(WORDS.length)]} ${pick(100)}`; // rename
  } else if (r < 0.64) {
    const [it] = items.splice(i, 1);                          // move
    items.splice(pick(n), 0, it);
  } else if (r < 0.88) {
    const meta = items[i].meta ?? (items[i].meta = { prio: 0, tags: [] });
    const k = pick(5);                                        // nested changes
    if (k === 0) meta.prio = pick(10);
    else if (k === 1 && meta.tags.length < 4) meta.tags.push(WORDS[pick(WORDS.length)]);
    else if (k === 1 || k === 2) meta.tags.splice(pick(Math.max(meta.tags.length, 1)), 1);
    else if (k === 3) meta.note = { by: author, at: { n: pick(1000), half: pick(4) / 2 } };
    else delete meta.note;
  } else if (r < 0.95) {
    d.stats ??= {};                                           // an object of counters
    d.stats[author] = (d.stats[author] ?? 0) + 1;
  } else {
    items.reverse();                                          // many positional replaces
  }
}

// ---- checks ----

// Where two values differ, as a list of "path: a != b" lines.
export function diff(a, b, path = '', out = []) {
  if (out.length >= 20) return out;
  if (isDeepStrictEqual(a, b)) return out;
  const bothObjects = a && b && typeof a === 'object' && typeof b === 'object' &&
    Array.isArray(a) === Array.isArray(b);
  if (!bothObjects) {
    out.push(`${path || '/'}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);
    return out;
  }
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) diff(a[k], b[k], `${path}/${k}`, out);
  if (Array.isArray(a) && a.length !== b.length) out.push(`${path}/length: ${a.length} != ${b.length}`);
  return out;
}

export const failures = [];
export function fail(text) {
  failures.push(text);
  console.error(`FAIL ${text}`);
}

// A state as it travels: what JSON.stringify makes of it. Immer's
// applyPatches leaves a hole in an array for a `replace` past its end (JS
// `arr[i] = v`), which JSON and the hub hold as null; the states agree on
// the wire, so that is where they are compared.
export function wire(state) {
  return JSON.parse(JSON.stringify(state));
}

export function compareAll(clients, reference, what) {
  let ok = true;
  const want = wire(reference.state);
  for (const c of clients) {
    const got = wire(c.state);
    if (c === reference || isDeepStrictEqual(got, want)) continue;
    ok = false;
    fail(`${what}: ${c.name} differs from ${reference.name}:\n  ` + diff(got, want).join('\n  '));
  }
  return ok;
}

export async function waitUntil(cond, ms) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(5);
  }
  return true;
}

export async function waitQuiet(clients) {
  return waitUntil(() => clients.every((c) => Date.now() - c.lastFrame >= QUIET_MS), QUIET_MAX_MS);
}

// ---- the run ----

async function main() {
  console.log(`ws_clients: ${url}, ${opt.clients} JSON client(s)${opt.msgpack ? ' + 1 MessagePack client' : ''}, ` +
    `${opt.edits} edits each, seed ${opt.seed}`);
  const clients = [];
  for (let i = 0; i < opt.clients; i++) clients.push(new Client(`json${i}`, 'json'));
  if (opt.msgpack) clients.push(new Client('msgpack0', 'msgpack'));
  if (clients.length < 2) usage('needs at least two clients');
  await Promise.all(clients.map((c) => c.open()));
  compareAll(clients, clients[0], 'after join');

  // Phase 1: sequential.
  const editsBy = new Map(clients.map((c) => [c, 0]));
  const seqEdits = Math.max(2 * clients.length, Math.min(opt.edits, 30));
  for (let e = 0; e < seqEdits && failures.length === 0; e++) {
    const c = clients[e % clients.length];
    if (!c.edit()) continue;
    editsBy.set(c, editsBy.get(c) + 1);
    const seen = await waitUntil(() => clients.every((o) => isDeepStrictEqual(o.state, c.state)), STEP_MS);
    if (!seen) compareAll(clients, c, `sequential edit ${e} by ${c.name} not seen within ${STEP_MS} ms`);
  }
  await waitQuiet(clients);
  const total = [...editsBy.values()].reduce((a, b) => a + b, 0);
  for (const c of clients) {
    const expect = total - editsBy.get(c);
    if (c.patchesIn !== expect)
      fail(`sequential: ${c.name} received ${c.patchesIn} patches messages, expected ${expect} ` +
        `(one per edit of the others, none of its own)`);
  }
  compareAll(clients, clients[0], 'after the sequential phase');
  console.log(`ws_clients: sequential phase: ${total} edits relayed`);

  // Phase 2: concurrent.
  if (opt.concurrent && failures.length === 0) {
    const before = clients.map((c) => c.fullsyncs);
    await Promise.all(clients.map(async (c) => {
      for (let e = 0; e < opt.edits; e++) {
        await sleep(pick(12));
        if (c.state !== undefined) c.edit();
      }
    }));
    if (!(await waitQuiet(clients))) fail(`the hub was not quiet ${QUIET_MAX_MS} ms after the edits stopped`);
    const late = [new Client('late-json', 'json')];
    if (opt.msgpack) late.push(new Client('late-msgpack', 'msgpack'));
    await Promise.all(late.map((c) => c.open()));
    compareAll([...clients, ...late], late[0], 'after the concurrent phase');
    const resyncs = clients.reduce((s, c, k) => s + c.fullsyncs - before[k], 0);
    const failed = clients.reduce((s, c) => s + c.applyFailures, 0);
    const errors = clients.reduce((s, c) => s + c.errorsIn, 0);
    console.log(`ws_clients: concurrent phase: ${clients.reduce((s, c) => s + c.sent, 0)} messages sent, ` +
      `${resyncs} resync FullSyncs, ${failed} patch lists that did not apply on a client, ` +
      `${errors} errors from the hub; final state has ${late[0].state?.items?.length} items`);
    clients.push(...late);
  }

  for (const c of clients) for (const p of c.problems) fail(`${c.name}: ${p}`);
  for (const c of clients) c.close();
}

// Runs a script's main within ms and exits: 0 when nothing failed.
export async function runToExit(name, body, ms) {
  const watchdog = setTimeout(() => {
    fail(`took longer than ${ms / 1000} s`);
    process.exit(1);
  }, ms);
  try {
    await body();
  } catch (e) {
    fail(e.message);
  }
  clearTimeout(watchdog);
  console.log(failures.length === 0 ? `${name}: all states equal` : `${name}: ${failures.length} failure(s)`);
  process.exit(failures.length === 0 ? 0 : 1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  parseArgs(process.argv.slice(2));
  await runToExit('ws_clients', main, 120000);
}
