// Lookout dashboard: renders the page named by location.pathname from the JSON API, keeps it
// current through the live feed (/api/v1/live), and falls back to polling when it is down.
// No build step, no dependencies. `window.lookout` exposes the state (used by the tests).
'use strict';
(function () {
  const L = (window.lookout = {
    liveUrl: null, // override for tests; default ws(s)://host/api/v1/live
    pollMs: 30000, // polling while the live feed is down
    refreshMs: 30000, // full data refresh, always
    live: 'connecting',
    status: null,
    session: null,
    charts: [],
    socket: null,
    polls: 0,
    refreshes: 0,
  });
  const RANGES = { '1h': 3600, '6h': 21600, '24h': 86400, '7d': 604800, '30d': 2592000 };
  const LAYERS = ['system', 'application', 'database', 'redis', 'business'];
  const LAYER_PAGE = { system: '/system', application: '/checks', database: '/database', redis: '/redis', business: '/checks' };
  const RANK = { ok: 0, maintenance: 1, warning: 2, unknown: 3, critical: 4 };
  const COLORS = ['#0b57d0', '#b3261e', '#146c2e', '#7d3c98', '#a15c00', '#006b75', '#5f6368'];
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
    for (const c of children.flat()) {
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
    el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false && c !== ''));
  }
  const worst = (statuses) => statuses.reduce((w, x) => (RANK[x] > RANK[w] ? x : w), 'ok');
  function icon(status) {
    const g = s('svg', { viewBox: '0 0 16 16', 'aria-hidden': 'true', focusable: 'false' });
    const f = { fill: 'currentColor' };
    if (status === 'ok') {
      g.append(s('circle', { cx: 8, cy: 8, r: 7, ...f }), s('path', { d: 'M4.5 8.2l2.3 2.3 4.7-5', stroke: '#fff', 'stroke-width': 2, fill: 'none' }));
    } else if (status === 'maintenance') {
      g.append(s('rect', { x: 2, y: 2, width: 12, height: 12, rx: 1, transform: 'rotate(45 8 8)', ...f }), s('rect', { x: 6, y: 5, width: 1.6, height: 6, fill: '#fff' }), s('rect', { x: 8.6, y: 5, width: 1.6, height: 6, fill: '#fff' }));
    } else if (status === 'warning') {
      g.append(s('path', { d: 'M8 1L15.5 14.5H.5z', ...f }), s('rect', { x: 7.1, y: 5.5, width: 1.8, height: 5, fill: '#fff' }), s('rect', { x: 7.1, y: 11.5, width: 1.8, height: 1.8, fill: '#fff' }));
    } else if (status === 'critical') {
      g.append(s('path', { d: 'M5 1h6l4 4v6l-4 4H5l-4-4V5z', ...f }), s('path', { d: 'M5.5 5.5l5 5M10.5 5.5l-5 5', stroke: '#fff', 'stroke-width': 2 }));
    } else {
      g.append(s('rect', { x: 1, y: 1, width: 14, height: 14, rx: 3, ...f }), s('path', { d: 'M6 6.2a2 2 0 1 1 2.8 1.8c-.6.3-.8.7-.8 1.3v.5', stroke: '#fff', 'stroke-width': 1.7, fill: 'none' }), s('rect', { x: 7.1, y: 11.3, width: 1.8, height: 1.8, fill: '#fff' }));
    }
    return g;
  }
  function badge(status, label) {
    return h('span', { class: 'badge s-' + status, 'data-status': status }, icon(status), label || status);
  }
  function fmt(value, unit) {
    if (value === null || value === undefined || Number.isNaN(value)) return '—';
    if (unit === 'ratio') return (value * 100).toFixed(value >= 0.1 || value === 0 ? 1 : 2) + ' %';
    if (unit === 's') {
      if (Math.abs(value) < 1) return (value * 1000).toFixed(value < 0.01 ? 2 : 0) + ' ms';
      return value.toFixed(2) + ' s';
    }
    if (unit === 'bytes' || unit === 'Bps') {
      const k = ['B', 'KB', 'MB', 'GB', 'TB'];
      let v = value, i = 0;
      while (Math.abs(v) >= 1024 && i < k.length - 1) { v /= 1024; i++; }
      return v.toFixed(i ? 1 : 0) + ' ' + k[i] + (unit === 'Bps' ? '/s' : '');
    }
    if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en');
    return String(Math.round(value * 100) / 100);
  }
  function fmtTime(ms, withDate) {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, '0');
    const t = p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
    return withDate ? d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + t : t;
  }
  const ago = (iso) => fmtTime(Date.parse(iso), true);
  function range() {
    const r = new URLSearchParams(location.search).get('range');
    return RANGES[r] ? r : '24h';
  }
  function checkValueUnit(check) {
    if (check.layer === 'system') return 'ratio';
    if (check.layer === 'business') return null; // query values, response times...: the detail says
    return 's';
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

  // ---------- live indicator, live feed, polling, refresh ----------
  function setLive(state) {
    L.live = state;
    const el = document.getElementById('live');
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
  function onLive(msg) {
    if (msg.type === 'status') { delete msg.type; setStatus(msg); }
    else if (msg.type === 'observation') {
      if (L.status && msg.checks.length) {
        // With thousands of checks, observations arrive many times a second: update the
        // checks in place through an index, and redraw at most every 250 ms.
        if (L.indexOf !== L.status.checks) {
          L.index = new Map(L.status.checks.map((c, i) => [c.check, i]));
          L.indexOf = L.status.checks;
        }
        for (const c of msg.checks) {
          const i = L.index.get(c.check);
          if (i === undefined) { L.index.set(c.check, L.status.checks.length); L.status.checks.push(c); }
          else L.status.checks[i] = c;
        }
        if (!L.redraw) {
          L.redraw = setTimeout(() => {
            L.redraw = null;
            const checks = L.status.checks;
            setStatus({ ...L.status, checks, overall: worst(checks.map((c) => c.status)) });
          }, 250);
        }
      }
      for (const chart of L.charts) chart.live(msg.at, msg.samples);
    } else if (msg.type === 'event') {
      if (page.onEvent) page.onEvent(msg);
    }
  }
  // Only the system page reads latest values (its filesystems); with thousands of checks the
  // series are most of the status document, so the other pages leave them out.
  function statusUrl() {
    return '/api/v1/status?series=' + (location.pathname.startsWith('/system') ? 'filesystem_usage_ratio' : 'none');
  }
  function setStatus(status) {
    if (L.status && (!status.series || !status.series.length)) status.series = L.status.series;
    L.status = status;
    document.title = 'Lookout: ' + status.overall;
    document.getElementById('updated').textContent = 'updated ' + fmtTime(Date.now());
    if (page.onStatus) page.onStatus(status);
    for (const el of document.querySelectorAll('[data-check-badge]')) {
      const c = status.checks.find((x) => x.check === el.dataset.checkBadge);
      if (c && el.firstElementChild.dataset.status !== c.status) el.replaceChildren(badge(c.status));
      const d = el.parentElement && el.parentElement.querySelector('.detail');
      if (c && d) d.textContent = c.detail;
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

  const TH = {
    cpu: [{ value: 0.8, level: 'warning' }, { value: 0.95, level: 'critical' }],
    memory: [{ value: 0.85, level: 'warning' }, { value: 0.95, level: 'critical' }],
    disk: [{ value: 0.9, level: 'warning' }, { value: 0.95, level: 'critical' }],
    response: [{ value: 2, level: 'warning' }, { value: 5, level: 'critical' }],
  };

  // ---------- pieces shared by pages ----------
  function rangePicker() {
    const cur = range();
    return h('nav', { class: 'range', 'aria-label': 'Time range' }, Object.keys(RANGES).map((r) =>
      h('a', { href: location.pathname + '?range=' + r, 'aria-current': r === cur ? 'true' : null, text: r })));
  }
  function header(title, withRange, extra) {
    return h('div', { class: 'toolbar' }, h('h1', {}, title, extra ? ' ' : '', extra || ''), withRange ? rangePicker() : null);
  }
  function strip(name) {
    const el = h('div', { class: 'strip', role: 'img', 'aria-label': 'Status history of ' + name + ' (loading)' });
    const from = Date.now() - RANGES[range()] * 1000, to = Date.now();
    api('/api/v1/checks/' + encodeURIComponent(name) + '/history?from=-' + range() + '&limit=5000').then((d) => {
      const n = 96, cells = [];
      const hist = d.history;
      let j = 0, cur = null;
      const counts = {};
      for (let i = 0; i < n; i++) {
        const end = from + ((to - from) * (i + 1)) / n;
        let worstHere = null;
        while (j < hist.length && hist[j].at_ms <= end) {
          worstHere = worstHere === null ? hist[j].status : worst([worstHere, hist[j].status]);
          cur = hist[j].status;
          j++;
        }
        const st = worstHere || cur || 'none';
        counts[st] = (counts[st] || 0) + 1;
        cells.push(h('span', { class: 's-' + st, title: fmtTime(end, true) + ': ' + (st === 'none' ? 'no data' : st) }));
      }
      el.replaceChildren(...cells);
      el.setAttribute('aria-label', 'Status history of ' + name + ' over ' + range() + ': ' + Object.entries(counts).map(([k, v]) => k + ' ' + Math.round((v * 100) / n) + '%').join(', '));
    }).catch((e) => el.setAttribute('aria-label', 'Status history unavailable: ' + e.message));
    return el;
  }
  function checkCard(c, charts) {
    return h('section', { class: 'card check', 'data-check': c.check },
      h('div', { class: 'check-head' },
        h('h2', {}, h('a', { href: '/checks/' + encodeURIComponent(c.check) + location.search, text: c.check })),
        h('span', { 'data-check-badge': c.check }, badge(c.status))),
      h('p', {}, h('span', { class: 'muted' }, c.layer + ' · '), h('span', { class: 'detail', text: c.detail })),
      h('h3', { text: 'Status over ' + range() }), strip(c.check),
      charts && charts.length ? h('div', { class: 'grid' }, charts) : null);
  }
  function checkCharts(c) {
    if (c.layer === 'database') {
      return [chart({ title: 'Ping (SELECT 1)', name: 'db_ping_seconds', labels: { check: c.check }, unit: 's', fallback: 'check_duration_seconds', thresholds: TH.response }),
        chart({ title: 'Connections used', name: 'db_connections_ratio', labels: { check: c.check }, unit: 'ratio' }),
        chart({ title: 'Error rate', name: 'check_error_ratio', labels: { check: c.check }, unit: 'ratio' })];
    }
    if (c.layer === 'redis') {
      return [chart({ title: 'Ping', name: 'redis_ping_seconds', labels: { check: c.check }, unit: 's', fallback: 'check_duration_seconds', thresholds: TH.response }),
        chart({ title: 'Memory used', name: 'redis_used_memory_bytes', labels: { check: c.check }, unit: 'bytes' }),
        chart({ title: 'Connected clients', name: 'redis_connected_clients', labels: { check: c.check }, unit: '' }),
        chart({ title: 'Keyspace hit ratio', name: 'redis_keyspace_hit_ratio', labels: { check: c.check }, unit: 'ratio' }),
        chart({ title: 'Error rate', name: 'check_error_ratio', labels: { check: c.check }, unit: 'ratio' })];
    }
    return [chart({ title: 'Response time', name: 'http_response_seconds', labels: { check: c.check }, unit: 's', fallback: 'check_duration_seconds', thresholds: TH.response }),
      chart({ title: 'Error rate', name: 'check_error_ratio', labels: { check: c.check }, unit: 'ratio' })];
  }
  function alertLine(a) {
    const sev = a.severity === 'critical' ? 'critical' : a.severity === 'warning' ? 'warning' : 'unknown';
    return h('li', { 'data-alert': a.id }, badge(sev, a.severity), a.flapping ? [' ', badge('warning', 'flapping')] : '', ' ', h('strong', { text: a.rule }), ' — ', a.summary, a.muted_by ? h('span', { class: 'muted' }, a.flapping ? ' (' + a.muted_by + '; quiet until stable)' : ' (muted: ' + a.muted_by + ')') : '', h('span', { class: 'muted' }, ' since ' + ago(a.since)),
      a.acknowledged_by ? h('span', { class: 'acked' }, ' · acknowledged by ' + a.acknowledged_by) : '');
  }
  function eventLine(e) {
    const at = typeof e.at === 'number' ? e.at : Date.parse(e.at);
    return h('li', { 'data-kind': e.kind }, h('time', { datetime: new Date(at).toISOString(), text: fmtTime(at, true) }), h('span', { class: 'kind', text: e.kind.replace('_', ' ') }), h('span', {}, h('strong', { text: e.subject }), ' ', e.message));
  }
  async function alertsNow() {
    try { return (await api('/api/v1/alerts')).alerts; } catch (e) { return []; }
  }

  // ---------- pages ----------
  const main = document.getElementById('main');
  const pages = {};

  pages.overview = {
    title: 'Overview',
    async render() {
      const banners = h('div', { id: 'banners' });
      const tiles = h('div', { class: 'tiles', id: 'tiles' });
      const events = h('ul', { class: 'timeline', id: 'recent' });
      put(main, header('Overview', false, h('span', { id: 'overall' })), banners, tiles,
        h('h2', { text: 'System, last hour' }),
        h('div', { class: 'grid' },
          chart({ title: 'CPU', name: 'cpu_usage_ratio', unit: 'ratio', thresholds: TH.cpu, range: '1h' }),
          chart({ title: 'Memory', name: 'memory_usage_ratio', unit: 'ratio', thresholds: TH.memory, range: '1h' })),
        h('h2', {}, 'Recent events ', h('a', { href: '/events', class: 'muted', text: '(all)' })), events);
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
        const bad = checks.filter((c) => RANK[c.status] >= RANK.warning).length;
        const maint = checks.filter((c) => c.status === 'maintenance').length;
        return h('a', { class: 'tile t-' + w, href: LAYER_PAGE[layer] + location.search, 'data-layer': layer, 'data-status': w },
          h('h2', {}, h('span', { text: layer }), badge(w)),
          checkValueUnit(top) !== null && top.status !== 'maintenance' ? h('div', { class: 'value' }, fmt(top.value, checkValueUnit(top))) : null,
          h('p', { class: 'reason' }, h('strong', { text: top.check + ': ' }), top.detail),
          h('p', { class: 'muted', text: checks.length + (checks.length === 1 ? ' check' : ' checks') + (bad ? ', ' + bad + ' not ok' : maint ? '' : ', all fine') + (maint ? ', ' + maint + ' in maintenance' : '') }));
      }));
      const banners = document.getElementById('banners');
      const firing = (this.alerts || []).filter((a) => a.state === 'firing');
      const maint = st.checks.filter((c) => c.status === 'maintenance');
      put(banners, 
        firing.length ? h('div', { class: 'banner firing', role: 'alert' }, icon('critical'), h('div', {}, h('strong', {}, firing.length + ' firing alert' + (firing.length > 1 ? 's' : '') + ' '), h('a', { href: '/alerts', text: 'see alerts' }), h('ul', {}, firing.map(alertLine)))) : '',
        st.maintenance ? h('div', { class: 'banner maintenance', role: 'status', id: 'maintenance-banner' }, icon('maintenance'), h('div', {}, h('strong', { text: (st.maintenance.planned ? 'Maintenance' : 'Unplanned maintenance') + ' (' + st.maintenance.mode + ' mode): ' }), st.maintenance.reason, st.maintenance.planned_end ? ', planned until ' + ago(st.maintenance.planned_end) : '', maint.length ? '. ' + maint.length + ' check' + (maint.length > 1 ? 's' : '') + ' in maintenance, their alerts muted. ' : '. ', h('a', { href: '/maintenance', text: 'details' })))
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
      const mounts = [...new Set((L.status ? L.status.series : []).filter((x) => x.name === 'filesystem_usage_ratio').map((x) => x.labels.mountpoint))].sort();
      put(main, header('System', true),
        h('h2', { text: 'CPU and memory' }),
        h('div', { class: 'grid' },
          chart({ title: 'CPU busy', name: 'cpu_usage_ratio', unit: 'ratio', thresholds: TH.cpu }),
          chart({ title: 'Memory used', name: 'memory_usage_ratio', unit: 'ratio', thresholds: TH.memory }),
          chart({ title: 'Load (1 min)', name: 'load1', unit: '' })),
        h('h2', { text: 'Disk' }),
        h('div', { class: 'grid' }, mounts.length ? mounts.map((m) => chart({ title: 'Filesystem ' + m, name: 'filesystem_usage_ratio', labels: { mountpoint: m }, unit: 'ratio', thresholds: TH.disk })) : chart({ title: 'Filesystems', name: 'filesystem_usage_ratio', unit: 'ratio', thresholds: TH.disk })),
        h('h2', { text: 'Network' }),
        h('div', { class: 'grid' },
          chart({ title: 'Received', name: 'network_receive_bytes_total', unit: 'Bps', rate: true }),
          chart({ title: 'Transmitted', name: 'network_transmit_bytes_total', unit: 'Bps', rate: true })),
        h('h2', { text: 'System checks' }),
        h('div', { id: 'syschecks' }));
      this.onStatus(L.status);
    },
    onStatus(st) {
      const box = document.getElementById('syschecks');
      if (!box || !st) return;
      put(box, h('table', {}, h('thead', {}, h('tr', {}, h('th', { text: 'Check' }), h('th', { text: 'Status' }), h('th', { text: 'Value' }), h('th', { text: 'Detail' }))),
        h('tbody', {}, st.checks.filter((c) => c.layer === 'system').map((c) => h('tr', {}, h('td', { text: c.check }), h('td', {}, badge(c.status)), h('td', { text: fmt(c.value, 'ratio') }), h('td', { text: c.detail }))))));
    },
  };

  function layerPage(title, filter, empty) {
    return {
      title,
      async render(arg) {
        let checks = (L.status ? L.status.checks : []).filter(filter);
        if (arg) checks = checks.filter((c) => c.check === arg);
        put(main, header(arg ? 'Check ' + arg : title, true),
          arg && !checks.length ? h('p', { class: 'error', text: 'No check named "' + arg + '".' }) : null,
          !arg && !checks.length ? h('p', { class: 'muted', text: empty }) : null,
          ...checks.sort((a, b) => RANK[b.status] - RANK[a.status] || a.check.localeCompare(b.check)).map((c) => checkCard(c, checkCharts(c))));
        this.names = checks.map((c) => c.check).join();
      },
      onStatus(st) {
        let checks = st.checks.filter(filter);
        if (route.arg) checks = checks.filter((c) => c.check === route.arg);
        if (checks.map((c) => c.check).sort().join() !== (this.names || '').split(',').sort().join()) this.render(route.arg);
      },
    };
  }
  pages.checks = layerPage('Checks', (c) => c.layer !== 'system', 'No application, database, Redis or business checks are configured ([[check]] in the config).');
  pages.database = layerPage('Database', (c) => c.layer === 'database', 'No database check is configured (type postgres, mysql or sqlite).');
  pages.redis = layerPage('Redis', (c) => c.layer === 'redis', 'No Redis check is configured (type redis).');

  function dur(seconds) {
    if (seconds === null || seconds === undefined) return '—';
    const d = Math.floor(seconds / 86400), hh = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60), sec = seconds % 60;
    return [d ? d + 'd' : '', hh ? hh + 'h' : '', m ? m + 'm' : '', !d && !hh && (sec || !m) ? sec + 's' : ''].filter(Boolean).join(' ');
  }
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
        const pct = (x) => (x === null || x === undefined ? '—' : (x * 100).toFixed(3) + ' %');
        const av = r.availability.overall;
        const figures = h('div', { class: 'card', id: 'maintenance-report' }, h('h2', { text: 'Figures (' + since.slice(1) + ')' }),
          h('dl', { class: 'figures' },
            h('dt', { text: 'Periods' }), h('dd', { text: String(r.periods.count) }),
            h('dt', { text: 'In maintenance' }), h('dd', { text: dur(Math.round(r.periods.total_seconds)) + ' (planned ' + dur(Math.round(r.periods.planned_seconds)) + ', unplanned ' + dur(Math.round(r.periods.unplanned_seconds)) + ')' }),
            h('dt', { text: 'Mean duration' }), h('dd', { text: dur(Math.round(r.periods.mean_seconds)) }),
            h('dt', { text: 'Emergency mode' }), h('dd', { text: dur(Math.round(r.periods.emergency_seconds)) }),
            h('dt', { text: 'Overrun' }), h('dd', { text: dur(Math.round(r.periods.overrun_seconds)) }),
            h('dt', { text: 'Availability' }), h('dd', { text: pct(av.availability) }),
            h('dt', { text: 'Availability without planned maintenance' }), h('dd', { text: pct(av.availability_excluding_planned) }),
            h('dt', { text: 'Blocked requests' }), h('dd', { text: String(r.impact.blocked_requests) })));
        this.active = m.active;
        const admin = isAdmin();
        const act = (path, label, body) => h('button', { class: 'secondary', type: 'button', text: label, onclick: async (ev) => {
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
              admin && manualActive ? h('p', {}, act('/api/v1/maintenance/extend', 'Extend 15 min', { by: '15m' }), ' ', act('/api/v1/maintenance/stop', 'Stop maintenance')) : null))
          : h('p', { class: 'card', id: 'maintenance-now' }, badge('ok', 'not in maintenance'), ' The application is not in maintenance.');
        const inMaint = (L.status ? L.status.checks : []).filter((c) => c.status === 'maintenance');
        const table = (id, heads, rows) => h('div', { class: 'table-wrap' }, h('table', { id }, h('thead', {}, h('tr', {}, heads.map((t) => h('th', { scope: 'col', text: t })))), h('tbody', {}, rows)));
        put(box, current,
          h('h2', { text: 'Checks in maintenance (' + inMaint.length + ')' }),
          inMaint.length ? inMaint.map((c) => checkCard(c, [])) : h('p', { class: 'muted', text: 'No check is in maintenance.' }),
          h('h2', { text: 'Planned windows' }),
          m.windows.length ? table('maintenance-windows', ['Window', 'From', 'To', 'Mode', 'Reason', 'By'], m.windows.map((w) => h('tr', { 'data-active': String(w.active) }, h('td', {}, w.name || ('#' + w.id), w.active ? ' (open)' : ''), h('td', { text: ago(w.start) }), h('td', { text: ago(w.end) }), h('td', { text: w.mode }), h('td', { text: w.reason }), h('td', { text: w.author }))))
            : h('p', { class: 'muted', text: 'No window planned. Schedule them with [[maintenance.window]] in the config, or start one here or with lookout maintenance start.' }),
          figures,
          h('h2', { text: 'History (' + m.history.length + (m.history.length === 1 ? ' period)' : ' periods)') }),
          m.history.length ? table('maintenance-history', ['Start', 'Duration', 'Mode', 'Known from', 'Planned', 'Overrun', 'Impact', 'Muted alerts', 'Reason'], m.history.map((p) => h('tr', {},
            h('td', { text: ago(p.start) }), h('td', { text: dur(p.duration_seconds) + (p.end ? '' : ' (open)') }), h('td', { text: p.mode }), h('td', { text: p.origin }), h('td', { text: p.planned ? 'yes' : 'no' }),
            h('td', { text: p.overrun_seconds ? dur(p.overrun_seconds) : '—' }), h('td', { text: impactText(p.impact) }), h('td', { text: p.muted.length ? p.muted.join('; ') : 'none' }), h('td', { text: p.reason }))))
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
            li.append(' ', h('button', { class: 'secondary ack', type: 'button', text: 'Acknowledge', 'aria-label': 'Acknowledge ' + a.summary, onclick: async (ev) => {
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
        put(box, 
          h('h2', {}, 'Firing (' + firing.length + ')'), list(firing, 'Nothing is firing.'),
          h('h2', {}, 'Pending (' + pending.length + ')'), list(pending, 'Nothing is pending.'),
          h('h2', {}, 'Silenced or muted (' + muted.length + ')'), list(muted, 'No alert is muted.'),
          h('h2', {}, 'Silences (' + sil.length + ')'),
          sil.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'silences' }, h('thead', {}, h('tr', {}, ['State', 'Matchers', 'Ends', 'Author', 'Comment', ''].map((t) => h('th', { scope: 'col', text: t })))),
            h('tbody', {}, sil.map((x) => h('tr', { 'data-silence': x.id }, h('td', { text: x.state }), h('td', {}, h('code', { text: x.matchers.join(', ') })), h('td', { text: ago(x.ends_at) }), h('td', { text: x.author }), h('td', { text: x.comment }),
              h('td', {}, admin ? h('button', { class: 'secondary', type: 'button', text: 'Expire', 'aria-label': 'Expire silence ' + x.matchers.join(', '), onclick: async (ev) => {
                ev.target.disabled = true;
                try { await api('/api/v1/silences/' + encodeURIComponent(x.id), { method: 'DELETE' }); } catch (err) { alert('Not expired: ' + err.message); }
                this.refresh();
              } }) : null)))))) : h('p', { class: 'muted', text: 'No active silence.' }),
          h('h2', {}, 'History (' + range() + ')'),
          history.history.length ? h('div', { class: 'table-wrap' }, h('table', { id: 'alert-history' }, h('thead', {}, h('tr', {}, ['Time', 'What', 'Severity', 'Rule', 'Summary', 'Told'].map((t) => h('th', { scope: 'col', text: t })))),
            h('tbody', {}, history.history.map((x) => h('tr', {}, h('td', { text: ago(x.at) }), h('td', { text: x.kind }), h('td', {}, badge(x.severity === 'critical' ? 'critical' : x.severity === 'warning' ? 'warning' : 'unknown', x.severity)), h('td', { text: x.rule }), h('td', { text: x.summary }), h('td', { text: x.muted_by ? 'muted: ' + x.muted_by : x.delivery === 'delivered' ? 'yes' : x.delivery })))))) : h('p', { class: 'muted', text: 'No alert activity in this range.' }));
      } catch (e) {
        put(box, h('p', { class: 'error', text: 'Could not load alerts: ' + e.message }));
      }
    },
    onEvent(e) { if (e.kind === 'alert') this.refresh(); },
  };

  pages.events = {
    title: 'Events',
    async render() {
      put(main, header('Events', true), h('ul', { class: 'timeline', id: 'timeline' }));
      await this.refresh();
    },
    async refresh() {
      const ul = document.getElementById('timeline');
      try {
        const ev = (await api('/api/v1/events?from=-' + range() + '&limit=1000')).events;
        ul.replaceChildren(...(ev.length ? ev.map(eventLine) : [h('li', { class: 'muted', text: 'No events in this range.' })]));
      } catch (e) { ul.replaceChildren(h('li', { class: 'error', text: e.message })); }
    },
    onEvent(e) { const ul = document.getElementById('timeline'); if (ul) ul.prepend(eventLine(e)); },
  };

  pages.notfound = {
    title: 'Not found',
    async render() { put(main, h('h1', { text: 'Not found' }), h('p', {}, 'No page here. ', h('a', { href: '/', text: 'Go to the overview' }))); },
  };

  // ---------- routing and start ----------
  function resolve(path) {
    const m = path.match(/^\/checks\/(.+)$/);
    if (m) return { name: 'checks', arg: decodeURIComponent(m[1]) };
    const name = { '/': 'overview', '/system': 'system', '/checks': 'checks', '/database': 'database', '/redis': 'redis', '/maintenance': 'maintenance', '/alerts': 'alerts', '/events': 'events' }[path.replace(/\/$/, '') || '/'];
    return { name: name || 'notfound', arg: null };
  }
  const route = resolve(location.pathname);
  const page = pages[route.name];
  for (const a of document.querySelectorAll('#nav a')) {
    const href = a.getAttribute('href');
    if (href === location.pathname || (href !== '/' && location.pathname.startsWith(href + '/'))) a.setAttribute('aria-current', 'page');
    // keep the chosen range while moving between pages
    if (location.search && /range=/.test(location.search)) a.setAttribute('href', href + '?range=' + range());
  }

  async function start() {
    await loadSession();
    try { L.status = await api(statusUrl()); } catch (e) { main.prepend(h('p', { class: 'error', text: 'Could not load the status: ' + e.message })); }
    document.title = page.title + ' · Lookout' + (L.status ? ': ' + L.status.overall : '');
    await page.render(route.arg);
    if (L.status) setStatus(L.status);
    document.body.dataset.ready = 'true';
    L.rerender = () => page.render(route.arg);
    connectLive();
    setInterval(refresh, L.refreshMs);
  }
  start();
})();
