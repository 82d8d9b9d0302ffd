// gen-vectors.mjs - writes proto/vectors/<group>.json from cases.mjs.
//
// The one idea: the MessagePack bytes and the expected JSON output come from
// implementations that share no code with patchwire: @msgpack/msgpack for the
// bytes and JavaScript's own JSON.stringify number and string printing for
// the text, so a C codec that passes the vectors agrees with JavaScript peers.
//
// Usage: cd proto/gen && npm ci && node gen-vectors.mjs
import { writeFileSync, readFileSync } from 'node:fs';
import { Encoder, Decoder } from '@msgpack/msgpack';
import { groups } from './cases.mjs';

const ERRORS = ['syntax', 'depth', 'type', 'msg', 'op', 'unsupported', 'limit'];
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

// ---------------------------------------------------------------- JSON reader
// Reads JSON text into a tree that keeps what JSON.parse loses: whether a
// number was an integer (BigInt, exact to int64) or a double, and object keys
// in order with repeated keys resolved as patchwire does (last value, first
// position). Only used on valid texts.
const INT = (v) => ({ t: 'int', v });
const DBL = (v) => ({ t: 'dbl', v });

function parse(text) {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
  };
  const fail = (what) => {
    throw new Error(`cases.mjs: ${what} at ${i} in ${text.slice(0, 60)}`);
  };
  function value() {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const keys = [], vals = [];
      ws();
      if (text[i] === '}') return i++, { t: 'obj', keys, vals };
      for (;;) {
        ws();
        const k = string();
        ws();
        if (text[i++] !== ':') fail('expected :');
        const v = value();
        const at = keys.indexOf(k);
        if (at >= 0) vals[at] = v;
        else keys.push(k), vals.push(v);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i++] === '}') return { t: 'obj', keys, vals };
        fail('expected , or }');
      }
    }
    if (c === '[') {
      i++;
      const items = [];
      ws();
      if (text[i] === ']') return i++, items;
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i++] === ']') return items;
        fail('expected , or ]');
      }
    }
    if (c === '"') return string();
    for (const [lit, v] of [['true', true], ['false', false], ['null', null]])
      if (text.startsWith(lit, i)) return (i += lit.length), v;
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i));
    if (!m) fail('bad value');
    i += m[0].length;
    if (m[2] || m[3] || m[0] === '-0') return DBL(Number(m[0]));
    const b = BigInt(m[0]);
    return b >= INT64_MIN && b <= INT64_MAX ? INT(b) : DBL(Number(m[0]));
  }
  function string() {
    const m = /^"(?:[^"\\]|\\.)*"/su.exec(text.slice(i));
    if (!m) fail('bad string');
    i += m[0].length;
    return JSON.parse(m[0]);
  }
  const v = value();
  ws();
  if (i !== text.length) fail('trailing text');
  return v;
}

// ---------------------------------------------------------------- writers
// JavaScript values for @msgpack/msgpack: int64 outside 32 bits as BigInt (so
// it is written as int64/uint64, as msgpack-c does), doubles as numbers,
// objects as proxies that keep their key order.
function toJS(v) {
  if (Array.isArray(v)) return v.map(toJS);
  if (v && v.t === 'int') return v.v >= -(2n ** 31n) && v.v < 2n ** 32n ? Number(v.v) : v.v;
  if (v && v.t === 'dbl') return v.v;
  if (v && v.t === 'obj') return ordered(v.keys, v.vals.map(toJS));
  return v;
}

// @msgpack/msgpack writes a map in Object.keys order, which puts keys like
// "1" first on a plain object; a proxy reports the keys in their real order.
function ordered(keys, vals) {
  const get = (k) => vals[keys.indexOf(k)];
  return new Proxy({}, {
    ownKeys: () => [...keys],
    getOwnPropertyDescriptor: (_, k) =>
      keys.includes(k) ? { value: get(k), enumerable: true, configurable: true, writable: true } : undefined,
    get: (_, k) => (keys.includes(k) ? get(k) : undefined),
  });
}

// @msgpack/msgpack writes an integral double (1.0, -0.0) as an int; patchwire
// writes every double as float64, so such trees have no reference bytes.
function hasIntegralDouble(v) {
  if (Array.isArray(v)) return v.some(hasIntegralDouble);
  if (v && v.t === 'dbl') return Number.isInteger(v.v);
  if (v && v.t === 'obj') return v.vals.some(hasIntegralDouble);
  return false;
}

