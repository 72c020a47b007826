// Lookout dashboard charts: `lookoutCharts.chart(opts, ctx)` returns a chart's <figure>, loads
// its series from /api/v1/series, follows the live feed through `live(at, samples)` and
// registers itself in `ctx.L.charts`. `ctx` passes app.js's helpers (api, range, fmt, fmtTime,
// h, s, put, RANGES, COLORS, L), so this file owns the drawing and nothing else.
'use strict';
window.lookoutCharts = (function () {
  // ---------- charts (SVG) ----------
  // opts: title, name, labels (matchers), unit ('ratio'|'s'|'bytes'|'Bps'|''), rate (counter -> per second),
  // thresholds [{value, level, label}], fallback (another series name when this one has no data)
  function chart(opts, ctx) {
    const { api, range, fmt, fmtTime, h, s, put, RANGES, COLORS, L } = ctx;
    const wrap = h('figure', { class: 'chart', 'data-series': opts.name });
    const title = h('h3', {}, h('span', { text: opts.title }), h('span', { class: 'now' }));
    const tip = h('div', { class: 'tip', 'aria-live': 'polite' });
    const svgBox = h('div', {});
    const legend = h('div', { class: 'legend' });
    const details = h('details', {}, h('summary', { text: 'Data table' }));
    wrap.append(title, legend, svgBox, tip, details);
    const c = { opts, lines: [], el: wrap, from: 0, to: 0, cursor: -1 };
    const rng = opts.range || range();
    const span = RANGES[rng] * 1000;
    c.reload = async () => {
      const width = Math.max(200, Math.round(svgBox.clientWidth || 600));
      const q = new URLSearchParams({ name: c.name || opts.name, from: '-' + rng, max_points: String(Math.min(width, 2000)) });
      for (const [k, v] of Object.entries(opts.labels || {})) q.set(k, v);
      try {
        let data = await api('/api/v1/series?' + q);
        if (!data.series.some((x) => x.points.length) && opts.fallback && !c.name) {
          c.name = opts.fallback;
          q.set('name', opts.fallback);
          data = await api('/api/v1/series?' + q);
        }
        c.step = data.step_seconds * 1000;
        c.lines = data.series.map((x) => ({ labels: x.labels, points: x.points.filter((p) => p.avg !== null).map((p) => ({ at: p.at, v: p.avg, min: p.min, max: p.max })) }));
        c.error = null;
      } catch (e) { c.error = e.message; }
      draw();
    };
    c.live = (at, samples) => {
      const name = c.name || opts.name;
      let changed = false;
      for (const smp of samples) {
        if (smp.name !== name || smp.value === null) continue;
        if (!Object.entries(opts.labels || {}).every(([k, v]) => smp.labels[k] === v)) continue;
        const key = JSON.stringify(smp.labels);
        let line = c.lines.find((l) => JSON.stringify(l.labels) === key);
        if (!line) { line = { labels: smp.labels, points: [] }; c.lines.push(line); }
        const last = line.points[line.points.length - 1];
        if (last && at <= last.at) continue;
        line.points.push({ at, v: smp.value, min: smp.value, max: smp.value });
        const cut = at - span;
        while (line.points.length && line.points[0].at < cut) line.points.shift();
        changed = true;
      }
      if (changed) draw();
    };
    function series() {
      // what is drawn: values, or per-second rates of counters
      return c.lines.map((l) => {
        if (!opts.rate) return { labels: l.labels, points: l.points };
        const pts = [];
        for (let i = 1; i < l.points.length; i++) {
          const a = l.points[i - 1], b = l.points[i];
          const dt = (b.at - a.at) / 1000;
          if (dt > 0 && b.v >= a.v) pts.push({ at: b.at, v: (b.v - a.v) / dt });
        }
        return { labels: l.labels, points: pts };
      });
    }
    function lineName(labels) {
      const skip = Object.keys(opts.labels || {});
      const parts = Object.entries(labels).filter(([k]) => !skip.includes(k) && k !== 'device' && k !== 'fstype').map(([, v]) => v);
      return parts.join(' ') || opts.title;
    }
    function draw() {
      const W = Math.max(200, Math.round(svgBox.clientWidth || 600)), H = 180, PL = 56, PR = 8, PT = 8, PB = 22;
      const lines = series();
      const now = Date.now();
      const x0 = now - span, x1 = now;
      const all = lines.flatMap((l) => l.points.map((p) => p.v));
      const thresholds = opts.thresholds || [];
      let ymax = all.length ? Math.max(...all) : 1;
      if (opts.unit === 'ratio') ymax = 1;
      else {
        if (thresholds.length && ymax >= thresholds[0].value / 10) ymax = Math.max(ymax, thresholds[0].value);
        ymax = ymax > 0 ? ymax * 1.15 : 1;
      }
      const X = (t) => PL + ((t - x0) / (x1 - x0)) * (W - PL - PR);
      const Y = (v) => PT + (1 - Math.min(v, ymax) / ymax) * (H - PT - PB);
      const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', tabindex: '0', 'aria-label': opts.title + ' over the last ' + rng + '. Use the arrow keys to read values; the data table below has every point.' });
      for (let i = 0; i <= 4; i++) {
        const v = (ymax * i) / 4;
        svg.append(s('line', { class: 'grid-line', x1: PL, x2: W - PR, y1: Y(v), y2: Y(v) }));
        const t = s('text', { x: PL - 4, y: Y(v) + 4, 'text-anchor': 'end' });
        t.textContent = fmt(v, opts.unit);
        svg.append(t);
      }
      for (let i = 0; i <= 4; i++) {
        const at = x0 + (span * i) / 4;
        const t = s('text', { x: X(at), y: H - 6, 'text-anchor': i === 0 ? 'start' : i === 4 ? 'end' : 'middle' });
        t.textContent = span > 86400000 ? fmtTime(at, true).slice(5, 16) : fmtTime(at).slice(0, 5);
        svg.append(t);
      }
      svg.append(s('line', { class: 'axis', x1: PL, x2: PL, y1: PT, y2: H - PB }), s('line', { class: 'axis', x1: PL, x2: W - PR, y1: H - PB, y2: H - PB }));
      for (const th of thresholds) {
        if (th.value > ymax) continue;
        svg.append(s('line', { class: 'thr-' + th.level, x1: PL, x2: W - PR, y1: Y(th.value), y2: Y(th.value) }));
        const t = s('text', { x: W - PR - 2, y: Y(th.value) - 3, 'text-anchor': 'end' });
        t.textContent = th.level + ' ' + fmt(th.value, opts.unit);
        svg.append(t);
      }
      lines.forEach((l, i) => {
        if (!l.points.length) return;
        const gap = Math.max((c.step || 0) * 3, 5 * 60000);
        let d = '', prev = null;
        for (const p of l.points) {
          d += (prev === null || p.at - prev > gap ? 'M' : 'L') + X(p.at).toFixed(1) + ' ' + Y(p.v).toFixed(1);
          prev = p.at;
        }
        svg.append(s('path', { class: 'line', d, stroke: COLORS[i % COLORS.length], 'data-points': l.points.length }));
        const dots = l.points.length <= 60 ? l.points : [l.points[l.points.length - 1]];
        for (const p of dots) svg.append(s('circle', { cx: X(p.at).toFixed(1), cy: Y(p.v).toFixed(1), r: 2.5, fill: COLORS[i % COLORS.length] }));
      });
      const cursor = s('line', { class: 'cursor', x1: -10, x2: -10, y1: PT, y2: H - PB, visibility: 'hidden' });
      svg.append(cursor);
      const ref = lines.find((l) => l.points.length);
      function show(idx) {
        if (!ref) return;
        idx = Math.max(0, Math.min(ref.points.length - 1, idx));
        c.cursor = idx;
        const p = ref.points[idx];
        cursor.setAttribute('x1', X(p.at));
        cursor.setAttribute('x2', X(p.at));
        cursor.setAttribute('visibility', 'visible');
        const vals = lines.map((l) => {
          let best = null;
          for (const q of l.points) if (best === null || Math.abs(q.at - p.at) < Math.abs(best.at - p.at)) best = q;
          return best ? (lines.length > 1 ? lineName(l.labels) + ' ' : '') + fmt(best.v, opts.unit) : null;
        }).filter(Boolean);
        tip.textContent = fmtTime(p.at, true) + ' — ' + vals.join(', ');
      }
      svg.addEventListener('pointermove', (e) => {
        if (!ref) return;
        const r = svg.getBoundingClientRect();
        const t = x0 + ((((e.clientX - r.left) / r.width) * W - PL) / (W - PL - PR)) * span;
        let best = 0;
        ref.points.forEach((p, i) => { if (Math.abs(p.at - t) < Math.abs(ref.points[best].at - t)) best = i; });
        show(best);
      });
      svg.addEventListener('pointerleave', () => { cursor.setAttribute('visibility', 'hidden'); tip.textContent = ''; });
      svg.addEventListener('keydown', (e) => {
        if (!ref) return;
        const step = e.shiftKey ? 10 : 1;
        if (e.key === 'ArrowLeft') { show((c.cursor < 0 ? ref.points.length : c.cursor) - step); e.preventDefault(); }
        else if (e.key === 'ArrowRight') { show((c.cursor < 0 ? ref.points.length - 2 : c.cursor) + step); e.preventDefault(); }
        else if (e.key === 'Home') { show(0); e.preventDefault(); }
        else if (e.key === 'End') { show(ref.points.length - 1); e.preventDefault(); }
      });
      svgBox.replaceChildren(svg);
      if (c.error) svgBox.append(h('p', { class: 'error', text: 'Could not load: ' + c.error }));
      else if (!ref) svgBox.append(h('p', { class: 'nodata', text: 'No data in the last ' + rng + '.' }));
      put(legend, ...(lines.length > 1 ? lines.map((l, i) => h('span', {}, h('i', { style: 'background:' + COLORS[i % COLORS.length] }), lineName(l.labels))) : []),
        ...thresholds.map((t) => h('span', { class: 'muted' }, t.level + ' at ' + fmt(t.value, opts.unit) + (t.value > ymax ? ' (above the chart)' : ''))));
      const last = ref ? ref.points[ref.points.length - 1] : null;
      title.querySelector('.now').textContent = last ? fmt(last.v, opts.unit) : '';
      wrap.dataset.points = String(lines.reduce((n, l) => n + l.points.length, 0));
      if (details.open) table();
    }
    function table() {
      const rows = [];
      for (const l of series()) for (const p of l.points.slice(-500).reverse()) rows.push(h('tr', {}, h('td', { text: lineName(l.labels) }), h('td', { text: fmtTime(p.at, true) }), h('td', { text: fmt(p.v, opts.unit) })));
      const t = h('div', { class: 'table-wrap' }, h('table', {}, h('caption', { class: 'muted', text: opts.title + ' (newest first, at most 500 rows per line)' }), h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Series' }), h('th', { scope: 'col', text: 'Time' }), h('th', { scope: 'col', text: 'Value' }))), h('tbody', {}, rows)));
      details.replaceChildren(details.firstChild, t);
    }
    details.addEventListener('toggle', () => { if (details.open) table(); });
    L.charts.push(c);
    requestAnimationFrame(() => c.reload());
    return wrap;
  }
  return { chart };
})();
