// One metric of several runs drawn with uPlot. The server sends each series already downsampled to
// the chart's width (M4), the raw points once a zoomed range is small enough, and only the new points
// of running runs while they live.
import uPlot from "./vendor/uplot/uPlot.esm.js";
import { getJSON } from "./api.js";
import { el, announce, PALETTE, fmtDuration, fmtValue } from "./dom.js";

const LIVE_MS = 2000;
const X_LABELS = { step: "step", time: "time since the run started", epoch: "epoch" };

// TensorBoard's smoothing: an exponential moving average, debiased at the start; gaps stay gaps.
export function smooth(ys, weight) {
  if (!weight) return ys;
  const out = new Array(ys.length);
  let last = 0, count = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (y === null || y === undefined || !Number.isFinite(y)) { out[i] = y; continue; }
    count++;
    last = last * weight + (1 - weight) * y;
    out[i] = last / (1 - Math.pow(weight, count));
  }
  return out;
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export function mountChart(container, options) {
  const opts = { x: "step", smooth: 0, log: false, height: 420, ...options };
  const runNames = new Map(opts.runs.map((r) => [r.id, r.label]));
  const colors = new Map(opts.runs.map((r, i) => [r.id, PALETTE[i % PALETTE.length]]));
  let series = [];   // {key: run + label, run, label, x: [], y: [], last_seq, points, raw}
  let skipped = [];  // runs the server left out (no epoch key to draw against)
  let plot = null;
  let zoom = null;   // [lo, hi] or null
  let liveTimer = null;
  let stopped = false;
  let request = 0;
  const info = el("p", { class: "muted chart-info", "aria-live": "polite" });
  const box = el("div", { class: "chart", role: "img", "aria-label": `Chart of ${opts.key}` });
  const legend = el("ul", { class: "legend", "aria-label": "Series" });
  container.replaceChildren(box, legend, info);

  function width() {
    return Math.max(300, Math.floor(container.clientWidth || 800));
  }

  async function fetchSeries(range, after) {
    const params = new URLSearchParams({ runs: opts.runs.map((r) => r.id).join(","), key: opts.key, x: opts.x,
      width: String(width()) });
    if (range) { params.set("lo", String(range[0])); params.set("hi", String(range[1])); }
    if (after) params.set("after", JSON.stringify(after));
    return getJSON("/api/series", params);
  }

  function label(s) {
    return opts.runs.length > 1 ? `${runNames.get(s.run) || s.run} · ${s.label}` : s.label;
  }

  function aligned() {
    const tables = series.map((s) => {
      let ys = smooth(s.y, opts.smooth);
      if (opts.log) ys = ys.map((y) => (y !== null && y > 0 ? y : null));
      return [s.x, ys];
    });
    if (!tables.length) return [[]];
    return tables.length === 1 ? [tables[0][0], tables[0][1]] : uPlot.join(tables);
  }

  function build() {
    if (plot) { plot.destroy(); plot = null; }
    box.replaceChildren();
    legend.replaceChildren();
    if (!series.length) {
      box.append(el("p", { class: "muted empty" }, `No run here logged ${opts.key}.`));
      return;
    }
    const axis = { stroke: cssVar("--fg-muted"), grid: { stroke: cssVar("--grid") }, ticks: { stroke: cssVar("--grid") } };
    const perRun = new Map();
    const uSeries = [{ label: X_LABELS[opts.x] }];
    for (const s of series) {
      const n = perRun.get(s.run) || 0;
      perRun.set(s.run, n + 1);
      uSeries.push({ label: label(s), stroke: colors.get(s.run), width: 1.5, dash: n ? [[], [6, 3], [2, 2], [8, 2, 2, 2]][n % 4] : undefined,
        spanGaps: false, points: { show: false }, value: (u, v) => fmtValue(v) });
    }
    drawLegend();
    const xValues = opts.x === "time" ? (u, ticks) => ticks.map((t) => fmtDuration(t)) : undefined;
    plot = new uPlot({
      width: width(),
      height: opts.height,
      series: uSeries,
      scales: { x: { time: false }, y: { distr: opts.log ? 3 : 1 } },
      axes: [{ ...axis, label: X_LABELS[opts.x], values: xValues }, { ...axis, label: opts.key, size: 70 }],
      // A drag selects a range; the chart then asks the server for that range's points.
      cursor: { drag: { x: true, y: false, setScale: false } },
      legend: { show: true, live: true },
      hooks: { setSelect: [(u) => onSelect(u)] },
    }, aligned(), box);
    plot.over.addEventListener("dblclick", () => resetZoom());
  }

  function onSelect(u) {
    const { left, width: span } = u.select;
    if (span < 2) return;
    const lo = u.posToVal(left, "x"), hi = u.posToVal(left + span, "x");
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    zoomTo(lo, hi);
  }

  function drawLegend() {
    legend.replaceChildren(...series.map((s) => el("li", {},
      el("span", { class: "swatch", style: `background:${colors.get(s.run)}` }),
      `${label(s)} — ${s.points.toLocaleString()} points${s.raw ? "" : " (downsampled)"}`)));
  }

  function describe() {
    const total = series.reduce((n, s) => n + s.points, 0);
    const drawn = series.reduce((n, s) => n + s.x.length, 0);
    const range = zoom ? ` in ${fmtValue(zoom[0])}…${fmtValue(zoom[1])}` : "";
    info.textContent = `${series.length} series, ${total.toLocaleString()} points logged, ${drawn.toLocaleString()} drawn${range}` +
      (series.every((s) => s.raw) ? " (every point)" : " (min/max per pixel column)") +
      skipped.map((s) => `; left out: ${s.reason}`).join("");
    announce(info.textContent);
  }

  function take(data) {
    skipped = data.skipped || [];
    series = data.series.map((s) => ({ ...s, key: `${s.run}\u0000${s.label}` }));
  }

  async function load() {
    const mine = ++request;
    info.textContent = "Loading…";
    box.setAttribute("aria-busy", "true");
    try {
      const data = await fetchSeries(zoom, null);
      if (stopped || mine !== request) return;
      take(data);
      build();
      if (zoom && plot) setScale(zoom);
      describe();
      drawn();
      live(data.live);
      if (opts.onLoad) opts.onLoad(data);
    } catch (e) {
      info.textContent = e.message;
      announce(e.message);
      if (opts.onError) opts.onError(e);
    } finally {
      box.removeAttribute("aria-busy");
    }
  }

  function drawn() {
    container.dataset.drawn = String(Date.now());
    requestAnimationFrame(() => performance.mark("recordkit:chart-drawn"));  // read by benchmarks/bench_ui.py
  }

  function setScale(range) {
    plot.setScale("x", { min: range[0], max: range[1] });
  }

  async function zoomTo(lo, hi) {
    zoom = [lo, hi];
    const mine = ++request;
    const data = await fetchSeries(zoom, null);
    if (stopped || mine !== request || !plot) return;
    const sameSeries = data.series.length === series.length &&
      data.series.every((s, i) => `${s.run}\u0000${s.label}` === series[i].key);
    take(data);
    if (!sameSeries) { build(); setScale(zoom); } else {
      plot.setData(aligned(), false);
      plot.setScale("x", { min: lo, max: hi });
    }
    drawLegend();
    describe();
    drawn();
    if (opts.onZoom) opts.onZoom(zoom);
  }

  function resetZoom() {
    zoom = null;
    load();
  }

  // A running run: ask only for what it logged after the last point we have, and append it.
  function live(ids) {
    clearTimeout(liveTimer);
    if (stopped || !ids || !ids.length) return;
    liveTimer = setTimeout(async () => {
      const after = {};
      for (const s of series) after[s.run] = Math.max(after[s.run] ?? -1, s.last_seq);
      for (const id of ids) if (!(id in after)) after[id] = -1;
      try {
        const data = await fetchSeries(null, after);
        if (stopped) return;
        let added = 0, fresh = false;
        for (const s of data.series) {
          const have = series.find((x) => x.key === `${s.run}\u0000${s.label}`);
          if (!have) { fresh = true; continue; }
          if (!s.x.length) continue;
          have.x = have.x.concat(s.x);
          have.y = have.y.concat(s.y);
          have.last_seq = s.last_seq;
          have.points = s.points;
          added += s.x.length;
        }
        if (fresh) { load(); return; }
        if (added && plot) {
          plot.setData(aligned(), !zoom);
          if (zoom) plot.setScale("x", { min: zoom[0], max: zoom[1] });
          drawn();
          drawLegend();
          describe();
        }
        live(data.live);
      } catch (e) { announce(e.message); live(ids); }
    }, LIVE_MS);
  }

  const resize = new ResizeObserver(() => { if (plot) plot.setSize({ width: width(), height: opts.height }); });
  resize.observe(container);
  const rebuild = () => { if (plot) { build(); if (zoom) setScale(zoom); } };
  window.addEventListener("recordkit:theme", rebuild);
  load();

  return {
    update(changes) {
      const refetch = ["x", "key"].some((k) => k in changes && changes[k] !== opts[k]);
      Object.assign(opts, changes);
      if (refetch) { zoom = null; load(); } else rebuild();
    },
    zoomTo,
    resetZoom,
    destroy() {
      stopped = true;
      clearTimeout(liveTimer);
      resize.disconnect();
      window.removeEventListener("recordkit:theme", rebuild);
      if (plot) plot.destroy();
    },
  };
}
