// The todo page's logic: one state, "appstate" = {items: [{id, title, done}]},
// kept in sync with the hub that served the page, the way Visly State's
// WSSyncAdapter does it. A local edit is made with Immer's produceWithPatches,
// shown at once and sent as {"type":"patches"}; patches from the hub are
// applied with applyPatches; a FullSync replaces the state.
import { enablePatches, produceWithPatches, applyPatches } from 'immer';

enablePatches();

const KEY = 'appstate';
const RECONNECT_MS = 500;
const URL_WS = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;

const $ = (id) => document.getElementById(id);
const statusEl = $('status');
const editorEl = $('editor');
const listEl = $('items');
const summaryEl = $('summary');

let state = null; // null until the first FullSync
let socket = null;

// ---- sync ----

function connect() {
  setStatus('connecting', 'connecting…');
  socket = new WebSocket(URL_WS);
  socket.addEventListener('open', () => setStatus('online', 'online'));
  socket.addEventListener('message', (event) => {
    if (typeof event.data === 'string') receive(event.data);
  });
  socket.addEventListener('close', () => {
    socket = null;
    setStatus('offline', 'offline, reconnecting…');
    setTimeout(connect, RECONNECT_MS);
  });
}

function receive(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return;
  }
  if (msg.key !== KEY) return;
  if (msg.type === 'fullsync') {
    state = msg.data;
  } else if (msg.type === 'patches') {
    try {
      state = applyPatches(state, msg.data);
    } catch (e) {
      // The change crossed one of ours: ask for the hub's state (a patchwire
      // hub sends it anyway; others ignore the request).
      console.warn('patch did not apply, asking for a resync', e);
      send({ type: 'resync', key: KEY });
      return;
    }
  } else {
    return; // error, ack and unknown types: nothing to do
  }
  render();
}

function send(msg) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg));
}

function edit(recipe) {
  if (!state || !socket || socket.readyState !== WebSocket.OPEN) return;
  const [next, patches] = produceWithPatches(state, recipe);
  if (patches.length === 0) return;
  state = next;
  render();
  send({ type: 'patches', data: patches, key: KEY });
}

function setStatus(name, text) {
  statusEl.dataset.state = name;
  statusEl.textContent = text;
  editorEl.disabled = name !== 'online';
}

// ---- edits ----

function newId() {
  return Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
}

// Items other peers made need not look like ours: a bare string, or an
// object without an id. Such an item is shown by its position.
const isObject = (it) => it !== null && typeof it === 'object' && !Array.isArray(it);
const view = (it) => (isObject(it) ? it : { title: it ?? '' });
const hasId = (it) => isObject(it) && it.id !== undefined && it.id !== null;
const indexOf = (items, id) => items.findIndex((it) => hasId(it) && String(it.id) === id);

// The index of an <li>'s item in items, -1 when it is gone.
function itemIndex(items, li) {
  if (li.dataset.id) return indexOf(items, li.dataset.id);
  const n = Number(li.dataset.index);
  return n < items.length && !hasId(items[n]) ? n : -1;
}

// Sets a field of the item at i, turning a bare value into an object.
function setField(items, i, name, value) {
  if (!isObject(items[i])) items[i] = { title: String(items[i] ?? ''), done: false };
  items[i][name] = value;
}

$('add-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('new-title');
  const title = input.value.trim();
  if (!title) return;
  edit((draft) => {
    if (!Array.isArray(draft.items)) draft.items = [];
    draft.items.push({ id: newId(), title, done: false });
  });
  input.value = '';
});

listEl.addEventListener('change', (event) => {
  const li = event.target.closest('li');
  if (!li || !state || !Array.isArray(state.items)) return;
  if (event.target.matches('.done')) {
    const done = event.target.checked;
    edit((draft) => {
      const i = itemIndex(draft.items, li);
      if (i >= 0) setField(draft.items, i, 'done', done);
    });
  } else if (event.target.matches('.title')) {
    const title = event.target.value.trim();
    const i = itemIndex(state.items, li);
    if (!title) {
      if (i >= 0) event.target.value = String(view(state.items[i]).title ?? ''); // no empty titles
      return;
    }
    edit((draft) => {
      const i = itemIndex(draft.items, li);
      if (i < 0) return;
      if (isObject(draft.items[i])) draft.items[i].title = title;
      else draft.items[i] = title; // a bare string stays one
    });
  }
});

listEl.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && event.target.matches('.title')) event.target.blur();
});

listEl.addEventListener('click', (event) => {
  if (!event.target.matches('.remove')) return;
  const li = event.target.closest('li');
  edit((draft) => {
    const i = Array.isArray(draft.items) ? itemIndex(draft.items, li) : -1;
    if (i >= 0) draft.items.splice(i, 1);
  });
});

// ---- view: one <li> per item, kept by id so that focus and typing survive
// changes from other peers ----

function itemElement(key, id) {
  const li = document.createElement('li');
  li.dataset.key = key;
  li.dataset.id = id;
  const done = document.createElement('input');
  done.type = 'checkbox';
  done.className = 'done';
  const title = document.createElement('input');
  title.className = 'title';
  title.maxLength = 200;
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'remove';
  remove.textContent = 'Remove';
  li.append(done, title, remove);
  return li;
}

function render() {
  const items = state && Array.isArray(state.items) ? state.items : [];
  const old = new Map([...listEl.children].map((li) => [li.dataset.key, li]));
  const seen = new Set();
  let prev = null;
  items.forEach((raw, n) => {
    const item = view(raw);
    const id = hasId(raw) ? String(raw.id) : '';
    // no id: kept by position; an id another peer reused: by id and position
    const key = !id ? `#${n}` : seen.has(id) ? `${id}#${n}` : id;
    seen.add(id);
    let li = old.get(key);
    if (li) old.delete(key);
    else li = itemElement(key, id);
    li.dataset.index = String(n);
    const [done, title, remove] = li.children;
    const name = String(item.title ?? '');
    done.checked = !!item.done;
    done.setAttribute('aria-label', `Done: ${name}`);
    if (document.activeElement !== title) title.value = name;
    title.setAttribute('aria-label', `Title of todo ${n + 1}`);
    remove.setAttribute('aria-label', `Remove ${name}`);
    li.classList.toggle('is-done', !!item.done);
    const want = prev ? prev.nextSibling : listEl.firstChild;
    if (want !== li) listEl.insertBefore(li, want);
    prev = li;
  });
  for (const li of old.values()) li.remove();
  const left = items.filter((it) => !view(it).done).length;
  summaryEl.textContent = items.length ? `${left} of ${items.length} left` : 'Nothing to do.';
}

render();
connect();
