// The compare view: one metric of the selected runs overlaid, series kept apart by scope.
import { getJSON } from "./api.js";
import { mountChart } from "./chart.js";
import { el, announce, statusBadge, PALETTE } from "./dom.js";
import { selectedRuns } from "./runs.js";

export function renderCompare(root, params) {
  const ids = (params.get("runs") || selectedRuns().join(",")).split(",").filter(Boolean);
  const state = {
    key: params.get("key") || "",
    x: params.get("x") || "step",
    smooth: Number(params.get("smooth") || 0),
    log: params.get("log") === "1",
  };
  let chart = null;
  root.append(el("h1", {}, "Compare"));
  if (!ids.length) {
    root.append(el("p", {}, "No runs selected. Tick runs in the ", el("a", { href: "#/" }, "runs table"),
      " and press “Compare selected”."));
    return () => {};
  }
  const runsList = el("ul", { class: "chips", "aria-label": "Runs compared" });
  const keySelect = el("select", { id: "key", "aria-label": "Metric" });
  const xSelect = el("select", { id: "x-axis", "aria-label": "X axis" },
    ["step", "time", "epoch"].map((x) => el("option", { value: x, selected: x === state.x }, `x: ${x}`)));
  const smoothInput = el("input", { id: "smooth", type: "range", min: "0", max: "0.99", step: "0.01",
    value: String(state.smooth), "aria-label": "Smoothing" });
  const smoothValue = el("output", { for: "smooth" }, state.smooth.toFixed(2));
  const logBox = el("input", { id: "log", type: "checkbox", checked: state.log });
  const lo = el("input", { id: "zoom-lo", type: "number", step: "any", size: 8, "aria-label": "Zoom from" });
  const hi = el("input", { id: "zoom-hi", type: "number", step: "any", size: 8, "aria-label": "Zoom to" });
  const zoomForm = el("form", { class: "inline", onsubmit: (e) => {
    e.preventDefault();
    if (chart && lo.value !== "" && hi.value !== "" && Number(lo.value) < Number(hi.value)) {
      chart.zoomTo(Number(lo.value), Number(hi.value));
    }
  } }, el("label", {}, "x from ", lo), el("label", {}, " to ", hi), el("button", { type: "submit" }, "Zoom"),
  el("button", { type: "button", id: "reset-zoom", onclick: () => { lo.value = ""; hi.value = ""; chart?.resetZoom(); } },
    "Reset zoom"));
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const area = el("section", { id: "compare-chart", "aria-label": "Chart" });
  root.append(runsList,
    el("div", { class: "toolbar" }, el("label", {}, "Metric ", keySelect), xSelect,
      el("label", {}, "Smoothing ", smoothInput, " ", smoothValue), el("label", { class: "check" }, logBox, " log scale")),
    el("div", { class: "toolbar" }, zoomForm, el("span", { class: "muted" }, "Drag on the chart to zoom, double-click to reset.")),
    error, area);

  function pushState() {
    const p = new URLSearchParams({ runs: ids.join(","), key: state.key, x: state.x });
    if (state.smooth) p.set("smooth", String(state.smooth));
    if (state.log) p.set("log", "1");
    history.replaceState(null, "", `#/compare?${p}`);
  }

  async function start() {
    try {
      const runs = await Promise.all(ids.map((id) => getJSON(`/api/runs/${encodeURIComponent(id)}`)
        .catch(() => ({ id, name: `${id} (not found)`, status: "crashed", missing: true }))));
      const found = runs.filter((r) => !r.missing);
      runs.forEach((r, i) => runsList.append(el("li", { class: "chip-run" },
        el("span", { class: "swatch", style: `background:${PALETTE[i % PALETTE.length]}` }),
        el("a", { href: `#/run/${encodeURIComponent(r.id)}` }, r.name || r.id), " ", statusBadge(r.status))));
      const { keys } = await getJSON("/api/keys", { runs: found.map((r) => r.id).join(",") });
      for (const k of keys) keySelect.append(el("option", { value: k }, k));
      if (!keys.length) { error.textContent = "These runs logged no values."; error.hidden = false; return; }
      if (!keys.includes(state.key)) state.key = keys.includes("loss") ? "loss" : keys[0];
      keySelect.value = state.key;
      pushState();
      chart = mountChart(area, {
        runs: found.map((r) => ({ id: r.id, label: r.name ? `${r.name} #${r.number}` : r.id })),
        key: state.key, x: state.x, smooth: state.smooth, log: state.log,
        onError: (e) => { error.textContent = e.message; error.hidden = false; },
        onLoad: () => { error.hidden = true; },
        onZoom: ([a, b]) => { lo.value = String(+a.toPrecision(6)); hi.value = String(+b.toPrecision(6)); },
      });
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      announce(e.message);
    }
  }

  keySelect.addEventListener("change", () => { state.key = keySelect.value; pushState(); chart?.update({ key: state.key }); });
  xSelect.addEventListener("change", () => { state.x = xSelect.value; pushState(); chart?.update({ x: state.x }); });
  smoothInput.addEventListener("input", () => {
    state.smooth = Number(smoothInput.value);
    smoothValue.textContent = state.smooth.toFixed(2);
    pushState();
    chart?.update({ smooth: state.smooth });
  });
  logBox.addEventListener("change", () => { state.log = logBox.checked; pushState(); chart?.update({ log: state.log }); });
  start();
  return () => chart?.destroy();
}
