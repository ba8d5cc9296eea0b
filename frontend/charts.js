/*
 * charts.js: small wrappers around uPlot for the page's live charts (rolling time series)
 * and the benchmark's latency histogram. They keep bounded ring buffers, redraw at most once
 * per animation frame and follow their container's size. Not for fetching anything.
 */
'use strict';
(function () {
  const COLORS = ['#4cc9f0', '#f4a261', '#b388ff', '#06d6a0', '#ef476f', '#ffd166'];
  const AXIS = {
    stroke: '#8b95a7',
    grid: { stroke: 'rgba(255,255,255,0.06)', width: 1 },
    ticks: { stroke: 'rgba(255,255,255,0.10)', width: 1 },
    font: '11px ui-sans-serif, system-ui, sans-serif',
  };

  function fmt_num(v) {
    if (v == null || Number.isNaN(v)) return '—';
    if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + 'M';
    if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(0) + 'k';
    if (Math.abs(v) >= 1e3) return (v / 1e3).toFixed(1) + 'k';
    if (Math.abs(v) >= 10 || v === 0) return String(Math.round(v));
    return v.toFixed(2);
  }

  /* fmt_ticks: an axis's labels, each exact: one unit for the axis (k, M), and as many decimals
   * as the finest tick needs (steps of 0.25 read 0.25/0.50/0.75, not 0.3/0.5/0.8). */
  function fmt_ticks(vals) {
    const fin = vals.filter((v) => v != null && Number.isFinite(v));
    const top = fin.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const [div, suf] = top >= 1e6 ? [1e6, 'M'] : top >= 1e3 ? [1e3, 'k'] : [1, ''];
    let d = 0;
    const exact = (v) => Math.abs(Number((v / div).toFixed(d)) * div - v) <= 1e-9 * Math.max(1, Math.abs(v));
    while (d < 6 && !fin.every(exact)) d++;
    return vals.map((v) => (v == null || !Number.isFinite(v) ? '' : v === 0 ? '0' : (v / div).toFixed(d) + suf));
  }

  /* INCRS_125: tick steps of 1, 2 and 5 × 10^n (uPlot's own list has 2.5 and 25 as well) */
  const INCRS_125 = [];
  for (let e = -4; e <= 9; e++) for (const m of [1, 2, 5]) INCRS_125.push(Number((m * Math.pow(10, e)).toPrecision(1)));

  function box_size(el) {
    const w = Math.max(160, Math.floor(el.clientWidth));
    const h = Math.max(80, Math.floor(el.clientHeight || 140));
    return { width: w, height: h };
  }

  /*
   * TimeChart: a rolling window of `capacity` points with named series.
   * push(tSeconds, [v1, v2, ...]) appends; set_series(names) rebuilds when series change.
   */
  class TimeChart {
    constructor(el, names, opts) {
      this.el = el;
      this.opts = Object.assign({ capacity: 240, yLabel: '', fill: true, yMin: 0 }, opts || {});
      this.names = names.slice();
      this.xs = [];
      this.ys = names.map(() => []);
      this.pending = false;
      this.points = 0;
      if (this.opts.build) this.build = this.opts.build; /* a chart with its own axes */
      this.build();
      this.ro = new ResizeObserver(() => this.resize());
      this.ro.observe(el);
    }

    build() {
      if (this.plot) this.plot.destroy();
      const series = [{}].concat(this.names.map((n, i) => ({
        label: n,
        stroke: (this.opts.colors || COLORS)[i % COLORS.length],
        width: 1.6,
        fill: this.opts.fill && i === 0 ? hex_alpha((this.opts.colors || COLORS)[0], 0.12) : undefined,
        points: { show: false },
        spanGaps: false,
        value: (u, v) => fmt_num(v),
      })));
      this.legend_draw();
      const timeAxis = this.opts.time !== false;
      const opts = Object.assign(box_size(this.el), {
        series,
        legend: { show: false },
        cursor: { show: true, drag: { x: false, y: false }, points: { show: false } },
        scales: { x: timeAxis && this.opts.windowS ? { time: true, range: (u, min, max) => this.window_range(max) } : { time: timeAxis }, y: { range: (u, min, max) => [this.opts.yMin, Math.max(max * 1.15, this.opts.yFloor || 1)] } },
        axes: [
          Object.assign({}, AXIS, { space: 64, values: (u, vals) => vals.map((v) => (timeAxis ? new Date(v * 1000).toTimeString().slice(0, 8) : v + 's')) }),
          Object.assign({}, AXIS, { size: 46, incrs: INCRS_125, values: (u, vals) => fmt_ticks(vals), label: this.opts.yLabel || undefined }),
        ],
      });
      this.plot = new uPlot(opts, [this.xs].concat(this.ys), this.el);
    }

    /* window_range: the last `windowS` seconds up to the newest point; before the first point,
     * up to now (an empty chart's max is null: read as 0, its axis said 23:59:00–00:00:00). */
    window_range(max) {
      const hi = Number.isFinite(max) && max > 0 ? max : Date.now() / 1000;
      return [hi - this.opts.windowS, hi];
    }

    /* legend_draw: colour swatches in the figure's caption (uPlot's own legend would need room below the plot). */
    legend_draw() {
      const fig = this.el.closest('figure');
      const cap = fig && fig.querySelector('figcaption');
      if (!cap) return;
      let box = cap.querySelector('.legend');
      if (!box) { box = document.createElement('span'); box.className = 'legend'; cap.append(box); }
      box.replaceChildren(...this.names.map((n, i) => {
        const s = document.createElement('span');
        s.className = 'legend-item';
        const m = document.createElement('i');
        m.style.background = (this.opts.colors || COLORS)[i % COLORS.length];
        s.append(m, document.createTextNode(n));
        return s;
      }));
    }

    set_series(names) {
      if (names.join('\u0001') === this.names.join('\u0001')) return;
      const old = new Map(this.names.map((n, i) => [n, this.ys[i]]));
      this.names = names.slice();
      this.ys = names.map((n) => old.get(n) || this.xs.map(() => null));
      this.build();
    }

    push(t, values) {
      this.xs.push(t);
      for (let i = 0; i < this.ys.length; i++) this.ys[i].push(values[i] == null ? null : values[i]);
      if (this.xs.length > this.opts.capacity) {
        this.xs.shift();
        for (const y of this.ys) y.shift();
      }
      this.points++;
      this.el.dataset.points = String(this.points);
      if (values[0] != null && values[0] > Number(this.el.dataset.max || 0)) this.el.dataset.max = String(values[0]);
      this.schedule();
    }

    clear() {
      this.xs.length = 0;
      for (const y of this.ys) y.length = 0;
      this.points = 0;
      this.el.dataset.points = '0';
      this.el.dataset.max = '0';
      this.schedule();
    }

    schedule() {
      if (this.pending) return;
      this.pending = true;
      requestAnimationFrame(() => {
        this.pending = false;
        this.plot.setData([this.xs].concat(this.ys));
      });
    }

    resize() {
      const s = box_size(this.el);
      if (s.width !== this.plot.width || s.height !== this.plot.height) this.plot.setSize(s);
    }
  }

  /* BarChart: the latency histogram, one bar per bucket (labels are the bucket bounds). */
  class BarChart {
    constructor(el) {
      this.el = el;
      this.labels = [];
      const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.8, 40] }) : undefined;
      const opts = Object.assign(box_size(el), {
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { show: false } },
        scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
        series: [{}, { label: 'requests', stroke: '#4cc9f0', fill: 'rgba(76,201,240,0.45)', width: 1, paths: bars, points: { show: false } }],
        axes: [
          Object.assign({}, AXIS, {
            space: 60, /* room for a label such as "≤ 10 ms": on a phone every other one */
            incrs: [1, 2, 3, 4, 5, 10],
            values: (u, vals) => vals.map((v) => (this.labels[v] !== undefined ? this.labels[v] : '')),
          }),
          Object.assign({}, AXIS, { size: 60, values: (u, vals) => vals.map((v) => this.yfmt(v)) }),
        ],
      });
      this.yfmt = fmt_num;
      this.plot = new uPlot(opts, [[], []], el);
      this.ro = new ResizeObserver(() => {
        const s = box_size(this.el);
        if (s.width !== this.plot.width || s.height !== this.plot.height) this.plot.setSize(s);
      });
      this.ro.observe(el);
    }

    /* set(buckets): buckets = [{leUs, count}] in ascending order; empty leading/trailing ones trimmed. */
    set(buckets) {
      /* fine log-linear buckets are merged onto a 1-2-5 scale so that ~10-25 bars remain */
      const bounds = [];
      for (let e = 0; e <= 8; e++) for (const m of [1, 2, 5]) bounds.push(m * Math.pow(10, e));
      const counts = new Array(bounds.length + 1).fill(0);
      for (const b of buckets) {
        const le = Number(b.leUs);
        const c = Number(b.count) || 0;
        if (!c) continue;
        let i = bounds.findIndex((x) => le <= x);
        if (i < 0 || !Number.isFinite(le)) i = bounds.length;
        counts[i] += c;
      }
      let lo = 0;
      let hi = counts.length - 1;
      while (lo < hi && !counts[lo]) lo++;
      while (hi > lo && !counts[hi]) hi--;
      const labels = [];
      const values = [];
      for (let i = lo; i <= hi; i++) {
        labels.push(i < bounds.length ? '≤ ' + fmt_us_bound(bounds[i]) : '> ' + fmt_us_bound(bounds[bounds.length - 1]));
        values.push(counts[i]);
      }
      this.bars(labels, values, fmt_num);
    }

    /* bars(labels, values, yfmt): any bar chart, e.g. latency by percentile. */
    bars(labels, values, yfmt) {
      this.labels = labels;
      this.yfmt = yfmt || fmt_num;
      const xs = values.map((_, i) => i);
      const ys = values;
      this.plot.setScale('x', { min: -0.6, max: Math.max(0.6, xs.length - 0.4) });
      this.plot.setData([xs, ys], false);
      this.plot.setScale('x', { min: -0.6, max: Math.max(0.6, xs.length - 0.4) });
      this.el.dataset.points = String(xs.length);
    }
  }

  /* fmt_ms: the page's one format for a latency, wherever it shows one (live figures,
   * benchmark result, percentiles, toasts, Storage, the replication monitor): milliseconds, a
   * space before the unit, 2 decimals under 10 ms, 1 under 100, none above, thousands grouped:
   * "0.52 ms", "1.19 ms", "16.4 ms", "334 ms", "1,204 ms". (The result said "1.2ms" beside a
   * live "1.19 ms" for the same kind of figure.) */
  const MS_FMT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  function fmt_ms(ms) {
    if (ms == null || Number.isNaN(ms)) return '—';
    if (!Number.isFinite(ms)) return '∞';
    /* the decimals by the figure as rounded (9.996 is "10.0 ms", not "10.00 ms") */
    let t = ms.toFixed(2);
    if (Math.abs(Number(t)) >= 10) t = ms.toFixed(1);
    if (Math.abs(Number(t)) >= 100) t = MS_FMT.format(ms);
    return t + ' ms';
  }
  /* fmt_us: a latency given in microseconds, in the same format */
  function fmt_us(us) { return us == null || Number.isNaN(us) ? '—' : fmt_ms(us / 1000); }
  /* fmt_us_bound: a histogram bucket's bound (1-2-5 µs steps) in ms with the decimals it needs
   * to be exact: "0.5 ms", "2 ms", "0.002 ms" */
  function fmt_us_bound(us) {
    if (!Number.isFinite(us)) return '∞';
    return String(Number((us / 1000).toFixed(3))) + ' ms';
  }

  function hex_alpha(hex, a) {
    const n = parseInt(hex.slice(1), 16);
    return 'rgba(' + ((n >> 16) & 255) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + a + ')';
  }

  window.LP = window.LP || {};
  window.LP.charts = { TimeChart, BarChart, fmt_num, fmt_ms, fmt_us, fmt_ticks, INCRS_125, COLORS };
})();
