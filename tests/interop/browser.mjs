// The web example in a real browser: headless Chromium (Debian's, driven by
// playwright-core) opens two pages of examples/web served by the hub; a todo
// added in page 1 appears in page 2, toggled in page 2 it shows as done in
// page 1, renamed and removed likewise; a third peer outside the browser (a
// node ws client speaking the Visly protocol, and `patchwire connect` when
// PW_CLI names a program that has it) sees every change. Items the page did
// not make (a bare string, an object without an id) show in every page, from
// patches and from a FullSync, and their checkbox and Remove button work. A
// screenshot of page 1 is saved in PW_ARTIFACT_DIR (default: the current
// folder).
//
//   node browser.mjs URL        (URL: the http:// line patchwire serve prints)
//
// Exit status 0 when every check passed, 1 otherwise.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

let chromium, WebSocket, immer;
try {
  ({ chromium } = await import('playwright-core'));
  ({ WebSocket } = await import('ws'));
  immer = await import('immer');
} catch (e) {
  console.error(`browser: ${e.message}\n` +
    'browser: the npm packages are missing: run scripts/npm-deps (npm ci in tests/interop)');
  process.exit(1);
}
immer.enablePatches();

const WAIT_MS = 10000; // every wait for a change to show up
const CHROMIUM = process.env.PW_CHROMIUM || '/usr/bin/chromium';
const pageUrl = process.argv[2];
if (!pageUrl || !/^https?:\/\//.test(pageUrl)) {
  console.error('usage: node browser.mjs http://HOST:PORT/');
  process.exit(2);
}
const wsUrl = pageUrl.replace(/^http/, 'ws');
const artifacts = process.env.PW_ARTIFACT_DIR || '.';
rmSync(join(artifacts, 'web-example-failure.png'), { force: true });

// ---- peers outside the browser: each keeps the latest state it was told ----

function waitFor(what, cond) {
  return new Promise((resolve, reject) => {
    const end = Date.now() + WAIT_MS;
    const tick = () => {
      let v;
      try { v = cond(); } catch { v = undefined; }
      if (v) resolve(v);
      else if (Date.now() > end) reject(new Error(`${what}: not seen within ${WAIT_MS} ms`));
      else setTimeout(tick, 20);
    };
    tick();
  });
}

// A Visly-like node client: FullSync replaces, patches go through applyPatches.
function nodePeer() {
  const peer = { state: undefined, ws: new WebSocket(wsUrl) };
  peer.ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.key !== 'appstate') return;
    if (msg.type === 'fullsync') peer.state = msg.data;
    else if (msg.type === 'patches') peer.state = immer.applyPatches(peer.state, msg.data);
  });
  peer.ws.on('error', (e) => console.error(`browser: node peer: ${e.message}`));
  return peer;
}

// `patchwire connect URL --key appstate`: prints {"type":"fullsync",...} and
// {"type":"patches",...} lines; each line written to it is a patch list it
// sends as its own edit.
function connectPeer() {
  const cli = process.env.PW_CLI;
  if (!cli) return null;
  const help = spawnSync(cli, ['connect', '--help'], { encoding: 'utf8', timeout: 5000 });
  if (!/usage: patchwire connect/.test(`${help.stdout}${help.stderr}`)) {
    console.log('browser: patchwire connect is not available; checking with the node peer only');
    return null;
  }
  const child = spawn(cli, ['connect', wsUrl, '--key', 'appstate'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const peer = { state: undefined, child, failed: null, exited: null };
  peer.exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    peer.failed ??= `patchwire connect exited early (status ${code}, signal ${signal})`;
    resolve(code);
  }));
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      const msg = JSON.parse(line);
      if (msg.type === 'fullsync') peer.state = msg.data;
      else if (msg.type === 'patches') peer.state = immer.applyPatches(peer.state, msg.data);
    } catch (e) {
      peer.failed = `patchwire connect printed a line that does not apply: ${e.message}: ${line}`;
    }
  });
  return peer;
}

