// s3-audit-proxy status page. Plain browser JavaScript, no framework, nothing from another origin.
// Reads GET /api/v1/audit-webhook every 2 s and the live event stream (GET /api/v1/events/stream,
// NDJSON) with the admin token as a bearer header. Everything shown from the proxy is written with
// textContent: event fields (bucket names, keys, errors) are never parsed as HTML.

const TOKEN_KEY = 's3ap-admin-token';
const STATUS_URL = '/api/v1/audit-webhook';
const STREAM_URL = '/api/v1/events/stream';
const POLL_MS = 2000;
const MAX_EVENT_ROWS = 200;
const RETRY_MS = 3000;

const $ = (id) => document.getElementById(id);

/** Makes an element with a class and text. */
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (v) => sessionStorage.setItem(TOKEN_KEY, v),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

// ---- formatting --------------------------------------------------------------------------------

const nf = new Intl.NumberFormat('en');
function num(n) { return typeof n === 'number' ? nf.format(n) : '–'; }
function count(n, one, many) { return `${num(n)} ${n === 1 ? one : many}`; }
function rate(n) { return n === null ? '–' : n >= 100 ? nf.format(Math.round(n)) : n.toFixed(1); }
function bytes(n) {
  if (typeof n !== 'number') return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(n >= 10 ? 0 : 1)} ${u[i]}`;
}
function clock(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleTimeString('en-GB', { hour12: false });
}
function clockMs(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso ?? '');
  return `${d.toLocaleTimeString('en-GB', { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}
function ago(iso) {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

// ---- connection indicator ----------------------------------------------------------------------

function setConn(state, text) {
  const c = $('conn');
  c.dataset.state = state;
  c.textContent = text;
}

function banner(text) {
  const b = $('banner');
  b.hidden = !text;
  b.textContent = text ?? '';
}

// ---- login -------------------------------------------------------------------------------------

function showLogin(message) {
  stopAll();
  $('dash').hidden = true;
  $('signout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message ?? '';
  setConn('idle', 'not connected');
  $('token').focus();
}

function start() {
  $('login').hidden = true;
  $('dash').hidden = false;
  $('signout').hidden = false;
  poll();
  openStream();
}

let pollTimer = null;
let pollCtl = null;
function stopAll() {
  clearTimeout(pollTimer);
  pollTimer = null;
  pollCtl?.abort();
  closeStream();
}

// ---- status polling ----------------------------------------------------------------------------

/** Last reading of each target's counters, for the per-second rates. */
const lastReading = new Map();

async function poll() {
  clearTimeout(pollTimer);
  const t = token.get();
  if (!t) return showLogin();
  pollCtl = new AbortController();
  try {
    const res = await fetch(STATUS_URL, { headers: { authorization: `Bearer ${t}` }, cache: 'no-store', signal: pollCtl.signal });
    if (res.status === 401) {
      token.clear();
      return showLogin('The proxy refused this token: type the admin token again.');
    }
    const doc = await res.json();
    if (!res.ok) throw new Error(doc?.error?.message ?? `HTTP ${res.status}`);
    render(doc);
    setConn('ok', 'connected');
    banner(null);
  } catch (err) {
    if (err.name === 'AbortError') return;
    setConn('bad', 'proxy unreachable');
    banner(`Cannot read the status from the proxy: ${err.message}. Retrying every ${POLL_MS / 1000} s.`);
  }
  pollTimer = setTimeout(poll, POLL_MS);
}

function render(doc) {
  const targets = [
    { id: 'webhook', name: 'Webhook', detail: doc.enabled ? `${doc.endpoint} (${doc.format})` : 'not enabled', status: doc.status },
  ];
  if (doc.auditLog) targets.push({ id: 'audit-log', name: 'Audit log file', detail: doc.auditLog.path, status: doc.auditLog.status });
  const box = $('targets');
  box.replaceChildren(...targets.map(targetCard));
  $('updated').textContent = `updated ${clock(new Date().toISOString())}`;
}

function rates(id, s) {
  const now = performance.now();
  const prev = lastReading.get(id);
  lastReading.set(id, { at: now, enqueued: s.enqueued, delivered: s.delivered, inRate: prev?.inRate ?? null, outRate: prev?.outRate ?? null });
  const cur = lastReading.get(id);
  if (prev && now - prev.at >= 500) {
    const dt = (now - prev.at) / 1000;
    cur.inRate = Math.max(0, (s.enqueued - prev.enqueued) / dt);
    cur.outRate = Math.max(0, (s.delivered - prev.delivered) / dt);
  }
  return cur;
}

function stat(label, value, cls, sub) {
  const d = el('div', `stat ${cls ?? ''}`.trim());
  d.append(el('div', 'stat-label', label), el('div', 'stat-value', value));
  if (sub) d.append(el('div', 'stat-sub muted', sub));
  return d;
}

function fillBar(label, cls, frac, text) {
  const d = el('div', `stat fill ${cls}`);
  const pct = Math.min(100, Math.max(0, frac * 100));
  const bar = el('div', 'bar');
  const inner = el('div', `bar-fill${pct >= 80 ? ' hot' : pct >= 50 ? ' warm' : ''}`);
  inner.style.width = `${pct < 0.5 && frac > 0 ? 0.5 : pct}%`;
  bar.append(inner);
  d.append(el('div', 'stat-label', label), bar, el('div', 'stat-sub', text));
  return d;
}

function reasons(label, cls, total, byReason) {
  const d = el('div', `stat ${cls}`);
  d.append(el('div', 'stat-label', label), el('div', `stat-value${total > 0 ? ' bad' : ''}`, num(total)));
  const entries = Object.entries(byReason ?? {}).filter(([, n]) => n > 0);
  const ul = el('ul', 'reasons');
  for (const [r, n] of entries) {
    const li = el('li');
    li.append(el('code', null, r), el('span', null, ` ${num(n)}`));
    ul.append(li);
  }
  if (entries.length) d.append(ul);
  return d;
}

function targetCard(t) {
  const s = t.status;
  const card = el('article', 'target');
  card.dataset.target = t.id;
  card.dataset.state = s.state;
  card.dataset.spooled = String(s.spooled);
  card.dataset.delivered = String(s.delivered);

  const head = el('div', 'target-head');
  const title = el('div', 'target-title');
  title.append(el('h3', null, t.name), el('div', 'target-detail muted', t.detail));
  const badge = el('span', `badge state-${s.state}`, s.state);
  badge.dataset.role = 'state';
  head.append(title, badge);
  card.append(head);

  const r = rates(t.id, s);
  const grid = el('div', 'stats');
  grid.append(
    stat('Events in /s', rate(r.inRate), 'rate-in', `${num(s.enqueued)} since start`),
    stat('Delivered /s', rate(r.outRate), 'rate-out', `${num(s.delivered)} since start`),
    fillBar('Memory queue', 'queue', Math.max(s.queued / (s.queueMaxEvents || 1), s.queuedBytes / (s.queueMaxBytes || 1)),
      `${count(s.queued, 'event', 'events')} · ${bytes(s.queuedBytes)} of ${bytes(s.queueMaxBytes)}`),
    fillBar('Disk spool', 'spool', s.spoolBytes / (s.spoolMaxBytes || 1), `${count(s.spooled, 'event', 'events')} · ${bytes(s.spoolBytes)} of ${bytes(s.spoolMaxBytes)}`),
    reasons('Dropped', 'dropped', s.dropped, s.droppedByReason),
    reasons('Dead letters', 'dead', s.deadLettered, s.deadLetteredByReason),
    stat('Last delivery', s.lastSuccess ? ago(s.lastSuccess) : 'never', 'last-ok',
      s.lastLatencyMs === null ? `${num(s.inFlight)} in flight` : `${s.lastLatencyMs} ms · ${num(s.inFlight)} in flight`),
    stat('Failures in a row', num(s.consecutiveFailures), `failures${s.consecutiveFailures > 0 ? ' bad' : ''}`, `${num(s.retried)} retried`),
  );
  if (s.ack) {
    grid.append(stat('Indexer ack', s.ack.state, 'ack',
      `${count(s.ack.pendingEvents, 'event', 'events')} waiting · ${num(s.ack.timedOut)} timed out`));
  }
  card.append(grid);

  const lower = el('div', 'target-lower');
  lower.append(historyBox(s.stateHistory ?? []), errorsBox(s.recentErrors ?? []));
  card.append(lower);
  return card;
}

/** A titled list (state changes, errors), or a muted line when it is empty. */
function listBox(cls, title, listTag, listCls, items, empty, item) {
  const box = el('div', cls);
  box.append(el('h4', null, title));
  if (!items.length) {
    box.append(el('p', 'muted', empty));
    return box;
  }
  const list = el(listTag, listCls);
  list.append(...items.map(item));
  box.append(list);
  return box;
}

function historyBox(history) {
  return listBox('history', 'State history', 'ol', 'timeline', history.slice(-10), 'no changes yet', (c) => {
    const li = el('li', `chip state-${c.state}`);
    li.append(el('span', 'chip-state', c.state), el('span', 'chip-time', clock(c.at)));
    if (c.error) li.title = c.error;
    return li;
  });
}

function errorsBox(errors) {
  return listBox('recent-errors', 'Last errors', 'ul', 'errors', [...errors].reverse().slice(0, 5), 'none', (e) => {
    const li = el('li');
    li.append(el('time', 'err-time', clock(e.at)));
    if (e.count > 1) li.append(el('span', 'err-count', `×${e.count}`));
    li.append(el('span', 'err-text', e.error));
    return li;
  });
}

// ---- live events -------------------------------------------------------------------------------

let streamCtl = null;
let retryTimer = null;

function closeStream() {
  clearTimeout(retryTimer);
  retryTimer = null;
  streamCtl?.abort();
  streamCtl = null;
}

function filterQuery() {
  const f = new FormData($('filters'));
  const q = new URLSearchParams();
  for (const k of ['bucket', 'prefix', 'status', 'kind']) {
    const v = String(f.get(k) ?? '').trim();
    if (v) q.append(k, v);
  }
  for (const a of String(f.get('api') ?? '').split(/[\s,]+/)) if (a) q.append('api', a);
  if (f.get('errors')) q.append('errors', '1');
  return q;
}

function liveState(text, cls) {
  const s = $('live-state');
  s.textContent = text;
  s.className = cls ?? 'muted';
}

async function openStream() {
  closeStream();
  const t = token.get();
  if (!t) return;
  const ctl = new AbortController();
  streamCtl = ctl;
  $('live-error').textContent = '';
  liveState('connecting…');
  const q = filterQuery().toString();
  let res;
  try {
    res = await fetch(q ? `${STREAM_URL}?${q}` : STREAM_URL, { headers: { authorization: `Bearer ${t}`, accept: 'application/x-ndjson' }, cache: 'no-store', signal: ctl.signal });
  } catch (err) {
    if (ctl.signal.aborted) return;
    return retryLater(`stream unreachable (${err.message})`);
  }
  if (res.status === 404) {
    liveState('not available', 'warn-text');
    $('live-error').textContent = 'This proxy has no live event stream (GET /api/v1/events/stream): the rest of the page works without it.';
    return;
  }
  if (res.status === 401) {
    token.clear();
    return showLogin('The proxy refused this token: type the admin token again.');
  }
  if (!res.ok) {
    let msg = `HTTP ${res.status}`;
    let code = null;
    try {
      const err = (await res.json())?.error;
      msg = err?.message ?? msg;
      code = err?.code ?? null;
    } catch { /* not JSON */ }
    if (code === 'stream_unavailable') {
      liveState('not available', 'warn-text');
      $('live-error').textContent = `${msg}: the rest of the page works without it.`;
      return;
    }
    if (res.status === 400) {
      liveState('filter refused', 'warn-text');
      $('live-error').textContent = msg;
      return;
    }
    return retryLater(msg);
  }
  liveState('live', 'ok-text');
  try {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) onStreamLine(line);
      }
    }
  } catch (err) {
    if (ctl.signal.aborted) return;
    return retryLater(`stream interrupted (${err.message})`);
  }
  if (!ctl.signal.aborted) retryLater('the proxy closed the stream');
}

function retryLater(why) {
  liveState(`${why}: reconnecting in ${RETRY_MS / 1000} s`, 'warn-text');
  clearTimeout(retryTimer);
  retryTimer = setTimeout(openStream, RETRY_MS);
}

function onStreamLine(line) {
  let m;
  try { m = JSON.parse(line); } catch { return; }
  if (m.event) addEvent(m.event);
  else if (m.dropped) addNotice(`${num(m.dropped.count)} events not shown: this page fell behind (${num(m.dropped.total)} in all)`);
  else if (m.hello) {
    const f = Object.entries(m.hello.filters ?? {}).filter(([, v]) => v !== null && v !== undefined && v !== false && !(Array.isArray(v) && !v.length));
    liveState(f.length ? `live · ${f.map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`).join(' ')}` : 'live · all events', 'ok-text');
  } else if (m.ping) $('live-state').title = `last ping ${m.ping}`;
}

function addRow(tr) {
  const body = $('events').tBodies[0];
  body.prepend(tr);
  while (body.rows.length > MAX_EVENT_ROWS) body.deleteRow(body.rows.length - 1);
  $('events-empty').hidden = true;
}

function addNotice(text) {
  const tr = el('tr', 'notice');
  const td = el('td', null, text);
  td.colSpan = 7;
  tr.append(td);
  addRow(tr);
}

function addEvent(e) {
  const status = e.response?.statusCode;
  const code = e.response?.errorCode;
  const failed = (typeof status === 'number' && status >= 400) || e.outcome === 'error' || e.kind === 'gap';
  const tr = el('tr', failed ? 'failed' : null);
  tr.dataset.kind = e.kind ?? '';
  const api = e.api?.name ?? e.kind ?? '?';
  const where = e.api?.bucket ? `${e.api.bucket}${e.api.object ? `/${e.api.object}` : ''}` : (e.request?.path ?? e.outcomeDetail ?? '');
  const statusCell = el('td', 'num', status === undefined ? (e.outcome ?? '') : code ? `${status} ${code}` : status);
  const b = e.bytes ? `${bytes(e.bytes.received)} / ${bytes(e.bytes.sent)}` : '';
  const ms = typeof e.timing?.totalMs === 'number' ? e.timing.totalMs.toFixed(1) : '';
  const whereCell = el('td', 'where', where);
  whereCell.title = where;
  tr.append(el('td', 'time', clockMs(e.time)), el('td', null, e.client?.ip ?? ''), el('td', 'api', api), whereCell, statusCell, el('td', 'num', b), el('td', 'num', ms));
  addRow(tr);
}

// ---- wiring ------------------------------------------------------------------------------------

function init() {
  $('origin').textContent = location.host;
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = $('token').value.trim();
    if (!v) return;
    token.set(v);
    $('token').value = '';
    lastReading.clear();
    start();
  });
  $('signout').addEventListener('click', () => {
    token.clear();
    showLogin();
  });
  $('filters').addEventListener('submit', (ev) => {
    ev.preventDefault();
    $('events').tBodies[0].replaceChildren();
    $('events-empty').hidden = false;
    openStream();
  });
  $('clear-events').addEventListener('click', () => {
    $('events').tBodies[0].replaceChildren();
    $('events-empty').hidden = false;
  });
  if (token.get()) start();
  else showLogin();
}

init();