// What JSON.stringify writes (the output rule of patchwire's JSON encoder).
// keepKind: write integral doubles with ".0" so a reader keeps them doubles.
function text(v, keepKind = false) {
  if (Array.isArray(v)) return '[' + v.map((x) => text(x, keepKind)).join(',') + ']';
  if (v && v.t === 'int') return v.v.toString();
  if (v && v.t === 'dbl') {
    if (!keepKind) return JSON.stringify(v.v);
    if (Object.is(v.v, -0)) return '-0.0';
    const s = JSON.stringify(v.v);
    return /^-?[0-9]+$/.test(s) ? s + '.0' : s;
  }
  if (v && v.t === 'obj')
    return '{' + v.keys.map((k, j) => JSON.stringify(k) + ':' + text(v.vals[j], keepKind)).join(',') + '}';
  return JSON.stringify(v);
}

const encoder = new Encoder({ useBigInt64: true, maxDepth: 100000 });
const decoder = new Decoder({ useBigInt64: true, maxDepth: 100000 });
const hex = (bytes) => Buffer.from(bytes).toString('hex');
const msgpack = (v) => hex(encoder.encode(toJS(v)));

// Checks hand-written bytes against the reference decoder.
function sameAsDecoded(d, v) {
  if (Array.isArray(v)) return Array.isArray(d) && d.length === v.length && v.every((x, j) => sameAsDecoded(d[j], x));
  if (v && (v.t === 'int' || v.t === 'dbl')) return (typeof d === 'bigint' || typeof d === 'number') && Number(d) === Number(v.v);
  if (v && v.t === 'obj') {
    if (typeof d !== 'object' || d === null) return false;
    const keys = Object.keys(d);
    return keys.length === v.keys.length && v.keys.every((k, j) => sameAsDecoded(d[k], v.vals[j]));
  }
  return d === v;
}

// ---------------------------------------------------------------- cases
function build(group, c) {
  const out = [['name', JSON.stringify(c.name)], ['kind', JSON.stringify(c.kind)]];
  if (!['document', 'message'].includes(c.kind)) throw new Error(`${c.name}: kind`);
  if (c.json !== undefined) out.push(['json', JSON.stringify(c.json)]);
  if (c.json_hex !== undefined) out.push(['json_hex', JSON.stringify(c.json_hex)]);
  if (c.limits) out.push(['limits', JSON.stringify(c.limits)]);
  let mp = c.msgpack;
  if (mp === undefined && !c.no_msgpack && c.json !== undefined) mp = msgpack(parse(c.json));
  if (mp !== undefined) out.push(['msgpack', JSON.stringify(mp)]);

  if (c.error || c.msgpack_error) {
    for (const e of [c.error, c.msgpack_error])
      if (e !== undefined && !ERRORS.includes(e)) throw new Error(`${c.name}: error ${e}`);
    if (c.error) out.push(['error', JSON.stringify(c.error)]);
    if (c.msgpack_error) out.push(['msgpack_error', JSON.stringify(c.msgpack_error)]);
    if ((c.json !== undefined || c.json_hex !== undefined) !== (c.error !== undefined))
      throw new Error(`${c.name}: a JSON input needs an error and the other way round`);
    if ((mp !== undefined) !== (c.msgpack_error !== undefined))
      throw new Error(`${c.name}: a MessagePack input needs msgpack_error and the other way round`);
    return out;
  }

  const expect = parse(c.expect ?? c.json);
  if (c.json === undefined && c.msgpack !== undefined) {
    const d = decoder.decode(Buffer.from(c.msgpack, 'hex'));
    if (!sameAsDecoded(d, expect)) throw new Error(`${c.name}: hand-written bytes do not decode to expect`);
  }
  out.push(['expect', text(expect, true)]);
  out.push(['json_encoded', JSON.stringify(text(expect))]);
  const mpEncoded = c.msgpack_encoded ?? (hasIntegralDouble(expect) ? undefined : msgpack(expect));
  if (mpEncoded !== undefined) out.push(['msgpack_encoded', JSON.stringify(mpEncoded)]);
  return out;
}

const version = JSON.parse(readFileSync(new URL('./node_modules/@msgpack/msgpack/package.json', import.meta.url))).version;
for (const [group, g] of Object.entries(groups)) {
  const names = new Set();
  const lines = g.cases.map((c) => {
    if (names.has(c.name)) throw new Error(`${group}: duplicate name ${c.name}`);
    names.add(c.name);
    return '{' + build(group, c).map(([k, v]) => JSON.stringify(k) + ':' + v).join(',') + '}';
  });
  const file =
    '{"group":' + JSON.stringify(group) +
    ',"description":' + JSON.stringify(g.description) +
    ',"generated_by":' + JSON.stringify(`proto/gen/gen-vectors.mjs with @msgpack/msgpack ${version}; do not edit`) +
    ',"cases":[\n' + lines.join(',\n') + '\n]}\n';
  writeFileSync(new URL(`../vectors/${group}.json`, import.meta.url), file);
  console.log(`${group}: ${lines.length} cases`);
}