const itemsOf = (peer) => peer?.state?.items ?? [];
const findTitle = (peer, title) => itemsOf(peer).find((it) => it?.title === title);

// ---- the pages ----

async function openPage(browser, n) {
  const page = await browser.newPage({ viewport: { width: 640, height: 480 } });
  page.on('pageerror', (e) => console.error(`browser: page ${n} error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') console.error(`browser: page ${n} console: ${m.text()}`); });
  await page.goto(pageUrl, { timeout: WAIT_MS });
  await page.locator('#status[data-state="online"]').waitFor({ timeout: WAIT_MS });
  return page;
}

// Waits until the page's list shows an item with this title (input values are
// properties, so the check reads them in the page).
async function waitForTitle(page, title, present = true) {
  await page.waitForFunction(
    ([t, want]) => [...document.querySelectorAll('#items .title')].some((el) => el.value === t) === want,
    [title, present], { timeout: WAIT_MS, polling: 50 });
}

async function checkboxOf(page, title) {
  const handle = await page.waitForFunction(
    (t) => [...document.querySelectorAll('#items li')].find((li) => li.querySelector('.title').value === t)?.querySelector('.done'),
    title, { timeout: WAIT_MS, polling: 50 });
  return handle.asElement();
}

async function waitChecked(page, title, checked) {
  await page.waitForFunction(
    ([t, c]) => {
      const li = [...document.querySelectorAll('#items li')].find((l) => l.querySelector('.title').value === t);
      return li && li.querySelector('.done').checked === c && li.classList.contains('is-done') === c;
    },
    [title, checked], { timeout: WAIT_MS, polling: 50 });
}

async function main() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30000,
  });
  const others = [nodePeer()];
  const connect = connectPeer();
  if (connect) others.push(connect);
  let p1 = null;
  try {
    p1 = await openPage(browser, 1);
    const p2 = await openPage(browser, 2);
    const title = `buy milk ${process.pid}`;

    // Add in page 1: page 2 and the other peers see it.
    await p1.getByLabel('New todo').fill(title);
    await p1.getByRole('button', { name: 'Add' }).click();
    await waitForTitle(p1, title);
    await waitForTitle(p2, title);
    for (const peer of others) await waitFor(`item "${title}" at a non-browser peer`, () => findTitle(peer, title));
    console.log('browser: add in page 1 seen in page 2 and by the other peers');

    // Toggle in page 2: page 1 and the other peers see it done.
    await (await checkboxOf(p2, title)).check();
    await waitChecked(p1, title, true);
    for (const peer of others) await waitFor(`"${title}" done at a non-browser peer`, () => findTitle(peer, title)?.done === true);
    console.log('browser: toggle in page 2 seen in page 1 and by the other peers');

    // A change from outside the browser shows in both pages.
    const fromNode = 'from node';
    const peer = others[0];
    const [next, patches] = immer.produceWithPatches(peer.state, (d) => {
      d.items.push({ id: 'node-1', title: fromNode, done: false });
    });
    peer.state = next;
    peer.ws.send(JSON.stringify({ type: 'patches', data: patches, key: 'appstate' }));
    await waitForTitle(p1, fromNode);
    await waitForTitle(p2, fromNode);
    console.log('browser: an edit from a node peer seen in both pages');

    if (connect) {
      const fromCli = 'from patchwire connect';
      await waitFor('patchwire connect holding the node peer\'s item', () => findTitle(connect, fromNode));
      const add = [{ op: 'add', path: ['items', itemsOf(connect).length], value: { id: 'cli-1', title: fromCli, done: false } }];
      connect.child.stdin.write(`${JSON.stringify(add)}\n`);
      await waitForTitle(p1, fromCli);
      await waitForTitle(p2, fromCli);
      await waitFor('the node peer seeing the edit of patchwire connect', () => findTitle(peer, fromCli));
      console.log('browser: an edit from patchwire connect seen in both pages and by the node peer');
    }

    mkdirSync(artifacts, { recursive: true });
    const shot = join(artifacts, 'web-example.png');
    await p1.screenshot({ path: shot });
    console.log(`browser: screenshot ${shot}`);

    // Rename in page 1, remove in page 2.
    const renamed = `${title} (oat)`;
    const titleInput = p1.locator('#items li .title').first();
    await p1.waitForFunction((t) => document.querySelector('#items li .title')?.value === t, title, { timeout: WAIT_MS });
    await titleInput.fill(renamed);
    await titleInput.press('Enter');
    await waitForTitle(p2, renamed);
    for (const p of others) await waitFor(`rename at a non-browser peer`, () => findTitle(p, renamed));
    console.log('browser: rename in page 1 seen in page 2 and by the other peers');

    await p2.getByRole('button', { name: `Remove ${renamed}` }).click();
    await waitForTitle(p1, renamed, false);
    for (const p of others) await waitFor(`removal at a non-browser peer`, () => !findTitle(p, renamed) && findTitle(p, fromNode));
    console.log('browser: remove in page 2 seen in page 1 and by the other peers');

    // Items the page did not make, as another client may add them: a bare
    // string and an object without an id.
    const bare = `bare string ${process.pid}`;
    const noId = `no id ${process.pid}`;
    const [withForeign, foreign] = immer.produceWithPatches(peer.state, (d) => {
      d.items.push(bare);
      d.items.push({ title: noId, done: false });
    });
    peer.state = withForeign;
    peer.ws.send(JSON.stringify({ type: 'patches', data: foreign, key: 'appstate' }));
    const p3 = await openPage(browser, 3); // its FullSync holds them, or patches bring them
    for (const p of [p1, p2, p3]) {
      await waitForTitle(p, bare);
      await waitForTitle(p, noId);
    }
    console.log('browser: a bare string and an item without id shown in every page');

    await (await checkboxOf(p3, noId)).check();
    await waitChecked(p1, noId, true);
    for (const p of others) await waitFor('the item without id done at a non-browser peer', () => findTitle(p, noId)?.done === true);
    console.log('browser: the item without id toggled in page 3, seen in page 1 and by the other peers');

    await p1.getByRole('button', { name: `Remove ${bare}` }).click();
    for (const p of [p1, p2, p3]) await waitForTitle(p, bare, false);
    for (const p of others) await waitFor('the bare string removed at a non-browser peer', () => !itemsOf(p).includes(bare) && findTitle(p, noId));
    await p2.getByRole('button', { name: `Remove ${noId}` }).click();
    for (const p of [p1, p2, p3]) await waitForTitle(p, noId, false);
    for (const p of others) await waitFor('the item without id removed at a non-browser peer', () => !findTitle(p, noId) && findTitle(p, fromNode));
    console.log('browser: Remove of the bare string (page 1) and of the item without id (page 2) seen everywhere');
    if (connect) {
      if (connect.failed) throw new Error(connect.failed);
      // At the end of its input it exits 0 once the hub has taken its edit.
      connect.failed = 'ended';
      connect.child.stdin.end();
      const code = await Promise.race([connect.exited, new Promise((r) => setTimeout(r, WAIT_MS, 'timeout'))]);
      if (code !== 0) throw new Error(`patchwire connect did not exit 0 at the end of its input (${code})`);
      console.log('browser: patchwire connect exited 0 at the end of its input');
    }
  } catch (e) {
    if (p1) {
      mkdirSync(artifacts, { recursive: true });
      await p1.screenshot({ path: join(artifacts, 'web-example-failure.png') }).catch(() => {});
    }
    throw e;
  } finally {
    others[0].ws.close();
    if (connect && connect.child.exitCode === null) connect.child.kill('SIGTERM');
    await browser.close();
  }
}

const watchdog = setTimeout(() => {
  console.error('browser: took longer than 90 s');
  process.exit(1);
}, 90000);
try {
  await main();
  clearTimeout(watchdog);
  console.log('browser: all checks passed');
  process.exit(0);
} catch (e) {
  console.error(`browser: FAIL ${e.message}`);
  process.exit(1);
}
