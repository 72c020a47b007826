// Lookout dashboard charts, drawn by uPlot (vendor/uPlot.iife.min.js, MIT, see
// vendor/LICENSE-uPlot): time series with nice ticks in their unit, threshold bands from the
// API, gaps where data is missing, drag-to-zoom (double-click resets) and on a touch screen
// pinch-to-zoom (double-tap resets), a crosshair shared by the charts of a page, the theme's
// colours, keyboard reading and a data table.
// `window.lookoutCharts.chart(opts, ctx)` returns a <figure>; the chart object (reload, live,
// destroy, el) goes to ctx.L.charts. `opts.host`: one host's series (`host=` of
// /api/v1/series; `opts.localHost`: this Lookout's own, those without a host label). No build step.
'use strict';
(function () {
  const RANGES = { '1h': 3600, '6h': 21600, '24h': 86400, '7d': 604800, '30d': 2592000 };
  const HEIGHT = 180;
  const MIN_SPAN = 1000; // the narrowest a pinch zooms to, ms
  const FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  const FALLBACK = {
    '--text': '#1b1f24', '--muted': '#4d5661', '--surface': '#ffffff', '--border': '#8a939c', '--grid': '#e4e7ea',
    '--accent': '#0b57d0', '--warning': '#b86e00', '--critical': '#b3261e',
    '--series-1': '#0b57d0', '--series-2': '#b3261e', '--series-3': '#146c2e', '--series-4': '#7d3c98',
    '--series-5': '#a15c00', '--series-6': '#006b75', '--series-7': '#5f6368',
  };
  const drawn = new Set(); // charts with a uPlot instance, for theme changes
  const groups = new Map(); // sync key -> Set of charts (shared zoom)
  let seq = 0;

  // ---------- units ----------
  // The kinds of values: seconds, ratio (shown as %), bytes, Bps (bytes per second), count.
  function kindOf(unit) {
    switch (unit) {
      case 's': case 'seconds': return 'seconds';
      case 'ratio': case 'percent': return 'ratio';
      case 'bytes': return 'bytes';
      case 'Bps': case 'bytes_per_second': return 'Bps';
      default: return 'count';
    }
  }
  const BIN = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  // How a kind shows values up to `max`: divide by `div`, append `suffix`.
  function scaleOf(kind, max) {
    const m = Math.abs(max) || 0;
    if (kind === 'ratio') return { div: 0.01, suffix: ' %' };
    if (kind === 'seconds') {
      if (m > 0 && m < 0.001) return { div: 1e-6, suffix: ' µs' };
      if (m < 1) return { div: 0.001, suffix: ' ms' };
      if (m < 600) return { div: 1, suffix: ' s' };
      if (m < 36000) return { div: 60, suffix: ' min' };
      return { div: 3600, suffix: ' h' };
    }
    if (kind === 'bytes' || kind === 'Bps') {
      let i = 0;
      while (m >= Math.pow(1024, i + 1) && i < BIN.length - 1) i++;
      return { div: Math.pow(1024, i), suffix: ' ' + BIN[i] + (kind === 'Bps' ? '/s' : '') };
    }
    if (m >= 1e9) return { div: 1e9, suffix: 'G' };
    if (m >= 1e6) return { div: 1e6, suffix: 'M' };
    if (m >= 1e4) return { div: 1e3, suffix: 'k' };
    return { div: 1, suffix: '' };
  }
  function trim(text) {
    return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
  }
  // One value for people (title, tooltip, table, legend): about 3 significant digits.
  function fmtValue(v, unit) {
    if (v === null || v === undefined || !Number.isFinite(v)) return '—';
    const kind = kindOf(unit);
    const sc = scaleOf(kind, v);
    const x = v / sc.div;
    const a = Math.abs(x);
    if (kind === 'count' && sc.div === 1) return Number.isInteger(x) ? String(x) : trim(x.toFixed(a < 10 ? 2 : 1));
    const digits = a === 0 || a >= 1000 ? 0 : a >= 10 ? 1 : 2;
    return trim(x.toFixed(digits)) + sc.suffix;
  }
  // A nice step (1, 2, 2.5, 5 × 10^k) near `raw`; whole numbers only for counts.
  function niceStep(raw, whole) {
    if (!(raw > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / p;
    const m = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 && !(whole && p === 1) ? 2.5 : f <= 5 ? 5 : 10;
    const step = m * p;
    return whole ? Math.max(1, Math.round(step)) : step;
  }
  // The y axis: from lo to hi in `n` nice steps, in the kind's display unit.
  // `whole`: a count (clients, connections), whose ticks are whole numbers.
  function yPlan(lo, hi, kind, ticks, whole) {
    const sc = scaleOf(kind, Math.max(Math.abs(lo), Math.abs(hi)));
    whole = (whole && sc.div === 1) || (kind === 'bytes' && sc.div === 1);
    const step = niceStep((hi - lo) / sc.div / Math.max(1, ticks), whole) * sc.div;
    const top = Math.ceil(hi / step - 1e-9) * step;
    const bottom = Math.floor(lo / step + 1e-9) * step;
    const decimals = Math.max(0, -Math.floor(Math.log10(step / sc.div) + 1e-9));
    return { lo: bottom, hi: top, step, sc, decimals: whole ? 0 : Math.min(decimals + 1, 6) };
  }
  function tickLabel(v, plan) {
    const x = v / plan.sc.div;
    return Math.abs(x) < 1e-9 ? '0' : trim(x.toFixed(plan.decimals)) + plan.sc.suffix;
  }

  // Time ticks in UTC, as every other time of the dashboard, the CLI and the API: hours and
  // minutes (24 h), the date (and the zone, once) under the first tick and where the day
  // changes; dates alone when ticks are days apart.
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  function timeTicks(u, splits, axisIdx, space, incr) {
    const p = (n) => String(n).padStart(2, '0');
    let day = null;
    return splits.map((ms, i) => {
      const d = new Date(ms);
      const date = d.getUTCDate() + ' ' + MONTHS[d.getUTCMonth()] + (i === 0 ? ' UTC' : '');
      if (incr >= 86400000) return date;
      const time = p(d.getUTCHours()) + ':' + p(d.getUTCMinutes()) + (incr < 60000 ? ':' + p(d.getUTCSeconds()) : '');
      const label = day === date ? time : time + '\n' + date;
      day = date.replace(' UTC', '');
      return label;
    });
  }

  // ---------- thresholds ----------
  // The API's shape {comparison, warning, critical, warning_clear, critical_clear, unit}, or
  // the older list [{value, level}]: levels to draw, worst last.
  function levels(th) {
    if (!th) return [];
    if (Array.isArray(th)) return th.filter((t) => Number.isFinite(t.value)).map((t) => ({ level: t.level, value: t.value, above: true }));
    const above = th.comparison !== 'below';
    const out = [];
    for (const level of ['warning', 'critical']) {
      const value = th[level];
      if (value === null || value === undefined || !Number.isFinite(Number(value))) continue;
      const clear = th[level + '_clear'];
      out.push({ level, value: Number(value), above, clear: Number.isFinite(clear) ? clear : null });
    }
    return out;
  }
  // The effective rules of /api/v1/thresholds, fetched once a minute at most for all charts;
  // null when the daemon has no such endpoint (the chart keeps what it was given).
  let rules = null, rulesAt = 0;
  function thresholdRules(api) {
    if (!rules || Date.now() - rulesAt > 60000) {
      rulesAt = Date.now();
      rules = api('/api/v1/thresholds').then((d) => (d && Array.isArray(d.rules) ? d.rules : null), () => null);
    }
    return rules;
  }
  // The rule of a metric whose label matchers the chart's labels satisfy; the most specific wins.
  function ruleFor(list, metric, labels) {
    let best = null;
    for (const r of list) {
      if (r.metric !== metric) continue;
      const m = Object.entries(r.labels || {});
      if (!m.every(([k, v]) => (labels || {})[k] === v)) continue;
      if (!best || m.length > Object.keys(best.labels || {}).length) best = r;
    }
    return best;
  }
  function levelText(t, unit, offChart) {
    return t.level + (t.above ? ' above ' : ' below ') + fmtValue(t.value, unit) +
      (t.clear !== null && t.clear !== undefined && t.clear !== t.value ? ' (clears ' + (t.above ? 'below ' : 'above ') + fmtValue(t.clear, unit) + ')' : '') +
      (offChart ? ' (off the chart)' : '');
  }

  // ---------- theme ----------
  function palette() {
    const cs = getComputedStyle(document.documentElement);
    const get = (name) => (cs.getPropertyValue(name) || '').trim() || FALLBACK[name];
    const series = [];
    for (let i = 1; i <= 7; i++) series.push(get('--series-' + i));
    return {
      text: get('--text'), muted: get('--muted'), grid: get('--grid'), border: get('--border'),
      accent: get('--accent'), warning: get('--warning'), critical: get('--critical'), surface: get('--surface'), series,
    };
  }
  function rebuildAll() {
    for (const c of [...drawn]) {
      if (!c.el.isConnected) c.destroy();
      else c.rebuild();
    }
  }
  document.addEventListener('lookout-theme', () => requestAnimationFrame(rebuildAll));
  if (window.matchMedia) {
    const mq = window.matchMedia('(prefers-color-scheme: dark)');
    if (mq.addEventListener) mq.addEventListener('change', () => requestAnimationFrame(rebuildAll));
  }

  // ---------- data ----------
  // Typical spacing of points: the step the server reports, or the median distance between
  // points (raw data comes at the probe interval, with step 0).
  function spacing(points, step) {
    const d = [];
    for (let i = 1; i < points.length; i++) d.push(points[i].at - points[i - 1].at);
    d.sort((a, b) => a - b);
    const median = d.length ? d[Math.floor(d.length / 2)] : 0;
    return Math.max(step || 0, median || 0);
  }
  // One x array for all lines (uPlot's aligned data): `undefined` where a line has no point at
  // another line's time (drawn through), `null` where its data is missing (a gap).
  function align(lines, step) {
    const xs = new Set();
    const withGaps = lines.map((l) => {
      const sp = spacing(l.points, step);
      const out = [];
      let prev = null;
      for (const p of l.points) {
        if (prev && sp > 0 && p.at - prev.at > 2 * sp) out.push({ at: prev.at + sp, v: null, gap: true });
        out.push(p);
        prev = p;
      }
      for (const p of out) xs.add(p.at);
      return out;
    });
    const x = [...xs].sort((a, b) => a - b);
    const index = new Map(x.map((t, i) => [t, i]));
    const ys = withGaps.map((pts) => {
      const y = new Array(x.length).fill(undefined);
      for (const p of pts) y[index.get(p.at)] = p.v;
      return y;
    });
    const gaps = withGaps.reduce((n, pts) => n + pts.filter((p) => p.v === null).length, 0);
    return { data: [x, ...ys], gaps };
  }

  // ---------- the chart ----------
  function chart(opts, ctx) {
    const h = ctx.h;
    const L = ctx.L;
    const id = 'chart-' + ++seq;
    const rng = opts.range || ctx.range();
    const span = (RANGES[rng] || 86400) * 1000;
    const kind = kindOf(opts.unit);
    const group = opts.group || 'page:' + location.pathname;

    const titleText = h('span', { id: id + '-title', text: opts.title });
    const title = h('h3', {}, titleText, h('span', { class: 'now' }));
    const legend = h('div', { class: 'legend' });
    const plot = h('div', {
      class: 'plot', tabindex: '0', role: 'img', id: id + '-plot',
      'aria-label': opts.title + ' over the last ' + rng + '. Arrow keys read the values (Home and End: first and last); drag or pinch to zoom, double-click or double-tap to reset; the data table below has every point.',
    });
    const tip = h('div', { class: 'tip', 'aria-live': 'polite' });
    const reset = h('button', { type: 'button', class: 'zoom-reset', hidden: true, text: 'Reset zoom' });
    reset.addEventListener('click', () => resetZoom(true));
    const details = h('details', {}, h('summary', { text: 'Data table' }));
    const wrap = h('figure', { class: 'chart', 'data-series': opts.name, 'aria-labelledby': id + '-title' }, title, legend, plot, h('div', { class: 'under' }, tip, reset), details);

    const c = { offChart: new Set(), opts, el: wrap, lines: [], step: 0, u: null, zoom: null, home: null, name: null, error: null, loaded: false };
    let drawnData = { data: [[]], gaps: 0 };
    let keyIdx = -1;
    let observer = null;
    // Thresholds: the object the page passes (the API's shape); without one, or with an older
    // constant list, the daemon's effective rule for this metric and labels.
    let ths = levels(opts.thresholds);
    const askRules = opts.thresholds === undefined || Array.isArray(opts.thresholds);

    if (!groups.has(group)) groups.set(group, new Set());
    groups.get(group).add(c);

    // what is drawn: values, or per-second rates of counters
    function series() {
      return c.lines.map((l) => {
        if (!opts.rate) return { labels: l.labels, points: l.points };
        const pts = [];
        for (let i = 1; i < l.points.length; i++) {
          const a = l.points[i - 1], b = l.points[i];
          const dt = (b.at - a.at) / 1000;
          if (dt > 0 && a.v !== null && b.v !== null && b.v >= a.v) pts.push({ at: b.at, v: (b.v - a.v) / dt });
          else if (b.v === null) pts.push({ at: b.at, v: null });
        }
        return { labels: l.labels, points: pts };
      });
    }
    function lineName(labels) {
      const skip = Object.keys(opts.labels || {});
      const parts = Object.entries(labels).filter(([k]) => !skip.includes(k) && k !== 'device' && k !== 'fstype' && !(opts.host && k === 'host')).map(([, v]) => v);
      return parts.join(' ') || opts.title;
    }
    // The x range when not zoomed: the page's range, from the first point when the data
    // starts later (a young install's hour of data fills the chart, not its right 1 %).
    function homeRange() {
      const now = Date.now();
      let first = Infinity, last = -Infinity;
      for (const v of drawnData.data[0]) { first = Math.min(first, v); last = Math.max(last, v); }
      const to = Math.max(now, Number.isFinite(last) ? last : now);
      let from = to - span;
      if (Number.isFinite(first) && first > from) from = Math.min(first, to - 60000);
      return { min: from, max: to };
    }
    // The y range: 0 (or the lowest value) to the highest, and the thresholds when they are
    // near the data (else the legend says they are above the chart).
    function yRange(dmin, dmax) {
      const hasData = Number.isFinite(dmin) && Number.isFinite(dmax) && dmin !== null && dmax !== null;
      let lo = hasData ? Math.min(0, dmin) : 0;
      let hi = hasData ? Math.max(dmax, 0) : 0;
      if (kind === 'ratio') hi = Math.max(hi, 1);
      for (const t of ths) {
        if (!t.above) lo = Math.min(lo, t.value);
        else if (!c.offChart.has(t.level)) hi = Math.max(hi, t.value);
      }
      if (hi <= lo) hi = lo + (kind === 'count' ? 4 : kind === 'seconds' ? 0.01 : 1);
      else if (kind !== 'ratio' || hi > 1) hi = hi + (hi - lo) * 0.08;
      const ticks = Math.max(2, Math.min(6, Math.floor(HEIGHT / 38)));
      c.plan = yPlan(lo, hi, kind, ticks, c.whole);
      return [c.plan.lo, c.plan.hi];
    }
    // Thresholds far above all the data (3 times its highest value) stay off the chart: the
    // legend says so, and the data keeps the chart's height.
    function offChart(lines) {
      let max = 0;
      for (const l of lines) for (const p of l.points) if (p.v !== null && p.v > max) max = p.v;
      if (kind === 'ratio') max = Math.max(max, 1 / 3);
      return new Set(ths.filter((t) => t.above && t.value > max * 3).map((t) => t.level));
    }
    function ySplits(u, axisIdx, min, max) {
      const plan = c.plan || yPlan(min, max, kind, 4, c.whole);
      const out = [];
      for (let v = plan.lo; v <= plan.hi + plan.step * 1e-6; v += plan.step) out.push(Math.round(v / plan.step) * plan.step);
      return out;
    }
    function axisSize(u, values, axisIdx, cycleNum) {
      const axis = u.axes[axisIdx];
      if (cycleNum > 1) return axis._size;
      let size = (axis.ticks && axis.ticks.show !== false ? axis.ticks.size : 0) + axis.gap;
      u.ctx.font = axis.font[0];
      let widest = 0;
      for (const v of values || []) widest = Math.max(widest, u.ctx.measureText(String(v)).width);
      size += widest / devicePixelRatio;
      return Math.ceil(size) + 2;
    }
    // Threshold bands and lines, and their labels (kept apart), under the series.
    function drawThresholds(u) {
      if (!ths.length) return;
      const pal = c.pal;
      const g = u.ctx;
      const { left, top, width, height } = u.bbox;
      const px = devicePixelRatio;
      const yAt = (v) => Math.round(u.valToPos(v, 'y', true));
      g.save();
      g.beginPath();
      g.rect(left, top, width, height);
      g.clip();
      const shown = ths.filter((t) => !c.offChart.has(t.level));
      // bands: warning up to critical, critical to the edge
      for (let i = 0; i < shown.length; i++) {
        const t = shown[i];
        const next = shown[i + 1];
        const y0 = yAt(t.value);
        const y1 = next ? yAt(next.value) : t.above ? top : top + height;
        g.globalAlpha = 0.1;
        g.fillStyle = pal[t.level] || pal.warning;
        g.fillRect(left, Math.min(y0, y1), width, Math.abs(y1 - y0));
      }
      g.globalAlpha = 1;
      g.lineWidth = 1.5 * px;
      const labels = [];
      for (const t of shown) {
        const y = yAt(t.value) + 0.5;
        g.strokeStyle = pal[t.level] || pal.warning;
        g.setLineDash(t.level === 'critical' ? [2 * px, 3 * px] : [6 * px, 4 * px]);
        g.beginPath();
        g.moveTo(left, y);
        g.lineTo(left + width, y);
        g.stroke();
        labels.push({ t, y });
      }
      g.setLineDash([]);
      // labels right-aligned, above their line, or below it when there is no room above (the
      // top of the chart, or the label of a line just above): never over each other
      g.font = 'bold ' + Math.round(11 * px) + 'px system-ui, sans-serif';
      g.textAlign = 'right';
      const lh = 13 * px;
      let prevBase = -Infinity;
      for (const { t, y } of labels.sort((a, b) => a.y - b.y)) {
        let ty = y - 3 * px;
        if (ty - lh < top || ty - lh < prevBase) ty = y + lh;
        if (ty < prevBase + lh) ty = prevBase + lh;
        prevBase = ty;
        const text = t.level + ' ' + fmtValue(t.value, opts.unit);
        const w = g.measureText(text).width;
        g.globalAlpha = 0.85;
        g.fillStyle = pal.surface;
        g.fillRect(left + width - 6 * px - w, ty - lh + 3 * px, w + 4 * px, lh);
        g.globalAlpha = 1;
        g.fillStyle = pal[t.level] || pal.warning;
        g.fillText(text, left + width - 4 * px, ty);
      }
      g.restore();
    }
    function readout(idx) {
      if (idx === null || idx === undefined || !c.u) { tip.textContent = ''; wrap.dataset.cursor = ''; return; }
      const d = drawnData.data;
      const at = d[0][idx];
      const lines = series();
      const vals = [];
      for (let i = 1; i < d.length; i++) {
        let v = d[i][idx];
        if (v === undefined) {
          // nearest point of this line
          let best = null;
          for (let j = 0; j < d[0].length; j++) if (d[i][j] !== undefined && d[i][j] !== null && (best === null || Math.abs(d[0][j] - at) < Math.abs(d[0][best] - at))) best = j;
          v = best === null ? null : d[i][best];
        }
        vals.push((d.length > 2 ? lineName(lines[i - 1].labels) + ' ' : '') + (v === null ? 'no data' : fmtValue(v, opts.unit)));
      }
      tip.textContent = ctx.fmtTime(at, true) + ' — ' + vals.join(', ');
      wrap.dataset.cursor = String(at);
    }
    function uplotOpts(width) {
      const pal = (c.pal = palette());
      const axis = { stroke: pal.muted, font: FONT, labelFont: FONT, grid: { stroke: pal.grid, width: 1 }, ticks: { stroke: pal.grid, width: 1, size: 4 }, gap: 4 };
      const lines = series();
      return {
        width,
        height: HEIGHT,
        ms: 1,
        // ticks fall on UTC hours and days (uPlot would align them to the browser's zone)
        tzDate: (ms) => uPlot.tzDate(new Date(ms), 'Etc/UTC'),
        pxAlign: 0,
        // room on the right for half of the last time label, which is centred on its tick
        padding: [10, (u) => {
          const vals = u.axes[0]._values;
          const last = vals && vals.length ? String(vals[vals.length - 1]).split('\n')[0] : '00:00:00';
          u.ctx.font = u.axes[0].font[0];
          return Math.ceil(u.ctx.measureText(last).width / devicePixelRatio / 2) + 4;
        }, 0, 0],
        legend: { show: false },
        cursor: {
          y: false,
          sync: { key: group, setSeries: false, scales: ['x', null] },
          drag: { x: true, y: false, setScale: true },
          bind: { dblclick: () => null },
          points: { size: 7 },
        },
        scales: {
          x: { time: true, auto: false },
          y: { range: (u, dmin, dmax) => yRange(dmin, dmax) },
        },
        axes: [
          { ...axis, space: 64, values: timeTicks },
          { ...axis, size: axisSize, splits: ySplits, values: (u, splits) => splits.map((v) => tickLabel(v, c.plan)) },
        ],
        series: [
          {},
          ...lines.map((l, i) => ({
            label: lineName(l.labels),
            stroke: pal.series[i % pal.series.length],
            width: 1.6,
            spanGaps: false,
            points: { show: (u, si, i0, i1) => i1 - i0 <= 90, size: 4, fill: pal.series[i % pal.series.length] },
          })),
        ],
        hooks: {
          drawAxes: [drawThresholds],
          setCursor: [(u) => readout(u.cursor.idx)],
          draw: [(u) => { wrap.dataset.yTicks = JSON.stringify(u.axes[1]._values || []); }],
          setScale: [(u, key) => {
            if (key !== 'x') return;
            const s = u.scales.x;
            wrap.dataset.xMin = String(Math.round(s.min));
            wrap.dataset.xMax = String(Math.round(s.max));
            // uPlot applies scales later, in a batch: what this chart set itself is told apart
            // by value; anything else is a drag (here or in a chart of the group): zoomed.
            const want = c.expect;
            if (want && Math.abs(s.min - want.min) < 1 && Math.abs(s.max - want.max) < 1) return;
            c.zoom = { min: s.min, max: s.max };
            wrap.dataset.zoomed = 'true';
            reset.hidden = false;
          }],
        },
      };
    }
    function setX(range) {
      if (!c.u) return;
      c.expect = { min: range.min, max: range.max };
      c.u.setScale('x', range);
    }
    function width() {
      return Math.max(200, Math.floor(plot.clientWidth || 600));
    }
    function build() {
      if (c.u) { c.u.destroy(); c.u = null; }
      c.u = new window.uPlot(uplotOpts(width()), drawnData.data, plot);
      drawn.add(c);
      setX(c.zoom || homeRange());
      c.u.over.addEventListener('dblclick', () => resetZoom(true));
      if (!observer && window.ResizeObserver) {
        let last = width();
        observer = new ResizeObserver(() => {
          const w = width();
          if (c.u && Math.abs(w - last) >= 1) { last = w; c.u.setSize({ width: w, height: HEIGHT }); }
        });
        observer.observe(plot);
      }
    }
    function resetZoom(all) {
      const peers = all ? groups.get(group) || new Set([c]) : new Set([c]);
      for (const p of peers) p.unzoom();
    }
    // Zooms this chart to `range` (a pinch here or on a chart of its group).
    c.zoomTo = (range) => {
      if (!c.u) return;
      c.zoom = { min: range.min, max: range.max };
      wrap.dataset.zoomed = 'true';
      reset.hidden = false;
      setX(c.zoom);
    };
    c.unzoom = () => {
      c.zoom = null;
      delete wrap.dataset.zoomed;
      reset.hidden = true;
      setX(homeRange());
    };
    c.rebuild = () => { if (c.u) build(); };

    function draw() {
      const lines = series();
      const before = c.u ? c.u.series.length - 1 : -1;
      drawnData = align(lines, c.step);
      c.offChart = offChart(lines);
      // counts: said so by the unit, or a unitless series whose values are all whole numbers
      c.whole = kind === 'count' && (opts.unit === 'count' || lines.every((l) => l.points.every((p) => p.v === null || Number.isInteger(p.v))));
      if (!c.u || before !== lines.length) build();
      else {
        c.u.setData(drawnData.data, true);
        setX(c.zoom || homeRange());
      }
      const n = lines.reduce((k, l) => k + l.points.filter((p) => p.v !== null).length, 0);
      wrap.dataset.points = String(n);
      wrap.dataset.gaps = String(drawnData.gaps);
      wrap.dataset.lines = String(lines.length);
      wrap.dataset.thresholds = ths.map((t) => t.level + '=' + t.value).join(' ');
      let note = plot.querySelector('.chart-note');
      const message = c.error ? 'Could not load: ' + c.error : !n && c.loaded ? 'No data in the last ' + rng + '.' : '';
      if (message) {
        if (!note) { note = h('p', { class: 'chart-note' }); plot.append(note); }
        note.className = 'chart-note ' + (c.error ? 'error' : 'nodata');
        note.textContent = message;
      } else if (note) note.remove();
      const pal = c.pal || palette();
      ctx.put(legend,
        ...(lines.length > 1 ? lines.map((l, i) => h('span', {}, h('i', { style: 'background:' + pal.series[i % pal.series.length] }), lineName(l.labels))) : []),
        ...ths.map((t) => h('span', { class: 'thr thr-' + t.level }, h('i', { class: 'thr-key' }), levelText(t, opts.unit, c.offChart && c.offChart.has(t.level)))));
      const ref = lines.find((l) => l.points.some((p) => p.v !== null));
      const last = ref ? [...ref.points].reverse().find((p) => p.v !== null) : null;
      title.querySelector('.now').textContent = last ? fmtValue(last.v, opts.unit) : '';
      if (details.open) table();
    }

    // A page that re-renders without destroy(): the chart lets go once its figure is gone.
    function gone() {
      if (wrap.isConnected) c.seen = true;
      else if (c.seen && !c.destroyed) c.destroy();
      return c.destroyed;
    }
    c.reload = async () => {
      if (gone()) return;
      const q = new URLSearchParams({ name: c.name || opts.name, from: '-' + rng, max_points: String(Math.min(Math.max(200, width()), 2000)) });
      for (const [k, v] of Object.entries(opts.labels || {})) q.set(k, v);
      if (opts.host) q.set('host', opts.host);
      try {
        let data = await ctx.api('/api/v1/series?' + q);
        if (!data.series.some((x) => x.points.length) && opts.fallback && !c.name) {
          c.name = opts.fallback;
          q.set('name', opts.fallback);
          data = await ctx.api('/api/v1/series?' + q);
        }
        // A young install: its data starts well after the range does, and the store answers
        // the whole range from a coarse tier (an hour's data in one hourly point). Asked again
        // from where the data starts, it comes at the resolution that span deserves.
        const most = Math.max(0, ...data.series.map((x) => x.points.length));
        const first = Math.min(...data.series.filter((x) => x.points.length).map((x) => x.points[0].at));
        if (most < 60 && data.tier && data.tier !== 'raw' && first > Date.parse(data.from) + (data.step_seconds || 0) * 1000) {
          q.set('from', String(Math.floor(first / 1000)));
          data = await ctx.api('/api/v1/series?' + q);
        }
        if (askRules) {
          const list = await thresholdRules(ctx.api);
          if (list) ths = levels(ruleFor(list, opts.name, opts.host && !opts.localHost ? { ...opts.labels, host: opts.host } : opts.labels));
        }
        c.step = (data.step_seconds || 0) * 1000;
        c.lines = data.series.map((x) => ({ labels: x.labels, points: x.points.map((p) => ({ at: p.at, v: p.avg === null || p.avg === undefined ? null : p.avg })) }));
        c.error = null;
      } catch (e) { c.error = e.message; }
      c.loaded = true;
      if (gone()) return;
      draw();
    };
    c.live = (at, samples) => {
      if (gone() || !c.loaded) return;
      const name = c.name || opts.name;
      let changed = false;
      for (const smp of samples) {
        if (smp.name !== name || smp.value === null || smp.value === undefined) continue;
        if (!Object.entries(opts.labels || {}).every(([k, v]) => smp.labels[k] === v)) continue;
        // A chosen host: its series (label host), or this Lookout's (no host label).
        if (opts.host && (opts.localHost ? 'host' in smp.labels : smp.labels.host !== opts.host)) continue;
        const key = JSON.stringify(smp.labels);
        let line = c.lines.find((l) => JSON.stringify(l.labels) === key);
        if (!line) { line = { labels: smp.labels, points: [] }; c.lines.push(line); }
        const last = line.points[line.points.length - 1];
        if (last && at <= last.at) continue;
        line.points.push({ at, v: smp.value });
        const cut = at - span;
        while (line.points.length && line.points[0].at < cut) line.points.shift();
        changed = true;
      }
      // at most one redraw a frame, however many observations arrive
      if (changed && !c.frame) c.frame = requestAnimationFrame(() => { c.frame = 0; if (!c.destroyed) draw(); });
    };
    c.destroy = () => {
      c.destroyed = true;
      if (c.frame) cancelAnimationFrame(c.frame);
      if (observer) { observer.disconnect(); observer = null; }
      if (c.u) { c.u.destroy(); c.u = null; }
      drawn.delete(c);
      const g = groups.get(group);
      if (g) { g.delete(c); if (!g.size) groups.delete(group); }
      // after the loop that may be calling this chart (app.js iterates L.charts)
      queueMicrotask(() => {
        const i = L.charts.indexOf(c);
        if (i >= 0) L.charts.splice(i, 1);
      });
    };

    // Touch: two fingers on the plot zoom the time axis around them (the values under the
    // fingers stay under them), every chart of the group alike; a double tap resets. One
    // finger is the browser's: the page scrolls (touch-action: pan-y, charts.css), nothing
    // here sees it but a tap.
    let pinch = null, tap = null, lastTap = null, gesture = false, frame = 0, pending = null;
    const byId = (list, id) => [...list].find((t) => t.identifier === id);
    function zoomGroup(range) {
      pending = range;
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        if (!pending) resetZoom(true);
        else for (const p of groups.get(group) || [c]) p.zoomTo(pending);
      });
    }
    plot.addEventListener('touchstart', (e) => {
      if (!c.u) return;
      if (e.touches.length === 1) {
        const t = e.touches[0];
        tap = { x: t.clientX, y: t.clientY, at: e.timeStamp };
        gesture = false;
        return;
      }
      tap = null;
      gesture = true;
      if (e.targetTouches.length !== 2) { pinch = null; return; }
      const [a, b] = e.targetTouches;
      const left = c.u.over.getBoundingClientRect().left;
      pinch = {
        ids: [a.identifier, b.identifier],
        va: c.u.posToVal(a.clientX - left, 'x'),
        vb: c.u.posToVal(b.clientX - left, 'x'),
      };
    }, { passive: true });
    plot.addEventListener('touchmove', (e) => {
      if (tap && e.touches.length === 1 && Math.hypot(e.touches[0].clientX - tap.x, e.touches[0].clientY - tap.y) > 10) tap = null;
      if (!pinch || !c.u) return;
      const a = byId(e.touches, pinch.ids[0]), b = byId(e.touches, pinch.ids[1]);
      if (!a || !b) return;
      e.preventDefault(); // two fingers: the chart's, not the page's
      const r = c.u.over.getBoundingClientRect();
      const xa = a.clientX - r.left, xb = b.clientX - r.left;
      const home = homeRange();
      const full = home.max - home.min;
      let span = ((pinch.vb - pinch.va) * r.width) / (xb - xa);
      if (!Number.isFinite(span) || span <= 0 || Math.abs(xb - xa) < 8) return; // crossed, or too close
      if (span >= full) { zoomGroup(null); return; } // pinched out to the whole range
      span = Math.max(MIN_SPAN, span);
      const min = Math.max(home.min, Math.min(pinch.va - (xa / r.width) * span, home.max - span));
      zoomGroup({ min, max: min + span });
    }, { passive: false });
    function touchEnd(e) {
      if (pinch && !(byId(e.touches, pinch.ids[0]) && byId(e.touches, pinch.ids[1]))) pinch = null;
      if (e.touches.length) return;
      const t = e.changedTouches[0];
      const isTap = !gesture && tap && t && e.timeStamp - tap.at < 300;
      tap = null;
      gesture = false;
      if (!isTap) { lastTap = null; return; }
      if (lastTap && e.timeStamp - lastTap.at < 400 && Math.hypot(t.clientX - lastTap.x, t.clientY - lastTap.y) < 30) {
        lastTap = null;
        if (e.cancelable) e.preventDefault(); // no emulated clicks after it
        resetZoom(true);
      } else lastTap = { x: t.clientX, y: t.clientY, at: e.timeStamp };
    }
    plot.addEventListener('touchend', touchEnd);
    plot.addEventListener('touchcancel', () => { pinch = null; tap = null; lastTap = null; gesture = false; });

    // keyboard reading: the arrow keys move the crosshair from point to point
    plot.addEventListener('keydown', (e) => {
      const u = c.u;
      if (!u) return;
      const d = drawnData.data;
      const has = [];
      for (let i = 0; i < d[0].length; i++) if (d.slice(1).some((y) => y[i] !== null && y[i] !== undefined)) has.push(i);
      if (!has.length) return;
      const pos = has.indexOf(keyIdx);
      const step = e.shiftKey ? 10 : 1;
      let next;
      if (e.key === 'ArrowLeft') next = pos < 0 ? has.length - 1 - step : pos - step;
      else if (e.key === 'ArrowRight') next = pos < 0 ? has.length - 1 : pos + step;
      else if (e.key === 'Home') next = 0;
      else if (e.key === 'End') next = has.length - 1;
      else if (e.key === 'Escape') { keyIdx = -1; u.setCursor({ left: -10, top: -10 }); readout(null); return; }
      else return;
      e.preventDefault();
      keyIdx = has[Math.max(0, Math.min(has.length - 1, next))];
      const left = u.valToPos(d[0][keyIdx], 'x');
      u.setCursor({ left: Math.max(0, left), top: u.bbox.height / devicePixelRatio / 2 });
      readout(keyIdx);
    });
    plot.addEventListener('blur', () => { keyIdx = -1; });

    function table() {
      const rows = [];
      for (const l of series()) {
        const pts = l.points.filter((p) => p.v !== null);
        for (const p of pts.slice(-500).reverse()) rows.push(h('tr', {}, h('td', { text: lineName(l.labels) }), h('td', { text: ctx.fmtTime(p.at, true) }), h('td', { text: fmtValue(p.v, opts.unit) })));
      }
      const t = h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': opts.title + ': data table' },
        h('table', {}, h('caption', { class: 'muted', text: opts.title + ' (newest first, at most 500 rows per line)' }),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Series' }), h('th', { scope: 'col', text: 'Time' }), h('th', { scope: 'col', text: 'Value' }))),
          h('tbody', {}, rows)));
      details.replaceChildren(details.firstChild, t);
    }
    details.addEventListener('toggle', () => { if (details.open) table(); });
    L.charts.push(c);
    requestAnimationFrame(() => { if (!c.destroyed) c.reload(); });
    return wrap;
  }

  window.lookoutCharts = { chart, fmtValue, kindOf, yPlan, tickLabel, niceStep };
})();
