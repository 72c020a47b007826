// Lookout dashboard: renders the page named by location.pathname from the JSON API, keeps it
// current through the live feed (/api/v1/live), and falls back to polling when it is down.
// No build step; charts are charts.js (window.lookoutCharts). `window.lookout` exposes the
// state (used by the tests). Every number comes from the daemon: thresholds from
// /api/v1/thresholds and each check's own, alert counts from the status. Times are shown in
// UTC with their zone, as the CLI, the API and the notifications write them.
'use strict';
(function () {
  const L = (window.lookout = {
    liveUrl: null, // override for tests; default ws(s)://host/api/v1/live
    pollMs: 30000, // polling while the live feed is down
    refreshMs: 30000, // full data refresh, always
    live: 'connecting',
    status: null,
    session: null,
    thresholds: null, // the effective alert rules' levels (/api/v1/thresholds)
    charts: [],
    socket: null,
    polls: 0,
    refreshes: 0,
  });
  const RANGES = { '1h': 3600, '6h': 21600, '24h': 86400, '7d': 604800, '30d': 2592000 };
  const LAYERS = ['system', 'application', 'database', 'redis', 'business'];
  const LAYER_PAGE = { system: '/system', application: '/checks?layer=application', database: '/database', redis: '/redis', business: '/checks?layer=business' };
  const RANK = { ok: 0, maintenance: 1, warning: 2, unknown: 3, critical: 4 };
  const STATUSES = ['critical', 'unknown', 'warning', 'maintenance', 'ok'];
  const COLORS = ['#0b57d0', '#b3261e', '#146c2e', '#7d3c98', '#a15c00', '#006b75', '#5f6368']; // charts.js reads --series-N when it can
  const SVG = 'http://www.w3.org/2000/svg';

  // ---------- small helpers ----------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'text') el.textContent = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  function s(tag, attrs) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    return el;
  }
  // replaceChildren without the null/false/'' holes (which it would print as text)
  function put(el, ...children) {
    el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false && c !== ''));
  }
  const worst = (statuses) => statuses.reduce((w, x) => (RANK[x] > RANK[w] ? x : w), 'ok');
  function icon(status) {
    const g = s('svg', { viewBox: '0 0 16 16', 'aria-hidden': 'true', focusable: 'false' });
    const f = { fill: 'currentColor' };
    const mark = { class: 'mark', stroke: '#fff', fill: 'none' };
    const dot = { class: 'fillmark', fill: '#fff' };
    if (status === 'ok') {
      g.append(s('circle', { cx: 8, cy: 8, r: 7, ...f }), s('path', { d: 'M4.5 8.2l2.3 2.3 4.7-5', 'stroke-width': 2, ...mark }));
    } else if (status === 'maintenance') {
      g.append(s('rect', { x: 2, y: 2, width: 12, height: 12, rx: 1, transform: 'rotate(45 8 8)', ...f }), s('rect', { x: 6, y: 5, width: 1.6, height: 6, ...dot }), s('rect', { x: 8.6, y: 5, width: 1.6, height: 6, ...dot }));
    } else if (status === 'warning') {
      g.append(s('path', { d: 'M8 1L15.5 14.5H.5z', ...f }), s('rect', { x: 7.1, y: 5.5, width: 1.8, height: 5, ...dot }), s('rect', { x: 7.1, y: 11.5, width: 1.8, height: 1.8, ...dot }));
    } else if (status === 'critical') {
      g.append(s('path', { d: 'M5 1h6l4 4v6l-4 4H5l-4-4V5z', ...f }), s('path', { d: 'M5.5 5.5l5 5M10.5 5.5l-5 5', 'stroke-width': 2, ...mark }));
    } else {
      g.append(s('rect', { x: 1, y: 1, width: 14, height: 14, rx: 3, ...f }), s('path', { d: 'M6 6.2a2 2 0 1 1 2.8 1.8c-.6.3-.8.7-.8 1.3v.5', 'stroke-width': 1.7, ...mark }), s('rect', { x: 7.1, y: 11.3, width: 1.8, height: 1.8, ...dot }));
    }
    return g;
  }
  function badge(status, label) {
    return h('span', { class: 'badge s-' + status, 'data-status': status }, icon(status), label || status);
  }
  // The API's units ("seconds", "ratio", "percent", "bytes", "count") and the charts' short ones.
  function fmt(value, unit) {
    if (value === null || value === undefined || Number.isNaN(value)) return '—';
    if (unit === 'ratio' || unit === 'percent') return (value * 100).toFixed(value >= 0.1 || value === 0 ? 1 : 2) + ' %';
    if (unit === 's' || unit === 'seconds') {
      if (Math.abs(value) < 1) return (value * 1000).toFixed(Math.abs(value) < 0.01 ? 2 : 0) + ' ms';
      if (Math.abs(value) < 120) return (Math.round(value * 100) / 100) + ' s';
      return dur(Math.round(value));
    }
    if (unit === 'bytes' || unit === 'Bps') {
      const k = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      let v = value, i = 0;
      while (Math.abs(v) >= 1024 && i < k.length - 1) { v /= 1024; i++; }
      return v.toFixed(i ? 1 : 0) + ' ' + k[i] + (unit === 'Bps' ? '/s' : '');
    }
    if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en');
    return String(Math.round(value * 100) / 100);
  }
  const p2 = (n) => String(n).padStart(2, '0');
  // UTC, with the zone said: the CLI, the API and the mails use UTC too.
  function fmtTime(ms, withDate) {
    const d = new Date(ms);
    const t = p2(d.getUTCHours()) + ':' + p2(d.getUTCMinutes()) + ':' + p2(d.getUTCSeconds()) + ' UTC';
    return withDate ? d.getUTCFullYear() + '-' + p2(d.getUTCMonth() + 1) + '-' + p2(d.getUTCDate()) + ' ' + t : t;
  }
  const ago = (iso) => fmtTime(typeof iso === 'number' ? iso : Date.parse(iso), true);
  const pct = (x, digits) => (x === null || x === undefined ? '—' : (x * 100).toFixed(digits === undefined ? 2 : digits) + ' %');
  function dur(seconds) {
    if (seconds === null || seconds === undefined) return '—';
    const d = Math.floor(seconds / 86400), hh = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60), sec = seconds % 60;
    return [d ? d + 'd' : '', hh ? hh + 'h' : '', m ? m + 'm' : '', !d && !hh && (sec || !m) ? sec + 's' : ''].filter(Boolean).join(' ');
  }
  const query = () => new URLSearchParams(location.search);
  function range() {
    const r = query().get('range');
    return RANGES[r] ? r : '24h';
  }
  const RANGE_WORDS = { '1h': '1 h', '6h': '6 h', '24h': '24 h', '7d': '7 d', '30d': '30 d' };
  // Keeps `params` in the URL (without a reload or a history entry per keystroke).
  function setQuery(params) {
    const q = query();
    for (const [k, v] of Object.entries(params)) { if (v === null || v === undefined || v === '') q.delete(k); else q.set(k, v); }
    const search = q.toString();
    history.replaceState(null, '', location.pathname + (search ? '?' + search : ''));
  }
  // A table whose cells carry their heading (phones show one card per row, labelled).
  function table(id, heads, rows, opts) {
    opts = opts || {};
    const t = h('table', { id, class: 'stack' + (opts.cls ? ' ' + opts.cls : '') },
      opts.caption ? h('caption', { class: 'sr-only', text: opts.caption }) : null,
      h('thead', {}, h('tr', {}, heads.map((x) => (x instanceof Node ? x : h('th', { scope: 'col' }, x || h('span', { class: 'sr-only', text: 'Actions' })))))),
      h('tbody', {}, rows));
    const labels = heads.map((x) => (x instanceof Node ? x.dataset.label || x.textContent : x || ''));
    for (const tr of t.tBodies[0].rows) [...tr.cells].forEach((td, i) => td.setAttribute('data-label', labels[i] || ''));
    // A region that scrolls must be reachable by keyboard (axe: scrollable-region-focusable).
    return h('div', { class: 'table-wrap' + (opts.tall ? ' tall' : ''), tabindex: '0', role: 'region', 'aria-label': opts.caption || id }, t);
  }
  function labelCells(tr, heads) {
    [...tr.cells].forEach((td, i) => td.setAttribute('data-label', heads[i] || ''));
    return tr;
  }

  // ---------- theme ----------
  // auto (the system's preference), dark or light; stored per browser, on <html data-theme>.
  const THEMES = ['auto', 'dark', 'light'];
  function storedTheme() {
    try { const t = localStorage.getItem('lookout-theme'); return THEMES.includes(t) ? t : 'auto'; } catch (e) { return 'auto'; }
  }
  function applyTheme(theme, tell) {
    if (theme === 'auto') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = theme;
    const b = document.getElementById('theme');
    if (b) {
      b.hidden = false;
      b.textContent = 'Theme: ' + theme;
      b.setAttribute('aria-label', 'Theme: ' + theme + (theme === 'auto' ? ' (follows the system)' : '') + '. Change theme');
    }
    if (tell) document.dispatchEvent(new CustomEvent('lookout-theme', { detail: { theme } }));
  }
  function setupTheme() {
    applyTheme(storedTheme(), false);
    const b = document.getElementById('theme');
    if (b) b.addEventListener('click', () => {
      const next = THEMES[(THEMES.indexOf(storedTheme()) + 1) % THEMES.length];
      try { if (next === 'auto') localStorage.removeItem('lookout-theme'); else localStorage.setItem('lookout-theme', next); } catch (e) { /* private mode: this page only */ }
      applyTheme(next, true);
    });
  }

  // ---------- API and session ----------
  function toLogin() {
    location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
  }
  async function api(path, opts) {
    opts = opts || {};
    const headers = { Accept: 'application/json' };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    if (opts.method && opts.method !== 'GET' && L.session && L.session.csrf_token) headers['X-CSRF-Token'] = L.session.csrf_token;
    const res = await fetch(path, { method: opts.method || 'GET', headers, credentials: 'same-origin', body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    if (res.status === 401) { toLogin(); throw new Error('not logged in'); }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const err = new Error((data && data.error) || res.status + ' ' + res.statusText);
      err.status = res.status;
      throw err;
    }
    return data;
  }
  async function loadSession() {
    try {
      L.session = await api('/api/v1/session');
    } catch (e) {
      // 404: access control is not part of this build yet: everyone may act.
      if (e.status === 404) L.session = { user: null, role: 'admin', csrf_token: null, noauth: true };
      else L.session = { user: null, role: 'viewer', csrf_token: null, error: e.message };
    }
    const who = document.getElementById('who');
    const logout = document.getElementById('logout');
    if (L.session.user) {
      who.textContent = L.session.user + ' (' + L.session.role + ')';
      logout.hidden = false;
      logout.querySelector('input[name=csrf_token]').value = L.session.csrf_token || '';
    } else {
      who.textContent = L.session.noauth ? 'no login configured' : '';
    }
  }
  const isAdmin = () => L.session && L.session.role === 'admin';
  async function loadThresholds() {
    try { L.thresholds = (await api('/api/v1/thresholds')).rules || []; } catch (e) { L.thresholds = []; }
  }
  // The levels of the enabled rule on `metric` whose matchers `labels` satisfy (the most
  // specific one), in the shape charts.js draws: null when no rule applies.
  function thresholdsFor(metric, labels) {
    labels = labels || {};
    let best = null, bestN = -1;
    for (const r of L.thresholds || []) {
      if (r.metric !== metric) continue;
      const m = Object.entries(r.labels || {});
      if (!m.every(([k, v]) => labels[k] === v)) continue;
      if (m.length > bestN) { best = r; bestN = m.length; }
    }
    if (!best) return null;
    const { comparison, warning, critical, warning_clear, critical_clear, unit } = best;
    return { comparison, warning, critical, warning_clear, critical_clear, unit, rule: best.rule };
  }
  // The levels the system checks (cpu, memory, disk:<mount>) are decided on, from their own
  // entries: what makes their card warn, even with the matching alert rule disabled.
  async function checkLevels(names) {
    const out = {};
    await Promise.all(names.map(async (n) => {
      try { const d = await api('/api/v1/checks/' + encodeURIComponent(n) + '?from=-1h'); if (d.thresholds) out[n] = d.thresholds; } catch (e) { /* the rule's, below */ }
    }));
    return out;
  }
  const levelsOf = (levels, check, metric, labels) => levels[check] || thresholdsFor(metric, labels);
  function thresholdText(t, unit) {
    if (!t) return null;
    const u = t.unit || unit;
    const word = t.comparison === 'below' ? 'below' : 'above';
    const parts = [];
    if (t.warning !== null && t.warning !== undefined) parts.push('warning ' + word + ' ' + fmt(t.warning, u));
    if (t.critical !== null && t.critical !== undefined) parts.push('critical ' + word + ' ' + fmt(t.critical, u));
    return parts.join(', ');
  }

  // ---------- live indicator, live feed, polling, refresh ----------
  function setLive(state) {
    L.live = state;
    const el = document.getElementById('live');
    el.hidden = false;
    el.className = 'live live-' + state;
    el.querySelector('.live-text').textContent = state;
    el.title = state === 'live' ? 'Live updates over WebSocket' : 'Live feed down: polling every ' + L.pollMs / 1000 + ' s while reconnecting';
  }
  let backoff = 1000, pollTimer = null, reconnectTimer = null, heardAt = 0;
  // The server sends something at least every 15 s (a heartbeat); silence for 45 s means the
  // connection is dead even if the browser has not noticed: drop it and reconnect.
  setInterval(() => {
    if (L.socket && L.live === 'live' && Date.now() - heardAt > 45000) {
      const dead = L.socket;
      L.socket = null;
      dead.close();
      scheduleReconnect();
    }
  }, 5000);
  function startPolling() {
    if (pollTimer) return;
    pollTimer = setInterval(async () => {
      try { L.polls++; setStatus(await api(statusUrl())); } catch (e) { /* next time */ }
    }, L.pollMs);
  }
  function stopPolling() { clearInterval(pollTimer); pollTimer = null; }
  function connectLive() {
    clearTimeout(reconnectTimer);
    const url = L.liveUrl || (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/v1/live';
    let ws;
    try { ws = new WebSocket(url); } catch (e) { return scheduleReconnect(); }
    L.socket = ws;
    ws.onopen = () => { backoff = 1000; heardAt = Date.now(); setLive('live'); stopPolling(); };
    ws.onmessage = (m) => {
      heardAt = Date.now();
      try { onLive(JSON.parse(m.data)); } catch (e) { console.error(e); }
    };
    ws.onclose = () => { if (L.socket === ws) scheduleReconnect(); };
  }
  function scheduleReconnect() {
    setLive('reconnecting');
    startPolling();
    reconnectTimer = setTimeout(connectLive, backoff);
    backoff = Math.min(backoff * 2, 30000);
  }
  // Live observations are applied at once when the page has not redrawn for 250 ms, else at
  // the end of that window (a leading-edge throttle: a lone change shows in a few ms, a storm
  // of them costs at most four redraws a second). Only the checks that changed are patched.
  const LIVE_MIN_GAP_MS = 250;
  function onLive(msg) {
    if (msg.type === 'status') { delete msg.type; setStatus(msg); }
    else if (msg.type === 'observation') {
      if (L.status && msg.checks.length) {
        if (L.indexOf !== L.status.checks) {
          L.index = new Map(L.status.checks.map((c, i) => [c.check, i]));
          L.indexOf = L.status.checks;
        }
        if (!L.changed) L.changed = new Set();
        for (const c of msg.checks) {
          const i = L.index.get(c.check);
          if (i === undefined) { L.index.set(c.check, L.status.checks.length); L.status.checks.push(c); }
          else L.status.checks[i] = c;
          L.changed.add(c.check);
        }
        if (!L.redraw) {
          const wait = LIVE_MIN_GAP_MS - (Date.now() - (L.drawnAt || 0));
          if (wait <= 0) applyLive();
          else L.redraw = setTimeout(applyLive, wait);
        }
      }
      for (const chart of L.charts) chart.live(msg.at, msg.samples);
    } else if (msg.type === 'event') {
      if (page.onEvent) page.onEvent(msg);
    }
  }
  function applyLive() {
    L.redraw = null;
    L.drawnAt = Date.now();
    const changed = L.changed;
    L.changed = null;
    const checks = L.status.checks;
    setStatus({ ...L.status, checks, overall: worst(checks.map((c) => c.status)) }, changed);
  }
  // Only the system page reads latest values (its filesystems); with thousands of checks the
  // series are most of the status document, so the other pages leave them out.
  function statusUrl() {
    return '/api/v1/status?series=' + (location.pathname.startsWith('/system') ? 'filesystem_usage_ratio' : 'none');
  }
  function setTitle() {
    const name = typeof page.title === 'function' ? page.title(route.arg) : page.title;
    document.title = name + ' · Lookout' + (L.status && !page.noStatus ? ': ' + L.status.overall : '');
  }
  // `changed`: the names of the checks that changed since the last call (live updates), when
  // known: pages and marks patch only those.
  function setStatus(status, changed) {
    if (L.status && (!status.series || !status.series.length)) status.series = L.status.series;
    // Counts the live feed's observations do not carry: keep the last ones.
    if (L.status && !status.alerts && L.status.alerts) status.alerts = L.status.alerts;
    if (L.status && !status.notifiers && L.status.notifiers) status.notifiers = L.status.notifiers;
    L.status = status;
    setTitle();
    document.getElementById('updated').textContent = 'updated ' + fmtTime(Date.now());
    if (page.onStatus) page.onStatus(status, changed);
    // Badges and detail texts of checks shown anywhere on the page.
    const marked = changed && changed.size <= 64
      ? [...changed].flatMap((n) => [...document.querySelectorAll('[data-check-badge="' + CSS.escape(n) + '"],[data-check-detail="' + CSS.escape(n) + '"]')])
      : document.querySelectorAll('[data-check-badge],[data-check-detail]');
    if (marked.length) {
      const byName = changed && changed.size <= 64
        ? new Map(status.checks.filter((c) => changed.has(c.check)).map((c) => [c.check, c]))
        : new Map(status.checks.map((c) => [c.check, c]));
      for (const el of marked) {
        const c = byName.get(el.dataset.checkBadge || el.dataset.checkDetail);
        if (!c) continue;
        if (el.dataset.checkBadge) { if (!el.firstElementChild || el.firstElementChild.dataset.status !== c.status) el.replaceChildren(badge(c.status)); }
        else if (el.textContent !== c.detail) el.textContent = c.detail;
      }
    }
  }
  async function refresh() {
    L.refreshes++;
    try { setStatus(await api(statusUrl())); } catch (e) { /* shown next time */ }
    for (const chart of L.charts) chart.reload();
    if (page.refresh) page.refresh();
  }

  // ---------- charts (charts.js) ----------
  const chart = (opts) => window.lookoutCharts.chart(opts, { api, range, fmt, fmtTime, h, s, put, RANGES, COLORS, L });
  function dropCharts() {
    for (const c of L.charts) if (c.destroy) c.destroy();
    L.charts.length = 0;
  }
  // A chart of one of the API's chart entries (a check's `charts`, contract item 2).
  // `host`: this Lookout's own series only (a system check's, when hosts write to it).
  function apiChart(ch, group, host) {
    const unit = ch.unit === 'seconds' ? 's' : ch.unit === 'percent' ? 'ratio' : ch.unit === 'count' ? '' : ch.unit || '';
    const on = host && !(ch.labels || {}).host ? { host, localHost: true } : {};
    return chart({ title: ch.title, name: ch.metric, labels: ch.labels || {}, unit, rate: !!ch.rate, thresholds: ch.thresholds || null, group, ...on });
  }

  // ---------- pieces shared by pages ----------
  function rangePicker() {
    const cur = range();
    return h('nav', { class: 'range', 'aria-label': 'Time range' }, Object.keys(RANGES).map((r) => {
      const q = query();
      q.set('range', r);
      return h('a', { href: location.pathname + '?' + q, 'aria-current': r === cur ? 'true' : null, text: r });
    }));
  }
  function header(title, withRange, extra, tools) {
    return h('div', { class: 'toolbar' }, h('h1', {}, title, extra ? ' ' : '', extra || ''),
      tools || withRange ? h('div', { class: 'tools' }, tools || null, withRange ? rangePicker() : null) : null);
  }

  // ---------- hosts (issue 19): which host a page shows ----------
  // L.hosts: the rows of /api/v1/hosts (loaded by the pages that choose a host). A series
  // with a `host` label is that host's, one without is this Lookout's; a check named
  // "HOST/CHECK" is HOST's when HOST is a received host (the longest such prefix), as the
  // daemon decides (web/hosts.rs).
  async function loadHosts() {
    try { L.hosts = (await api('/api/v1/hosts')).hosts || []; } catch (e) { L.hosts = L.hosts || []; }
    return L.hosts;
  }
  const localHost = () => ((L.hosts || []).find((x) => x.local) || {}).host || null;
  // The host in the URL, if the daemon knows it; else `fallback` (a name, or '' for all).
  function chosenHost(fallback) {
    const q = query().get('host');
    if (q && (L.hosts || []).some((x) => x.host === q)) return q;
    return fallback;
  }
  function checkHostOf(name) {
    let best = null;
    for (const x of L.hosts || []) if (!x.local && name.startsWith(x.host + '/') && (!best || x.host.length > best.length)) best = x.host;
    return best || localHost();
  }
  const seriesHostOf = (labels) => (labels && labels.host) || localHost();
  // The host selector of a page's header: a labelled <select>, shown when the hub knows more
  // than one host; the choice goes to the URL (`host=`) and the page draws again.
  function hostPicker(withAll) {
    const list = L.hosts || [];
    if (list.length < 2) return null;
    const cur = chosenHost(withAll ? '' : localHost());
    const opts = (withAll ? [['', 'All hosts']] : []).concat(list.map((x) => [x.host, x.host + (x.local ? ' (this Lookout)' : '') + (x.status !== 'ok' ? ' — ' + x.status : '')]));
    return h('label', { class: 'host-pick' }, 'Host',
      h('select', { id: 'host-select', name: 'host', onchange: async (ev) => {
        setQuery({ host: ev.target.value, offset: null });
        keepHostInNav();
        await page.render(route.arg);
        if (L.status) setStatus(L.status);
        const sel = document.getElementById('host-select');
        if (sel) sel.focus();
      } }, opts.map(([v, t]) => h('option', { value: v, selected: v === cur, text: t }))));
  }
  // The nav keeps the chosen host (and range) between the pages that choose one.
  const HOST_PAGES = ['/system', '/checks', '/database', '/redis'];
  function keepHostInNav() {
    const host = query().get('host');
    for (const a of document.querySelectorAll('#nav a')) {
      const path = a.getAttribute('href').split('?')[0];
      const q = new URLSearchParams();
      if (/range=/.test(location.search)) q.set('range', range());
      if (host && HOST_PAGES.includes(path)) q.set('host', host);
      a.setAttribute('href', path + (q.toString() ? '?' + q : ''));
    }
  }
  const STRIP_WORD = { o: 'ok', w: 'warning', c: 'critical', u: 'unknown', m: 'maintenance', '-': 'none' };
  function stripSummary(cells) {
    const counts = {};
    for (const st of cells) counts[st] = (counts[st] || 0) + 1;
    return Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([k, v]) => (k === 'none' ? 'no data' : k) + ' ' + Math.round((v * 100) / cells.length) + '%').join(', ');
  }
  // The API's strip ("oowc-..."): oldest first, one letter per bucket. As one element with a
  // gradient (the list: cheap at 1,000 rows) or one span per bucket (a check's page).
  function miniStrip(name, strip) {
    if (!strip) return h('span', { class: 'muted', text: '—' });
    const cells = [...strip].map((x) => STRIP_WORD[x] || 'none');
    const stops = [];
    const n = cells.length;
    for (let i = 0; i < n;) {
      let j = i;
      while (j < n && cells[j] === cells[i]) j++;
      const v = 'var(--strip-' + cells[i] + ')';
      stops.push(v + ' ' + ((i * 100) / n).toFixed(2) + '% ' + ((j * 100) / n).toFixed(2) + '%');
      i = j;
    }
    return h('span', { class: 'mini-strip', role: 'img', style: 'background:linear-gradient(to right,' + stops.join(',') + ')',
      'aria-label': 'Status of ' + name + ' over ' + range() + ': ' + stripSummary(cells), title: stripSummary(cells) });
  }
  function bigStrip(name, strip, fromMs, toMs) {
    if (!strip) return h('p', { class: 'muted', text: 'No status history.' });
    const cells = [...strip].map((x) => STRIP_WORD[x] || 'none');
    const n = cells.length;
    return h('div', { class: 'strip', role: 'img', 'aria-label': 'Status history of ' + name + ' over ' + range() + ': ' + stripSummary(cells) },
      cells.map((st, i) => h('span', { class: 's-' + st, title: fmtTime(fromMs + ((toMs - fromMs) * (i + 1)) / n, true) + ': ' + (st === 'none' ? 'no data' : st) })));
  }
  // The status strip from the raw history (when the server has no `strip`: older daemons).
  function historyStrip(name) {
    const el = h('div', { class: 'strip', role: 'img', 'aria-label': 'Status history of ' + name + ' (loading)' });
    const from = Date.now() - RANGES[range()] * 1000, to = Date.now();
    api('/api/v1/checks/' + encodeURIComponent(name) + '/history?from=-' + range() + '&limit=5000').then((d) => {
      const n = 48, letters = [];
      const hist = d.history;
      let j = 0, cur = null;
      for (let i = 0; i < n; i++) {
        const end = from + ((to - from) * (i + 1)) / n;
        let w = null;
        while (j < hist.length && hist[j].at_ms <= end) { w = w === null ? hist[j].status : worst([w, hist[j].status]); cur = hist[j].status; j++; }
        letters.push(({ ok: 'o', warning: 'w', critical: 'c', unknown: 'u', maintenance: 'm' })[w || cur] || '-');
      }
      el.replaceWith(bigStrip(name, letters.join(''), from, to));
    }).catch((e) => el.setAttribute('aria-label', 'Status history unavailable: ' + e.message));
    return el;
  }
  // A compact card: the maintenance page's checks in maintenance.
  function checkCard(c) {
    return h('section', { class: 'card check', 'data-check': c.check },
      h('div', { class: 'check-head' },
        h('h3', {}, h('a', { href: '/checks/' + encodeURIComponent(c.check) + location.search, text: c.check })),
        h('span', { 'data-check-badge': c.check }, badge(c.status))),
      h('p', {}, h('span', { class: 'muted' }, c.layer + ' · '), h('span', { class: 'detail', 'data-check-detail': c.check, text: c.detail })));
  }
  function alertLine(a) {
    const sev = a.severity === 'critical' ? 'critical' : a.severity === 'warning' ? 'warning' : 'unknown';
    return h('li', { 'data-alert': a.id }, badge(sev, a.severity), a.flapping ? [' ', badge('warning', 'flapping')] : '', ' ', h('strong', { text: a.rule }), ' — ', a.summary, a.muted_by ? h('span', { class: 'muted' }, a.flapping ? ' (' + a.muted_by + '; quiet until stable)' : ' (muted: ' + a.muted_by + ')') : '', h('span', { class: 'muted' }, ' since ' + ago(a.since)),
      a.acknowledged_by ? h('span', { class: 'acked' }, ' · acknowledged by ' + a.acknowledged_by) : '');
  }
  function eventLine(e) {
    const at = typeof e.at === 'number' ? e.at : Date.parse(e.at);
    return h('li', { 'data-kind': e.kind, 'data-subject': e.subject }, h('time', { datetime: new Date(at).toISOString(), text: fmtTime(at, true) }), h('span', { class: 'kind', text: e.kind.replace('_', ' ') }), h('span', {}, h('strong', { text: e.subject }), ' ', e.message));
  }
  async function alertsNow() {
    try { return (await api('/api/v1/alerts')).alerts; } catch (e) { return []; }
  }
  // Firing = firing and not muted or silenced (the status' `alerts`, else counted here).
  function alertCounts(st, alerts) {
    if (st && st.alerts) return st.alerts;
    const firing = alerts.filter((a) => a.state === 'firing');
    return {
      firing: firing.filter((a) => !a.muted_by).length,
      silenced: firing.filter((a) => a.muted_by && a.muted_by.startsWith('silenced')).length,
      muted: firing.filter((a) => a.muted_by && !a.muted_by.startsWith('silenced')).length,
      acknowledged: firing.filter((a) => a.acknowledged_by).length,
    };
  }
  const plural = (n, one, many) => n.toLocaleString('en') + ' ' + (n === 1 ? one : many || one + 's');

  // ---------- pages ----------
  const main = document.getElementById('main');
  const pages = {};

  pages.overview = {
    title: 'Overview',
    async render() {
      const banners = h('div', { id: 'banners' });
      const tiles = h('div', { class: 'tiles', id: 'tiles' });
      const events = h('ul', { class: 'timeline', id: 'recent' });
      const [lv] = await Promise.all([checkLevels(['cpu', 'memory']), loadHosts()]);
      // With hosts writing to this Lookout: its own series (the others' are on their pages).
      const on = (L.hosts || []).length > 1 && localHost() ? { host: localHost(), localHost: true } : {};
      put(main, header('Overview', false, h('span', { id: 'overall' })), banners, tiles,
        h('h2', { text: 'System, last hour' }),
        h('div', { class: 'grid' },
          chart({ title: 'CPU', name: 'cpu_usage_ratio', unit: 'ratio', thresholds: levelsOf(lv, 'cpu', 'cpu_usage_ratio'), range: '1h', group: 'overview', ...on }),
          chart({ title: 'Memory', name: 'memory_usage_ratio', unit: 'ratio', thresholds: levelsOf(lv, 'memory', 'memory_usage_ratio'), range: '1h', group: 'overview', ...on })),
        h('h2', {}, 'Recent events ', h('a', { href: '/events', text: '(all)' })), events);
      this.alerts = await alertsNow();
      if (L.status) this.onStatus(L.status);
      await this.refresh(true);
    },
    async refresh(skipAlerts) {
      if (!skipAlerts) this.alerts = await alertsNow();
      if (L.status) this.onStatus(L.status);
      try {
        const ev = (await api('/api/v1/events?from=-24h&limit=10')).events;
        const ul = document.getElementById('recent');
        if (ul) ul.replaceChildren(...(ev.length ? ev.map(eventLine) : [h('li', { class: 'muted', text: 'No events in the last 24 hours.' })]));
      } catch (e) { /* keep */ }
    },
    onStatus(st) {
      const tiles = document.getElementById('tiles');
      if (!tiles) return;
      document.getElementById('overall').replaceChildren(badge(st.overall));
      tiles.replaceChildren(...LAYERS.map((layer) => {
        const checks = st.checks.filter((c) => c.layer === layer);
        if (!checks.length) {
          return h('div', { class: 'tile t-none', 'data-layer': layer, 'data-status': 'none' }, h('h2', {}, layer), h('p', { class: 'reason', text: 'No checks configured for this layer.' }));
        }
        const w = worst(checks.map((c) => c.status));
        const top = checks.filter((c) => c.status === w).sort((a, b) => a.check.localeCompare(b.check))[0];
        const n = checks.length;
        const count = (pred) => checks.filter(pred).length;
        const failing = count((c) => c.status === 'critical' || c.status === 'unknown');
        const warning = count((c) => c.status === 'warning');
        const maint = count((c) => c.status === 'maintenance');
        const parts = [];
        if (failing) parts.push(failing + ' of ' + n + ' failing');
        if (warning) parts.push((parts.length ? warning : warning + ' of ' + n) + ' warning');
        if (maint) parts.push((parts.length ? maint : maint + ' of ' + n) + ' in maintenance');
        if (!parts.length) parts.push(n + ' of ' + n + ' ok');
        return h('a', { class: 'tile t-' + w, href: LAYER_PAGE[layer], 'data-layer': layer, 'data-status': w },
          h('h2', {}, h('span', { text: layer }), badge(w)),
          h('div', { class: 'value', text: parts.join(', ') }),
          h('p', { class: 'reason' }, h('strong', { text: top.check + ': ' }), top.detail));
      }));
      const banners = document.getElementById('banners');
      const alerts = this.alerts || [];
      const counts = alertCounts(st, alerts);
      const firing = alerts.filter((a) => a.state === 'firing' && !a.muted_by);
      const maint = st.checks.filter((c) => c.status === 'maintenance');
      const quiet = [];
      if (counts.silenced) quiet.push(counts.silenced + ' silenced');
      if (counts.muted) quiet.push(counts.muted + ' muted');
      put(banners,
        counts.firing ? h('div', { class: 'banner firing', role: 'alert' }, icon('critical'), h('div', {}, h('strong', {}, plural(counts.firing, 'firing alert') + ' '), h('a', { href: '/alerts', text: 'see alerts' }), h('ul', {}, firing.map(alertLine)))) : '',
        quiet.length ? h('p', { class: 'banner quiet', id: 'muted-alerts' }, 'Also ' + quiet.join(' and ') + ' (firing, not notified). ', h('a', { href: '/alerts', text: 'see alerts' })) : '',
        st.notifiers && st.notifiers.configured === 0 ? h('div', { class: 'banner warn', id: 'no-notifier', role: 'status' }, icon('warning'), h('div', {}, h('strong', { text: 'No notifier is configured: ' }), 'alerts show here but reach nobody. Add a [[notifier]] (email, webhook or Alertmanager) to the config and check it with lookout alerts test.')) : '',
        st.maintenance ? h('div', { class: 'banner maintenance', role: 'status', id: 'maintenance-banner' }, icon('maintenance'), h('div', {}, h('strong', { text: (st.maintenance.planned ? 'Maintenance' : 'Unplanned maintenance') + ' (' + st.maintenance.mode + ' mode): ' }), st.maintenance.reason, st.maintenance.planned_end ? ', planned until ' + ago(st.maintenance.planned_end) : '', maint.length ? '. ' + plural(maint.length, 'check') + ' in maintenance, their alerts muted. ' : '. ', h('a', { href: '/maintenance', text: 'details' })))
          : maint.length ? h('div', { class: 'banner maintenance', role: 'status' }, icon('maintenance'), h('div', {}, h('strong', { text: 'Maintenance: ' }), maint.map((c) => c.check + ' (' + c.detail + ')').join('; '), ' ', h('a', { href: '/maintenance', text: 'details' }))) : '');
    },
    onEvent(e) {
      const ul = document.getElementById('recent');
      if (ul) { ul.prepend(eventLine(e)); while (ul.children.length > 10) ul.lastChild.remove(); }
      if (e.kind === 'alert') this.refresh();
      if (e.kind === 'maintenance') refresh();
    },
  };

  pages.system = {
    title: 'System',
    async render() {
      dropCharts();
      await loadHosts();
      const local = localHost();
      const host = chosenHost(local);
      const isLocal = !host || host === local;
      this.host = host;
      const row = (L.hosts || []).find((x) => x.host === host);
      const mine = (x) => !host || seriesHostOf(x.labels) === host;
      const mounts = [...new Set((L.status ? L.status.series : []).filter((x) => x.name === 'filesystem_usage_ratio' && mine(x)).map((x) => x.labels.mountpoint))].sort();
      const g = 'system';
      // This Lookout's system checks decide on their own levels; a received host's values on
      // the hub's alert rules (with its host label).
      const lv = isLocal ? await checkLevels(['cpu', 'memory', ...mounts.map((m) => 'disk:' + m)]) : {};
      const hl = isLocal ? {} : { host };
      const on = host ? { host, localHost: isLocal } : {};
      const hostName = host && (L.hosts || []).length > 1 ? ' — ' + host : '';
      put(main, header('System' + hostName, true, null, hostPicker(false)),
        isLocal ? null : h('p', { class: 'lead', id: 'host-note' }, host + '\u2019s series, under the names of this Lookout\u2019s own; sent by ' + senderText(row || { kind: '' }) + '. ',
          h('a', { href: '/hosts/' + encodeURIComponent(host), text: 'Everything ' + host + ' sends' }), '.'),
        h('h2', { text: 'CPU and memory' }),
        h('div', { class: 'grid' },
          chart({ title: 'CPU busy', name: 'cpu_usage_ratio', unit: 'ratio', thresholds: levelsOf(lv, 'cpu', 'cpu_usage_ratio', hl), group: g, ...on }),
          chart({ title: 'Memory used', name: 'memory_usage_ratio', unit: 'ratio', thresholds: levelsOf(lv, 'memory', 'memory_usage_ratio', hl), group: g, ...on }),
          chart({ title: 'Load (1 min)', name: 'load1', unit: '', thresholds: thresholdsFor('load1', hl), group: g, ...on })),
        h('h2', { text: 'Disk' }),
        h('div', { class: 'grid' }, mounts.length ? mounts.map((m) => chart({ title: 'Filesystem ' + m, name: 'filesystem_usage_ratio', labels: { mountpoint: m }, unit: 'ratio', thresholds: levelsOf(lv, 'disk:' + m, 'filesystem_usage_ratio', { mountpoint: m, ...hl }), group: g, ...on }))
          : chart({ title: 'Filesystems', name: 'filesystem_usage_ratio', unit: 'ratio', thresholds: thresholdsFor('filesystem_usage_ratio', hl), group: g, ...on })),
        h('h2', { text: 'Network' }),
        h('div', { class: 'grid' },
          chart({ title: 'Received', name: 'network_receive_bytes_total', unit: 'Bps', rate: true, group: g, ...on }),
          chart({ title: 'Transmitted', name: 'network_transmit_bytes_total', unit: 'Bps', rate: true, group: g, ...on })),
        h('h2', { text: 'System checks' }),
        h('div', { id: 'syschecks' }));
      this.key = null;
      this.onStatus(L.status);
    },
    onStatus(st) {
      const box = document.getElementById('syschecks');
      if (!box || !st) return;
      const sys = st.checks.filter((c) => c.layer === 'system' && (!this.host || checkHostOf(c.check) === this.host));
      const key = sys.map((c) => c.check + c.status + c.value + c.detail).join();
      if (key === this.key) return;
      this.key = key;
      put(box, table('system-checks', ['Check', 'Status', 'Value', 'Detail'], sys.map((c) => h('tr', {}, h('td', { text: c.check }), h('td', {}, badge(c.status)), h('td', { class: 'num', text: fmt(c.value, 'ratio') }), h('td', { text: c.detail }))), { caption: 'System checks', tall: true }));
    },
  };

  // ---------- the checks list: compact, sortable, filterable, fast at 1,000 checks ----------
  // Its state is in the URL: q (text), status (a status or "bad"), layer, sort (column, "-" for
  // descending). `fixedLayer`: the database and Redis pages list their layer only.
  const UNIT = { seconds: 's', ratio: 'ratio', percent: 'ratio', bytes: 'bytes', count: '' };
  function valueText(c) {
    if (c.unit === undefined) return fmt(c.value, c.layer === 'system' ? 'ratio' : c.layer === 'business' ? '' : 's');
    return c.unit === null ? (c.value === null || c.value === undefined ? '—' : fmt(c.value, '')) : fmt(c.value, UNIT[c.unit] === undefined ? c.unit : UNIT[c.unit]);
  }
  const COLLATE = new Intl.Collator('en').compare; // localeCompare's order, without its per-call setup
  const COLUMNS = [
    { key: 'status', label: 'Status', cmp: (a, b) => RANK[a.status] - RANK[b.status] },
    { key: 'name', label: 'Name', cmp: (a, b) => COLLATE(a.check, b.check) },
    { key: 'layer', label: 'Layer', cmp: (a, b) => a.layer.localeCompare(b.layer) },
    { key: 'target', label: 'Target', cmp: (a, b) => (a.target || '').localeCompare(b.target || '') },
    { key: 'value', label: 'Last value', cmp: (a, b) => (a.value === null || a.value === undefined ? -Infinity : a.value) - (b.value === null || b.value === undefined ? -Infinity : b.value) },
    { key: 'uptime', label: 'Uptime', cmp: (a, b) => (a.uptime === null || a.uptime === undefined ? -1 : a.uptime) - (b.uptime === null || b.uptime === undefined ? -1 : b.uptime) },
    { key: 'history', label: 'History' },
  ];
  function checksList(fixedLayer) {
    const self = {
      entries: [], // the API's entries, merged with the live status
      rows: new Map(), // name -> tr
      async load() {
        try {
          const host = chosenHost('');
          const d = await api('/api/v1/checks?from=-' + range() + (host ? '&host=' + encodeURIComponent(host) : ''));
          this.entries = d.checks;
          this.fromApi = true;
          // The list has every check's latest result: the page skips /api/v1/status (half the
          // bytes at 1,000 checks); the live feed's greeting brings the rest (alerts, ...).
          if (!L.status) L.status = { checks: d.checks.map((e) => ({ check: e.check, layer: e.layer, status: e.status, value: e.value, detail: e.detail, at: e.at })), overall: worst(d.checks.map((e) => e.status)), series: [] };
        } catch (e) {
          // A daemon without /api/v1/checks: the status' checks (no target, uptime or strip).
          if (!L.status) { try { L.status = await api(statusUrl()); } catch (err) { /* said by the list */ } }
          this.entries = (L.status ? L.status.checks : []).map((c) => ({ ...c }));
          this.fromApi = false;
        }
        this.merge(L.status);
      },
      merge(st) {
        if (!st) return false;
        const byName = new Map(st.checks.map((c) => [c.check, c]));
        let statusChanged = false;
        for (const e of this.entries) {
          const c = byName.get(e.check);
          if (!c) continue;
          if (e.status !== c.status) statusChanged = true;
          e.status = c.status; e.value = c.value; e.detail = c.detail; e.at = c.at;
        }
        return statusChanged;
      },
      state() {
        const q = query();
        return { q: q.get('q') || '', status: q.get('status') || '', layer: fixedLayer || q.get('layer') || '', sort: q.get('sort') || '-status' };
      },
      visible() {
        const st = this.state();
        const words = st.q.toLowerCase().split(/\s+/).filter(Boolean);
        let list = this.entries.filter((e) => (fixedLayer ? e.layer === fixedLayer : e.layer !== 'system' || st.layer === 'system'));
        if (st.layer) list = list.filter((e) => e.layer === st.layer);
        if (st.status === 'bad') list = list.filter((e) => RANK[e.status] >= RANK.warning);
        else if (st.status) list = list.filter((e) => e.status === st.status);
        if (words.length) list = list.filter((e) => { const t = (e.check + ' ' + (e.target || '') + ' ' + e.layer + ' ' + (e.type || '')).toLowerCase(); return words.every((w) => t.includes(w)); });
        const desc = st.sort.startsWith('-');
        const col = COLUMNS.find((c) => c.key === st.sort.replace(/^-/, '') && c.cmp) || COLUMNS[0];
        const byName = COLUMNS[1].cmp;
        list.sort((a, b) => (desc ? -col.cmp(a, b) : col.cmp(a, b)) || byName(a, b));
        return list;
      },
      row(e) {
        const tr = h('tr', { 'data-check': e.check },
          h('td', { 'data-check-badge': e.check }, badge(e.status)),
          h('td', {}, h('a', { href: '/checks/' + encodeURIComponent(e.check) + (query().get('range') ? '?range=' + range() : ''), text: e.check })),
          h('td', { text: e.layer }),
          h('td', { class: 'target', text: e.target || '' }),
          h('td', { class: 'num', 'data-value': '', title: e.detail || '', text: valueText(e) }),
          h('td', { class: 'num', text: pct(e.uptime) }),
          h('td', {}, miniStrip(e.check, e.strip)));
        return labelCells(tr, COLUMNS.map((c) => c.label));
      },
      draw() {
        const tbody = document.querySelector('#checks-list tbody');
        if (!tbody) return;
        const list = this.visible();
        const st = this.state();
        this.rows = new Map();
        const frag = document.createDocumentFragment();
        for (const e of list) { const tr = this.row(e); this.rows.set(e.check, tr); frag.append(tr); }
        tbody.replaceChildren(frag);
        for (const th of document.querySelectorAll('#checks-list th[data-sort]')) {
          const k = th.dataset.sort;
          th.setAttribute('aria-sort', st.sort === k ? 'ascending' : st.sort === '-' + k ? 'descending' : 'none');
        }
        const total = this.count(list.length);
        if (!list.length) tbody.append(h('tr', {}, h('td', { colspan: COLUMNS.length, class: 'muted', text: total ? 'No check matches these filters.' : (fixedLayer ? 'No ' + fixedLayer + ' check is configured.' : 'No check is configured ([[check]] in the config).') })));
      },
      // "12 of 1,000 checks shown; …" under the filters; returns the total.
      count(shown) {
        const st = this.state();
        const total = this.entries.filter((e) => (fixedLayer ? e.layer === fixedLayer : e.layer !== 'system' || st.layer === 'system')).length;
        const el = document.getElementById('checks-count');
        const text = (shown === total ? plural(total, 'check') : shown.toLocaleString('en') + ' of ' + plural(total, 'check') + ' shown') + (this.fromApi ? '; uptime and history over ' + RANGE_WORDS[range()] + '.' : '.');
        if (el && el.textContent !== text) el.textContent = text;
        return total;
      },
      // Live: patch the changed rows in place; when a status moved, put the rows the order or
      // the filters moved where they now belong (a handful of DOM moves, not 1,000 new rows).
      onStatus(st, changed) {
        if (!changed) {
          if (this.merge(st)) { this.draw(); return; }
          for (const e of this.entries) this.patch(e);
          return;
        }
        if (!this.byName || this.byNameOf !== this.entries) {
          this.byName = new Map(this.entries.map((e) => [e.check, e]));
          this.byNameOf = this.entries;
        }
        const now = new Map(st.checks.filter((c) => changed.has(c.check)).map((c) => [c.check, c]));
        let moved = false;
        for (const [name, c] of now) {
          const e = this.byName.get(name);
          if (!e) continue;
          if (e.status !== c.status) moved = true;
          e.status = c.status; e.value = c.value; e.detail = c.detail; e.at = c.at;
          this.patch(e);
        }
        if (moved) this.reorder();
      },
      // One row's status, value and detail (its strip and uptime come with the next refresh).
      patch(e) {
        const tr = this.rows.get(e.check);
        if (!tr) return;
        const b = tr.cells[0];
        if (!b.firstElementChild || b.firstElementChild.dataset.status !== e.status) b.replaceChildren(badge(e.status));
        const v = tr.cells[4];
        const text = valueText(e);
        if (v.textContent !== text) v.textContent = text;
        if (v.title !== (e.detail || '')) v.title = e.detail || '';
      },
      // The visible rows in their order, moving only the rows that are out of place.
      reorder() {
        const tbody = document.querySelector('#checks-list tbody');
        if (!tbody) return;
        const list = this.visible();
        if (!list.length || !this.rows.size) { this.draw(); return; }
        const want = list.map((e) => { let tr = this.rows.get(e.check); if (!tr) { tr = this.row(e); this.rows.set(e.check, tr); } return tr; });
        const keep = new Set(want);
        for (const [name, tr] of this.rows) if (!keep.has(tr)) { tr.remove(); this.rows.delete(name); }
        let cur = tbody.firstElementChild;
        for (const tr of want) {
          // A row that moved down is skipped here and put in its place when its turn comes.
          while (cur && cur !== tr && !keep.has(cur)) { const next = cur.nextElementSibling; cur.remove(); cur = next; }
          if (cur === tr) { cur = cur.nextElementSibling; continue; }
          if (cur && cur.nextElementSibling === tr) { const out = cur; cur = tr.nextElementSibling; out.remove(); continue; }
          tbody.insertBefore(tr, cur);
        }
        while (cur) { const next = cur.nextElementSibling; cur.remove(); cur = next; }
        this.count(list.length);
      },
      controls() {
        const st = this.state();
        const set = (k) => (ev) => { setQuery({ [k]: ev.target.value }); this.draw(); };
        const heads = COLUMNS.map((c) => (c.cmp
          ? h('th', { scope: 'col', 'data-sort': c.key, 'data-label': c.label }, h('button', { type: 'button', text: c.label, onclick: () => {
            const cur = this.state().sort;
            setQuery({ sort: cur === '-' + c.key ? c.key : cur === c.key ? '-' + c.key : (c.key === 'status' || c.key === 'value' ? '-' : '') + c.key });
            this.draw();
          } }))
          : h('th', { scope: 'col', 'data-label': c.label, text: c.label })));
        return [
          h('form', { class: 'filters', role: 'search', onsubmit: (e) => e.preventDefault() },
            h('label', {}, 'Filter', h('input', { type: 'search', id: 'check-filter', name: 'q', value: st.q, placeholder: 'name, target, type', oninput: set('q') })),
            h('label', {}, 'Status', h('select', { id: 'status-filter', name: 'status', onchange: set('status') },
              [['', 'any'], ['bad', 'not ok'], ...STATUSES.map((x) => [x, x])].map(([v, t]) => h('option', { value: v, selected: st.status === v, text: t })))),
            fixedLayer ? null : h('label', {}, 'Layer', h('select', { id: 'layer-filter', name: 'layer', onchange: set('layer') },
              [['', 'all but system'], ...LAYERS.map((x) => [x, x])].map(([v, t]) => h('option', { value: v, selected: st.layer === v, text: t }))))),
          h('p', { class: 'count muted', id: 'checks-count', role: 'status' }),
          h('div', { class: 'table-wrap tall', tabindex: '0', role: 'region', 'aria-label': 'Checks' },
            h('table', { id: 'checks-list', class: 'list stack' }, h('caption', { class: 'sr-only', text: 'Checks, sortable by column' }), h('thead', {}, h('tr', {}, heads)), h('tbody', {}))),
        ];
      },
    };
    return self;
  }
  function listPage(title, fixedLayer, withCharts) {
    return {
      title,
      async render() {
        dropCharts();
        this.list = checksList(fixedLayer);
        await loadHosts();
        const host = chosenHost('');
        const hostName = host && (L.hosts || []).length > 1 ? ' — ' + host : '';
        put(main, header(title + hostName, true, null, hostPicker(true)), this.list.controls(), withCharts ? h('div', { id: 'layer-charts' }) : null);
        await this.list.load();
        this.list.draw();
        if (withCharts) await this.charts();
      },
      // The database and Redis pages: each check's charts (the first few; the rest on their pages).
      async charts() {
        const box = document.getElementById('layer-charts');
        const shown = this.list.visible().slice(0, 6);
        const cards = await Promise.all(shown.map(async (e) => {
          let d = null;
          try { d = await api('/api/v1/checks/' + encodeURIComponent(e.check) + '?from=-' + range()); } catch (err) { /* charts unavailable */ }
          return h('section', { class: 'card check', 'data-check': e.check },
            h('div', { class: 'check-head' }, h('h2', {}, h('a', { href: '/checks/' + encodeURIComponent(e.check), text: e.check })), h('span', { 'data-check-badge': e.check }, badge(e.status))),
            h('p', {}, h('span', { class: 'detail', 'data-check-detail': e.check, text: e.detail })),
            d && d.charts && d.charts.length ? h('div', { class: 'grid' }, d.charts.map((ch) => apiChart(ch, fixedLayer))) : h('p', { class: 'muted', text: 'No charts.' }));
        }));
        put(box, shown.length ? h('h2', { text: 'Charts' }) : null, cards);
      },
      ownStatus: () => true,
      async refresh() { if (this.list) { await this.list.load(); this.list.draw(); } },
      onStatus(st, changed) { if (this.list) this.list.onStatus(st, changed); },
    };
  }

  // ---------- a check's own page ----------
  const TYPE_WORDS = { http: 'HTTP', tcp: 'TCP', dns: 'DNS', postgres: 'PostgreSQL', mysql: 'MySQL', sqlite: 'SQLite', redis: 'Redis', log: 'log file', prometheus: 'Prometheus query' };
  const checkPage = {
    title: (name) => name + ' · Checks',
    async render(name) {
      dropCharts();
      let d;
      try {
        d = await api('/api/v1/checks/' + encodeURIComponent(name) + '?from=-' + range());
      } catch (e) {
        const c = L.status && L.status.checks.find((x) => x.check === name);
        if (e.status === 404 || !c) {
          put(main, header('Check ' + name, false), h('p', { class: 'error', text: 'No check named "' + name + '".' }), h('p', {}, h('a', { href: '/checks', text: 'All checks' })));
          return;
        }
        d = { ...c, charts: [], recent: [] }; // a daemon without the detail endpoint
      }
      this.data = d;
      const facts = [];
      const fact = (k, v) => (v === null || v === undefined || v === '' ? null : [h('dt', { text: k }), h('dd', {}, v)]);
      const about = [fact('Type', TYPE_WORDS[d.type] || d.type), fact('Layer', d.layer), fact('Target', d.target ? h('code', { text: d.target }) : null),
        fact('Interval', d.interval_s ? 'every ' + fmt(d.interval_s, 's') : null), fact('Timeout', d.timeout_s ? fmt(d.timeout_s, 's') : null),
        fact('Last result', d.at ? ago(d.at) : null),
        fact('Decided on', d.thresholds ? [thresholdText(d.thresholds, d.thresholds.unit), ' ', h('span', { class: 'muted', text: '(' + d.thresholds.metric + ')' })] : null)].filter(Boolean);
      facts.push(h('section', { class: 'card', id: 'check-about' }, h('h2', { text: 'About' }), h('dl', { class: 'figures' }, about)));
      if ('uptime_24h' in d || 'uptime' in d) {
        facts.push(h('section', { class: 'card', id: 'uptime' }, h('h2', { text: 'Uptime' }), h('dl', { class: 'figures' },
          ('uptime_24h' in d) ? [fact('24 h', pct(d.uptime_24h, 3)), fact('7 d', pct(d.uptime_7d, 3)), fact('30 d', pct(d.uptime_30d, 3))] : fact(RANGE_WORDS[range()], pct(d.uptime, 3)))));
      }
      if (d.phases) {
        const ph = d.phases;
        facts.push(h('section', { class: 'card', id: 'phases' }, h('h2', { text: 'Timings (latest)' }), h('dl', { class: 'figures' },
          [['DNS', ph.dns_s], ['Connect', ph.connect_s], ['TLS', ph.tls_s], ['First byte', ph.ttfb_s], ['Total', ph.total_s]].map(([k, v]) => fact(k, v === null || v === undefined ? null : fmt(v, 's'))).filter(Boolean))));
      }
      if (d.certificate) {
        const c = d.certificate;
        facts.push(h('section', { class: 'card', id: 'certificate' }, h('h2', { text: 'Certificate' }), h('dl', { class: 'figures' },
          fact('Expires', ago(c.expires_at_ms || c.expires_at)), fact('Days left', c.days_left === null || c.days_left === undefined ? null : String(c.days_left)), fact('Subject', c.subject))));
      }
      const now = Date.now();
      const fromMs = d.from_ms || now - RANGES[range()] * 1000, toMs = d.to_ms || now;
      // This Lookout's system checks chart its own series, not every host's of that name.
      if (d.type === 'system' && d.charts && d.charts.some((ch) => !(ch.labels || {}).host)) await loadHosts();
      const own = (L.hosts || []).length > 1 ? localHost() : null;
      put(main, header(name, true, h('span', { 'data-check-badge': name }, badge(d.status))),
        h('p', { class: 'lead' }, h('span', { class: 'detail', 'data-check-detail': name, text: d.detail })),
        h('div', { class: 'facts' }, facts),
        h('h2', { text: 'Status over ' + RANGE_WORDS[range()] }), d.strip ? bigStrip(name, d.strip, fromMs, toMs) : historyStrip(name),
        d.charts && d.charts.length ? [h('h2', { text: 'Charts' }), h('div', { class: 'grid' }, d.charts.map((ch) => apiChart(ch, 'check', d.type === 'system' ? own : null)))] : null,
        h('h2', { text: 'Recent results' }), h('div', { id: 'recent-box' }, this.recent(d)),
        h('p', {}, h('a', { href: '/checks', text: 'All checks' })));
    },
    recent(d) {
      const unit = UNIT[d.unit] === undefined ? d.unit : UNIT[d.unit];
      const rows = (d.recent || []).map((r) => h('tr', {}, h('td', { text: ago(r.at_ms || r.at) }), h('td', {}, badge(r.status)), h('td', { class: 'num', text: d.unit === undefined ? fmt(r.value, '') : fmt(r.value, unit) }), h('td', { text: r.detail })));
      return rows.length ? table('recent', ['Time', 'Status', 'Value', 'Detail'], rows, { caption: 'Recent results, newest first' }) : h('p', { class: 'muted', text: 'No results yet.' });
    },
    async refresh() {
      try {
        const d = await api('/api/v1/checks/' + encodeURIComponent(route.arg) + '?from=-' + range());
        const box = document.getElementById('recent-box');
        if (box) put(box, this.recent(d));
      } catch (e) { /* keep */ }
    },
  };
  const checksPage = listPage('Checks', null, false);
  pages.checks = {
    title: (arg) => (arg ? checkPage.title(arg) : 'Checks'),
    render: (arg) => (arg ? checkPage.render(arg) : checksPage.render()),
    refresh: () => (route.arg ? checkPage.refresh() : checksPage.refresh()),
    onStatus: (st, changed) => (route.arg ? null : checksPage.onStatus(st, changed)),
    ownStatus: (arg) => !arg,
  };
  pages.database = listPage('Database', 'database', true);
  pages.redis = listPage('Redis', 'redis', true);

  function impactText(i) {
    const parts = [i.blocked_requests + ' blocked requests'];
    if (i.sessions_at_start !== null && i.sessions_at_start !== undefined) parts.push(i.sessions_at_start + ' sessions at start');
    if (i.active_jobs !== null && i.active_jobs !== undefined) parts.push(i.active_jobs + ' running jobs');
    if (i.invalidated_sessions !== null && i.invalidated_sessions !== undefined) parts.push(i.invalidated_sessions + ' invalidated sessions');
    return parts.join(', ');
  }
  const ORIGIN = { detected: 'detected from the app', planned: 'planned in the config', cli: 'started with lookout maintenance start', dashboard: 'started from the dashboard' };
  pages.maintenance = {
    title: 'Maintenance',
    async render() {
      put(main, header('Maintenance', true), h('div', { id: 'maintenance-state' }, h('p', { class: 'muted', text: 'Loading…' })), this.form());
      await this.refresh();
    },
    form() {
      if (!isAdmin()) return h('p', { class: 'muted', id: 'maintenance-help', text: 'Only admins can start or stop maintenance; you are logged in as a viewer.' });
      const msg = h('p', { class: 'msg', role: 'status', id: 'maintenance-msg' });
      const f = h('form', { class: 'silence', id: 'maintenance-form' },
        h('label', {}, 'Reason', h('input', { name: 'reason', required: true, placeholder: 'database upgrade' })),
        h('label', {}, 'For', h('select', { name: 'for' }, ['15m', '30m', '1h', '2h', '4h', '8h', '24h'].map((d) => h('option', { value: d, selected: d === '30m', text: d })))),
        h('label', {}, 'Mode', h('select', { name: 'mode' }, ['normal', 'emergency', 'test'].map((m) => h('option', { value: m, text: m })))),
        h('div', {}, h('button', { type: 'submit', class: 'primary', text: 'Start maintenance' })));
      const done = (text, err) => { msg.className = err ? 'msg error' : 'msg'; msg.textContent = text; };
      f.addEventListener('submit', async (e) => {
        e.preventDefault();
        const d = new FormData(f);
        try {
          await api('/api/v1/maintenance/start', { method: 'POST', body: { for: d.get('for'), reason: d.get('reason'), mode: d.get('mode') } });
          done('Maintenance window started.');
          f.reset();
          this.refresh();
        } catch (err) { done('Not started: ' + err.message, true); }
      });
      return h('section', { class: 'card', id: 'maintenance-section' }, h('h2', { text: 'Start a maintenance window' }),
        h('p', { class: 'muted', text: 'Alerts that maintenance causes (the application checks and what depends on them) are muted while it lasts and for a short grace after; database, Redis and host alerts keep coming.' }), f, msg);
    },
    async refresh() {
      const box = document.getElementById('maintenance-state');
      if (!box) return;
      try {
        const since = '-' + (range() === '1h' || range() === '6h' ? '24h' : range());
        const [m, r] = await Promise.all([api('/api/v1/maintenance?since=' + since), api('/api/v1/maintenance/report?since=' + since)]);
        const av = r.availability.overall;
        const figures = h('div', { class: 'card', id: 'maintenance-report' }, h('h2', { text: 'Figures (' + since.slice(1) + ')' }),
          h('dl', { class: 'figures' },
            h('dt', { text: 'Periods' }), h('dd', { text: String(r.periods.count) }),
            h('dt', { text: 'In maintenance' }), h('dd', { text: dur(Math.round(r.periods.total_seconds)) + ' (planned ' + dur(Math.round(r.periods.planned_seconds)) + ', unplanned ' + dur(Math.round(r.periods.unplanned_seconds)) + ')' }),
            h('dt', { text: 'Mean duration' }), h('dd', { text: dur(Math.round(r.periods.mean_seconds)) }),
            h('dt', { text: 'Emergency mode' }), h('dd', { text: dur(Math.round(r.periods.emergency_seconds)) }),
            h('dt', { text: 'Overrun' }), h('dd', { text: dur(Math.round(r.periods.overrun_seconds)) }),
            h('dt', { text: 'Availability' }), h('dd', { text: pct(av.availability, 3) }),
            h('dt', { text: 'Availability without planned maintenance' }), h('dd', { text: pct(av.availability_excluding_planned, 3) }),
            h('dt', { text: 'Blocked requests' }), h('dd', { text: String(r.impact.blocked_requests) })));
        this.active = m.active;
        const admin = isAdmin();
        const act = (path, label, body, cls) => h('button', { class: cls, type: 'button', text: label, onclick: async (ev) => {
          ev.target.disabled = true;
          try { await api(path, { method: 'POST', body }); } catch (err) { alert(label + ' failed: ' + err.message); }
          this.refresh();
        } });
        const o = m.open;
        const manualActive = m.windows.some((w) => w.active && w.id !== null);
        const current = o
          ? h('div', { class: 'banner maintenance', role: 'status', id: 'maintenance-now' }, icon('maintenance'), h('div', {},
              h('strong', { text: (o.planned ? 'In maintenance' : 'Unplanned maintenance') + ' (' + o.mode + ' mode): ' }), o.reason,
              h('p', { text: 'Since ' + ago(o.start) + ' (' + dur(o.duration_seconds) + '), ' + (ORIGIN[o.origin] || o.origin) + (o.planned_end ? ', planned until ' + ago(o.planned_end) : ', no planned end') + (o.overrun_seconds ? ', running over by ' + dur(o.overrun_seconds) : '') + '.' }),
              h('p', { text: 'Impact so far: ' + impactText(o.impact) + '.' }),
              admin && manualActive ? h('p', {}, act('/api/v1/maintenance/extend', 'Extend 15 min', { by: '15m' }, 'plain'), ' ', act('/api/v1/maintenance/stop', 'Stop maintenance', undefined, 'danger')) : null))
          : h('p', { class: 'card', id: 'maintenance-now' }, badge('ok', 'not in maintenance'), ' The application is not in maintenance.');
        const inMaint = (L.status ? L.status.checks : []).filter((c) => c.status === 'maintenance');
        put(box, current,
          h('h2', { text: 'Checks in maintenance (' + inMaint.length + ')' }),
          inMaint.length ? inMaint.map((c) => checkCard(c)) : h('p', { class: 'muted', text: 'No check is in maintenance.' }),
          h('h2', { text: 'Planned windows' }),
          m.windows.length ? table('maintenance-windows', ['Window', 'From', 'To', 'Mode', 'Reason', 'By'], m.windows.map((w) => h('tr', { 'data-active': String(w.active) }, h('td', {}, w.name || ('#' + w.id), w.active ? ' (open)' : ''), h('td', { text: ago(w.start) }), h('td', { text: ago(w.end) }), h('td', { text: w.mode }), h('td', { text: w.reason }), h('td', { text: w.author }))), { caption: 'Planned windows' })
            : h('p', { class: 'muted', text: 'No window planned. Schedule them with [[maintenance.window]] in the config, or start one here or with lookout maintenance start.' }),
          figures,
          h('h2', { text: 'History (' + m.history.length + (m.history.length === 1 ? ' period)' : ' periods)') }),
          m.history.length ? table('maintenance-history', ['Start', 'Duration', 'Mode', 'Known from', 'Planned', 'Overrun', 'Impact', 'Muted alerts', 'Reason'], m.history.map((p) => h('tr', {},
            h('td', { text: ago(p.start) }), h('td', { text: dur(p.duration_seconds) + (p.end ? '' : ' (open)') }), h('td', { text: p.mode }), h('td', { text: p.origin }), h('td', { text: p.planned ? 'yes' : 'no' }),
            h('td', { text: p.overrun_seconds ? dur(p.overrun_seconds) : '—' }), h('td', { text: impactText(p.impact) }), h('td', { text: p.muted.length ? p.muted.join('; ') : 'none' }), h('td', { text: p.reason }))), { caption: 'Maintenance history' })
            : h('p', { class: 'muted', text: 'No maintenance in this range.' }));
      } catch (e) {
        put(box, h('p', { class: 'error', text: 'Could not load maintenance: ' + e.message }));
      }
    },
    onStatus(st) {
      const n = st.checks.filter((c) => c.status === 'maintenance').length;
      if (n !== this.count) { this.count = n; this.refresh(); }
    },
    onEvent(e) { if (e.kind === 'maintenance') this.refresh(); },
  };

  pages.alerts = {
    title: 'Alerts',
    async render() {
      put(main, header('Alerts', true), h('div', { id: 'alert-lists' }, h('p', { class: 'muted', text: 'Loading…' })), this.form());
      await this.refresh();
    },
    form() {
      const admin = isAdmin();
      const msg = h('p', { class: 'msg', role: 'status' });
      const f = h('form', { class: 'silence', id: 'silence-form', 'aria-describedby': 'silence-help' },
        h('label', {}, 'Matchers', h('input', { name: 'matchers', required: true, placeholder: 'check="app", rule="check_failed"', disabled: !admin })),
        h('label', {}, 'For', h('select', { name: 'for', disabled: !admin }, ['30m', '1h', '2h', '4h', '8h', '24h', '7d'].map((d) => h('option', { value: d, selected: d === '2h', text: d })))),
        h('label', {}, 'Author', h('input', { name: 'author', required: true, value: (L.session && L.session.user) || '', disabled: !admin })),
        h('label', {}, 'Comment', h('input', { name: 'comment', required: true, placeholder: 'why', disabled: !admin })),
        h('div', {}, h('button', { type: 'submit', class: 'primary', disabled: !admin, text: 'Add silence' })));
      f.addEventListener('submit', async (e) => {
        e.preventDefault();
        const d = new FormData(f);
        const matchers = String(d.get('matchers')).split(/,\s*(?=[A-Za-z_][A-Za-z0-9_]*\s*(?:=|!=|=~|!~))/).map((m) => m.trim()).filter(Boolean);
        try {
          await api('/api/v1/silences', { method: 'POST', body: { matchers, for: d.get('for'), author: d.get('author'), comment: d.get('comment') } });
          msg.className = 'msg';
          msg.textContent = 'Silence added.';
          f.reset();
          this.refresh();
        } catch (err) {
          msg.className = 'msg error';
          msg.textContent = err.status === 403 ? 'Only admins can add silences.' : 'Not added: ' + err.message;
        }
      });
      return h('section', { class: 'card', id: 'silence-section' }, h('h2', { text: 'Silence alerts' }),
        h('p', { id: 'silence-help', class: 'muted', text: admin ? 'Matchers in Prometheus syntax, separated by commas: check="app", severity="critical".' : 'Only admins can add or expire silences; you are logged in as a viewer.' }),
        admin ? f : null, msg);
    },
    async refresh() {
      const box = document.getElementById('alert-lists');
      if (!box) return;
      try {
        const [alerts, silences, history] = await Promise.all([api('/api/v1/alerts'), api('/api/v1/silences'), api('/api/v1/alerts/history?since=-' + range())]);
        const admin = isAdmin();
        // Admins acknowledge a firing alert: someone is on it, so its repeats stop.
        const withAck = (a) => {
          const li = alertLine(a);
          if (admin && a.state === 'firing' && !a.acknowledged_by) {
            li.append(' ', h('button', { class: 'plain ack', type: 'button', text: 'Acknowledge', 'aria-label': 'Acknowledge ' + a.summary, onclick: async (ev) => {
              ev.target.disabled = true;
              try { await api('/api/v1/alerts/ack', { method: 'POST', body: { id: a.id } }); } catch (err) { alert('Not acknowledged: ' + err.message); }
              this.refresh();
            } }));
          }
          return li;
        };
        const list = (items, empty) => (items.length ? h('ul', { class: 'alerts' }, items.map(withAck)) : h('p', { class: 'muted', text: empty }));
        const firing = alerts.alerts.filter((a) => a.state === 'firing' && !a.muted_by);
        const pending = alerts.alerts.filter((a) => a.state === 'pending' && !a.muted_by);
        const muted = alerts.alerts.filter((a) => a.muted_by);
        const sil = silences.silences.filter((x) => x.state !== 'expired');
        // What a notice was: resolved is good news (green), the others carry their severity.
        const what = (x) => {
          if (x.kind === 'resolved') return badge('ok', 'resolved');
          if (x.kind === 'test') return badge('unknown', 'test');
          const sev = x.severity === 'critical' ? 'critical' : x.severity === 'warning' ? 'warning' : 'unknown';
          return badge(sev, x.kind.replace('_', '-'));
        };
        put(box,
          h('h2', {}, 'Firing (' + firing.length + ')'), list(firing, 'Nothing is firing.'),
          h('h2', {}, 'Pending (' + pending.length + ')'), list(pending, 'Nothing is pending.'),
          h('h2', {}, 'Silenced or muted (' + muted.length + ')'), list(muted, 'No alert is muted.'),
          h('h2', {}, 'Silences (' + sil.length + ')'),
          sil.length ? table('silences', ['State', 'Matchers', 'Ends', 'Author', 'Comment', ''], sil.map((x) => h('tr', { 'data-silence': x.id }, h('td', { text: x.state }), h('td', {}, h('code', { text: x.matchers.join(', ') })), h('td', { text: ago(x.ends_at) }), h('td', { text: x.author }), h('td', { text: x.comment }),
            h('td', {}, admin ? h('button', { class: 'danger', type: 'button', text: 'Expire', 'aria-label': 'Expire silence ' + x.matchers.join(', '), onclick: async (ev) => {
              ev.target.disabled = true;
              try { await api('/api/v1/silences/' + encodeURIComponent(x.id), { method: 'DELETE' }); } catch (err) { alert('Not expired: ' + err.message); }
              this.refresh();
            } }) : null))), { caption: 'Active silences' }) : h('p', { class: 'muted', text: 'No active silence.' }),
          h('h2', {}, 'History (' + range() + ')'),
          history.history.length ? table('alert-history', ['Time', 'What', 'Severity', 'Rule', 'Summary', 'Told'], history.history.map((x) => h('tr', { 'data-kind': x.kind }, h('td', { text: ago(x.at) }), h('td', {}, what(x)), h('td', { text: x.severity }), h('td', { text: x.rule }), h('td', { text: x.summary }), h('td', { text: x.muted_by ? 'muted: ' + x.muted_by : x.delivery === 'delivered' ? 'yes' : x.delivery }))), { caption: 'Alert history, newest first' })
            : h('p', { class: 'muted', text: 'No alert activity in this range.' }));
      } catch (e) {
        put(box, h('p', { class: 'error', text: 'Could not load alerts: ' + e.message }));
      }
    },
    onEvent(e) { if (e.kind === 'alert') this.refresh(); },
  };

  // Events: filtered by kind and check, the filters in the URL (kind=a,b&check=name).
  const EVENT_KINDS = ['status_changed', 'alert', 'maintenance', 'security', 'started', 'stopped', 'reloaded', 'reload_failed', 'store_error', 'collected'];
  pages.events = {
    title: 'Events',
    filters() {
      const q = query();
      const kinds = (q.get('kind') || '').split(',').filter((k) => EVENT_KINDS.includes(k));
      return { kinds, check: q.get('check') || '' };
    },
    async render() {
      const f = this.filters();
      const names = [...new Set((L.status ? L.status.checks : []).map((c) => c.check))].sort();
      if (f.check && !names.includes(f.check)) names.unshift(f.check);
      const apply = () => {
        const form = document.getElementById('event-filters');
        const kinds = [...form.querySelectorAll('input[name=kind]:checked')].map((i) => i.value);
        setQuery({ kind: kinds.join(','), check: form.querySelector('[name=check]').value });
        this.refresh();
      };
      put(main, header('Events', true),
        h('form', { class: 'filters', id: 'event-filters', onsubmit: (e) => e.preventDefault(), onchange: apply },
          h('fieldset', {}, h('legend', { text: 'Kinds (none: all)' }), EVENT_KINDS.map((k) => h('label', {}, h('input', { type: 'checkbox', name: 'kind', value: k, checked: f.kinds.includes(k) }), k.replace('_', ' ')))),
          h('label', {}, 'Check', h('select', { name: 'check' }, h('option', { value: '', text: 'any' }), names.map((n) => h('option', { value: n, selected: n === f.check, text: n }))))),
        h('ul', { class: 'timeline', id: 'timeline' }));
      await this.refresh();
    },
    async refresh() {
      const ul = document.getElementById('timeline');
      const f = this.filters();
      const q = new URLSearchParams({ from: '-' + range(), limit: '1000' });
      if (f.kinds.length) q.set('kind', f.kinds.join(','));
      if (f.check) q.set('check', f.check);
      const seq = (this.seq = (this.seq || 0) + 1); // filters change faster than answers come
      try {
        const ev = (await api('/api/v1/events?' + q)).events;
        if (seq !== this.seq) return;
        ul.replaceChildren(...(ev.length ? ev.map(eventLine) : [h('li', { class: 'muted', text: 'No events in this range' + (f.kinds.length || f.check ? ' with these filters.' : '.') })]));
      } catch (e) { ul.replaceChildren(h('li', { class: 'error', text: e.message })); }
    },
    onEvent(e) {
      const f = this.filters();
      if ((f.kinds.length && !f.kinds.includes(e.kind)) || (f.check && e.subject !== f.check)) return;
      const ul = document.getElementById('timeline');
      if (ul) { if (ul.firstElementChild && !ul.firstElementChild.dataset.kind) ul.replaceChildren(); ul.prepend(eventLine(e)); }
    },
  };

  // ---------- hosts (issue 19): this Lookout and every host that writes to it ----------
  const byNum = (k) => (a, b) => (a[k] === null || a[k] === undefined ? -1 : a[k]) - (b[k] === null || b[k] === undefined ? -1 : b[k]);
  const HOST_COLUMNS = [
    { key: 'status', label: 'Status', cmp: (a, b) => RANK[a.status] - RANK[b.status] },
    { key: 'host', label: 'Host', cmp: (a, b) => COLLATE(a.host, b.host) },
    { key: 'kind', label: 'Sender', cmp: (a, b) => COLLATE(senderText(a), senderText(b)) },
    { key: 'cpu', label: 'CPU', cmp: byNum('cpu') },
    { key: 'cpu_history', label: 'CPU, last hour' },
    { key: 'memory', label: 'Memory', cmp: byNum('memory') },
    { key: 'disk', label: 'Disk /', cmp: byNum('disk') },
    { key: 'seen', label: 'Last seen', cmp: (a, b) => a.last_seen_ms - b.last_seen_ms },
  ];
  const SENDER_WORDS = { lookout: 'Lookout', prometheus: 'Prometheus', otlp: 'OpenTelemetry', remote_write: 'remote write (sender unnamed)' };
  function senderText(x) {
    return (SENDER_WORDS[x.kind] || x.kind) + (x.version ? ' ' + x.version : '') + (x.local ? ' (this one)' : '');
  }
  // A host's CPU over the last hour as a line; its numbers said in the label.
  function sparkline(host, points) {
    if (!points || points.length < 2) return h('span', { class: 'muted', text: points && points.length ? 'one point so far' : 'no data' });
    const w = 96, ht = 22, t0 = points[0].at_ms, t1 = points[points.length - 1].at_ms;
    const vals = points.map((p) => p.value);
    const d = points.map((p, i) => (i ? 'L' : 'M') + ((w * (p.at_ms - t0)) / (t1 - t0 || 1)).toFixed(1) + ' ' + (ht - 1 - (ht - 2) * Math.max(0, Math.min(1, p.value))).toFixed(1)).join(' ');
    const g = s('svg', { class: 'spark', viewBox: '0 0 ' + w + ' ' + ht, width: w, height: ht, role: 'img', 'data-spark': host,
      'aria-label': 'CPU of ' + host + ' over the last hour: from ' + fmt(Math.min(...vals), 'ratio') + ' to ' + fmt(Math.max(...vals), 'ratio') + ', ' + points.length + ' points' });
    g.append(s('path', { d, fill: 'none', stroke: 'currentColor', 'stroke-width': '1.5' }));
    return g;
  }
  const hostsPage = {
    title: 'Hosts',
    sortKey() { return query().get('sort') || '-status'; },
    async render() {
      const heads = HOST_COLUMNS.map((c) => (c.cmp
        ? h('th', { scope: 'col', 'data-sort': c.key, 'data-label': c.label }, h('button', { type: 'button', text: c.label, onclick: () => {
          const cur = this.sortKey();
          setQuery({ sort: cur === '-' + c.key ? c.key : cur === c.key ? '-' + c.key : (['status', 'cpu', 'memory', 'disk', 'seen'].includes(c.key) ? '-' : '') + c.key });
          this.draw();
        } }))
        : h('th', { scope: 'col', 'data-label': c.label, text: c.label })));
      put(main, header('Hosts', false),
        h('p', { class: 'count muted', id: 'hosts-count', role: 'status', text: 'Loading…' }),
        h('div', { class: 'table-wrap tall', tabindex: '0', role: 'region', 'aria-label': 'Hosts' },
          h('table', { id: 'hosts-list', class: 'list stack' }, h('caption', { class: 'sr-only', text: 'Hosts, sortable by column' }), h('thead', {}, h('tr', {}, heads)), h('tbody', {}))));
      await this.refresh();
    },
    async refresh() {
      try {
        this.data = await api('/api/v1/hosts');
        this.error = null;
      } catch (e) { this.error = e.message; }
      this.draw();
    },
    row(x) {
      const lv = x.levels || (this.data && this.data.levels) || {};
      const usage = (k) => usageCell(x[k], lv[k], k);
      const tr = h('tr', { 'data-host': x.host, 'data-status': x.status },
        h('td', { title: x.reason || '' }, hostBadge(x), x.reason ? h('span', { class: 'sr-only', text: ': ' + x.reason }) : null),
        h('td', {}, h('a', { href: '/hosts/' + encodeURIComponent(x.host), class: 'host-link' }, h('strong', { text: x.host }))),
        h('td', { text: senderText(x) }),
        usage('cpu'),
        h('td', {}, sparkline(x.host, x.cpu_sparkline)),
        usage('memory'),
        usage('disk'),
        h('td', {}, h('time', { datetime: new Date(x.last_seen_ms).toISOString(), text: fmtTime(x.last_seen_ms, true) }),
          x.interval_s ? h('span', { class: 'muted', text: ' · every ' + fmt(x.interval_s, 's') }) : null));
      return labelCells(tr, HOST_COLUMNS.map((c) => c.label));
    },
    draw() {
      const tbody = document.querySelector('#hosts-list tbody');
      if (!tbody) return;
      const sort = this.sortKey();
      const desc = sort.startsWith('-');
      const col = HOST_COLUMNS.find((c) => c.key === sort.replace(/^-/, '') && c.cmp) || HOST_COLUMNS[0];
      const list = ((this.data && this.data.hosts) || []).slice();
      list.sort((a, b) => (desc ? -col.cmp(a, b) : col.cmp(a, b)) || COLLATE(a.host, b.host));
      tbody.replaceChildren(...list.map((x) => this.row(x)));
      if (this.error) tbody.append(h('tr', {}, h('td', { colspan: HOST_COLUMNS.length, class: 'error', text: 'Could not load the hosts: ' + this.error })));
      for (const th of document.querySelectorAll('#hosts-list th[data-sort]')) {
        const k = th.dataset.sort;
        th.setAttribute('aria-sort', sort === k ? 'ascending' : sort === '-' + k ? 'descending' : 'none');
      }
      const d = this.data;
      const count = document.getElementById('hosts-count');
      if (count && d) {
        const bad = d.hosts.filter((x) => x.status !== 'ok').length;
        count.textContent = plural(d.total, 'host') + (d.total > d.hosts.length ? ' (' + d.hosts.length + ' shown, the most listed)' : '') + '; ' + (bad ? bad + ' not ok' : 'all ok') + '. ' + levelsText(d.levels) + ' CPU history over the last hour.';
      }
    },
  };

  // A usage ratio against the levels of the rule that applies to it: coloured by level, or
  // "no rule" when none applies (not "ok": nothing decides it).
  function levelOf(v, pair) {
    if (!pair || !pair.rule) return null;
    if (pair.critical !== null && pair.critical !== undefined && v >= pair.critical) return 'critical';
    if (pair.warning !== null && pair.warning !== undefined && v >= pair.warning) return 'warning';
    return 'ok';
  }
  function usageCell(v, pair, key) {
    const none = v === null || v === undefined;
    const lvl = none ? null : levelOf(v, pair);
    return h('td', { class: 'num' + (lvl ? ' lv-' + lvl : ''), ['data-' + key]: '', 'data-rule': pair && pair.rule ? pair.rule : '' },
      h('span', { class: 'v', text: fmt(v, 'ratio') }), !none && !lvl ? h('span', { class: 'no-rule muted', text: ' no rule' }) : null);
  }
  // ok with no rule on any of its values: "up", and said so.
  function hostBadge(x) {
    const lv = x.levels || {};
    const present = ['cpu', 'memory', 'disk'].filter((k) => x[k] !== null && x[k] !== undefined);
    if (x.status === 'ok' && !present.some((k) => lv[k] && lv[k].rule)) return badge('ok', present.length ? 'up, no rule' : 'up');
    return badge(x.status);
  }
  const USAGE_WORDS = { cpu: 'CPU', memory: 'memory', disk: 'disk /' };
  function levelsText(lv) {
    if (!lv) return '';
    const parts = ['cpu', 'memory', 'disk'].map((k) => {
      const p = lv[k];
      if (!p || !p.rule) return USAGE_WORDS[k] + ': no rule';
      return USAGE_WORDS[k] + ': ' + [p.warning !== null && p.warning !== undefined ? 'warning ' + fmt(p.warning, 'ratio') : null, p.critical !== null && p.critical !== undefined ? 'critical ' + fmt(p.critical, 'ratio') : null].filter(Boolean).join(', ') + ' (rule ' + p.rule + ')';
    });
    return 'Levels of this Lookout\u2019s alert rules: ' + parts.join('; ') + '.';
  }

  // ---------- one host's page: what it sends ----------
  const hostPage = {
    title: (name) => name + ' · Hosts',
    async render(name) {
      dropCharts();
      let d;
      try {
        d = await api('/api/v1/hosts/' + encodeURIComponent(name) + '?offset=' + (Number(query().get('offset')) || 0));
      } catch (e) {
        put(main, header('Host ' + name, false), h('p', { class: 'error', text: e.status === 404 ? 'No host named "' + name + '".' : 'Could not load the host: ' + e.message }), h('p', {}, h('a', { href: '/hosts', text: 'All hosts' })));
        return;
      }
      this.data = d;
      const fact = (k, v) => (v === null || v === undefined || v === '' ? null : [h('dt', { text: k }), h('dd', {}, v)]);
      const lv = d.levels || {};
      const usage = (k) => {
        const v = d[k];
        if (v === null || v === undefined) return '—';
        const lvl = levelOf(v, lv[k]);
        return [h('span', { class: lvl ? 'lv-' + lvl : '', ['data-' + k]: '', text: fmt(v, 'ratio') }), ' ', h('span', { class: 'muted', text: lv[k] && lv[k].rule ? '(' + thresholdText({ comparison: 'above', warning: lv[k].warning, critical: lv[k].critical }, 'ratio') + ')' : '(no rule)' })];
      };
      const about = h('section', { class: 'card', id: 'host-about' }, h('h2', { text: 'About' }), h('dl', { class: 'figures' },
        fact('Sender', senderText(d)), fact('Protocol', d.protocol === 'local' ? 'this Lookout' : d.protocol.replace('_', ' ')),
        fact('Last seen', h('time', { datetime: new Date(d.last_seen_ms).toISOString(), text: fmtTime(d.last_seen_ms, true) })),
        fact('Interval', d.interval_s ? 'every ' + fmt(d.interval_s, 's') : d.local ? null : 'not known yet')));
      const now = h('section', { class: 'card', id: 'host-now' }, h('h2', { text: 'Now' }), h('dl', { class: 'figures' },
        fact('CPU', usage('cpu')), fact('Memory', usage('memory')), fact('Disk /', usage('disk')), fact('CPU, last hour', sparkline(d.host, d.cpu_sparkline))));
      const on = { host: d.host, localHost: !!d.local };
      const hl = d.local ? {} : { host: d.host };
      const lookoutNames = d.usage_series;
      const charts = lookoutNames ? h('div', { class: 'grid' },
        chart({ title: 'CPU busy', name: 'cpu_usage_ratio', unit: 'ratio', thresholds: thresholdsFor('cpu_usage_ratio', hl), group: 'host', ...on }),
        chart({ title: 'Memory used', name: 'memory_usage_ratio', unit: 'ratio', thresholds: thresholdsFor('memory_usage_ratio', hl), group: 'host', ...on }),
        chart({ title: 'Disk used', name: 'filesystem_usage_ratio', labels: { mountpoint: '/' }, unit: 'ratio', thresholds: thresholdsFor('filesystem_usage_ratio', { mountpoint: '/', ...hl }), group: 'host', ...on }))
        : h('p', { class: 'muted', text: 'It sends no series named as Lookout\u2019s (cpu_usage_ratio, memory_usage_ratio, filesystem_usage_ratio) to chart' + (d.cpu_sparkline && d.cpu_sparkline.length ? '; its CPU of the last hour above comes from its idle counters' : '') + '. What it sends is listed below.' });
      const fsRows = (d.filesystems || []).map((f) => labelCells(h('tr', { 'data-mount': f.mountpoint }, h('td', {}, h('code', { text: f.mountpoint })), h('td', { text: f.device || '—' }), usageCell(f.usage, f.levels, 'usage')), ['Mount point', 'Device', 'Used']));
      const checkRows = (d.checks || []).map((c) => labelCells(h('tr', { 'data-check': c.check }, h('td', {}, h('a', { href: '/checks/' + encodeURIComponent(c.check), text: c.check })), h('td', { 'data-check-badge': c.check }, badge(c.status)), h('td', { text: c.layer }), h('td', { class: 'num', text: c.value === null || c.value === undefined ? '—' : fmt(c.value, '') }), h('td', { 'data-check-detail': c.check, text: c.detail }), h('td', {}, h('time', { datetime: c.at, text: fmtTime(c.at_ms, true) }))), ['Check', 'Status', 'Layer', 'Value', 'Detail', 'Last result']));
      put(main, header(d.host, true, h('span', { id: 'host-status' }, hostBadge(d))),
        d.reason ? h('p', { class: 'lead', id: 'host-reason', text: d.reason }) : null,
        h('div', { class: 'facts' }, about, now),
        h('h2', { text: 'CPU, memory and disk over ' + RANGE_WORDS[range()] }), charts,
        h('h2', { text: 'Filesystems (' + fsRows.length + ')' }),
        fsRows.length ? table('host-filesystems', ['Mount point', 'Device', 'Used'], fsRows, { caption: 'Filesystems of ' + d.host }) : h('p', { class: 'muted', text: 'No filesystem series from this host.' }),
        h('h2', { text: 'Checks (' + checkRows.length + ')' }),
        checkRows.length ? table('host-checks', ['Check', 'Status', 'Layer', 'Value', 'Detail', 'Last result'], checkRows, { caption: 'Checks of ' + d.host }) : h('p', { class: 'muted', text: d.local ? 'No check result yet.' : 'This host sends no check results.' }),
        h('h2', { id: 'host-series-title', text: 'Series (' + plural(d.series_total, 'series', 'series') + ' under ' + plural(d.names_total, 'name') + ')' }),
        this.series(d),
        h('p', {}, h('a', { href: '/hosts', text: 'All hosts' })));
    },
    series(d) {
      if (!d.names.length) return h('p', { class: 'muted', text: 'No series from this host.' });
      const labelsText = (l) => Object.entries(l).map(([k, v]) => k + '="' + v + '"').join(', ');
      const rows = d.names.map((n) => {
        const one = n.series.length === 1 ? n.series[0] : null;
        const shown = one ? [one.labels && Object.keys(one.labels).length ? h('code', { text: labelsText(one.labels) }) : h('span', { class: 'muted', text: 'no labels' })]
          : h('details', {}, h('summary', { text: 'first ' + n.series.length + (n.count > n.series.length ? ' of ' + n.count : '') }),
            h('ul', { class: 'plain-list' }, n.series.map((x) => h('li', {}, h('code', { text: labelsText(x.labels) || '{}' }), ' ', fmt(x.value, '')))));
        return labelCells(h('tr', { 'data-series-name': n.name }, h('td', {}, h('code', { text: n.name })), h('td', { class: 'num', text: n.count.toLocaleString('en') }),
          h('td', { class: 'num', text: one ? fmt(one.value, '') : '—' }), h('td', { class: 'series-labels' }, shown)), ['Name', 'Series', 'Last value', 'Labels']);
      });
      const first = d.offset + 1, last = d.offset + d.names.length;
      const link = (offset, text, rel) => {
        const q = query();
        if (offset) q.set('offset', String(offset)); else q.delete('offset');
        return h('a', { href: location.pathname + (q.toString() ? '?' + q : ''), rel, class: 'pager-link', text });
      };
      const pager = d.names_total > d.names.length ? h('nav', { class: 'pager', 'aria-label': 'Pages of series names' },
        d.offset > 0 ? link(Math.max(0, d.offset - d.limit), 'Previous ' + d.limit, 'prev') : null,
        h('span', { class: 'muted', text: ' names ' + first.toLocaleString('en') + '–' + last.toLocaleString('en') + ' of ' + d.names_total.toLocaleString('en') + ' ' }),
        last < d.names_total ? link(d.offset + d.limit, 'Next ' + d.limit, 'next') : null) : null;
      return [table('host-series', ['Name', 'Series', 'Last value', 'Labels'], rows, { caption: 'Series of ' + d.host + ' by name, latest values', tall: true }), pager];
    },
    async refresh() {
      try {
        const d = await api('/api/v1/hosts/' + encodeURIComponent(route.arg) + '?offset=' + (Number(query().get('offset')) || 0));
        const b = document.getElementById('host-status');
        if (b) b.replaceChildren(hostBadge(d));
      } catch (e) { /* keep */ }
    },
  };
  pages.hosts = {
    title: (arg) => (arg ? hostPage.title(arg) : 'Hosts'),
    render: (arg) => (arg ? hostPage.render(arg) : hostsPage.render()),
    refresh: () => (route.arg ? hostPage.refresh() : hostsPage.refresh()),
  };

  pages.notfound = {
    title: 'Not found',
    noStatus: true,
    async render() {
      const links = [['/', 'Overview'], ['/system', 'System'], ['/checks', 'Checks'], ['/database', 'Database'], ['/redis', 'Redis'], ['/maintenance', 'Maintenance'], ['/alerts', 'Alerts'], ['/events', 'Events'], ['/hosts', 'Hosts']];
      put(main, h('div', { class: 'notfound' }, h('h1', { text: 'Not found' }), h('p', {}, 'There is no page at ', h('code', { text: location.pathname }), '. Where to?'),
        h('ul', {}, links.map(([href, text]) => h('li', {}, h('a', { href, text }))))));
    },
  };

  // ---------- routing and start ----------
  function resolve(path) {
    const m = path.match(/^\/checks\/(.+)$/);
    if (m) return { name: 'checks', arg: decodeURIComponent(m[1]) };
    const hm = path.match(/^\/hosts\/([^/]+)$/);
    if (hm) return { name: 'hosts', arg: decodeURIComponent(hm[1]) };
    const name = { '/': 'overview', '/system': 'system', '/checks': 'checks', '/database': 'database', '/redis': 'redis', '/maintenance': 'maintenance', '/alerts': 'alerts', '/events': 'events', '/hosts': 'hosts' }[path.replace(/\/$/, '') || '/'];
    return { name: name || 'notfound', arg: null };
  }
  const route = resolve(location.pathname);
  const page = pages[route.name];
  for (const a of document.querySelectorAll('#nav a')) {
    const href = a.getAttribute('href');
    if (href === location.pathname || (href !== '/' && location.pathname.startsWith(href + '/'))) a.setAttribute('aria-current', 'page');
  }
  // keep the chosen range (and host) while moving between pages
  keepHostInNav();

  async function start() {
    setupTheme();
    setLive('connecting');
    await Promise.all([loadSession(), loadThresholds()]);
    // A list page loads the checks itself (see checksList.load).
    if (!(page.ownStatus && page.ownStatus(route.arg))) {
      try { L.status = await api(statusUrl()); } catch (e) { main.prepend(h('p', { class: 'error', text: 'Could not load the status: ' + e.message })); }
    }
    setTitle();
    await page.render(route.arg);
    if (L.status) setStatus(L.status);
    L.readyMs = Math.round(performance.now()); // since the navigation started
    document.body.dataset.ready = 'true';
    L.rerender = () => page.render(route.arg);
    connectLive();
    setInterval(refresh, L.refreshMs);
  }
  start();
})();
