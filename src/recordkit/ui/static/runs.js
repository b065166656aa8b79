// The runs table: server-side paging, sorting and filtering; columns chosen by the user; live status.
import { getJSON, getStore } from "./api.js";
import { el, announce, statusBadge, fmtTime, fmtDuration, fmtValue } from "./dom.js";

const STATUSES = ["running", "paused", "finished", "failed", "interrupted", "crashed"];
const HIDDEN_BY_DEFAULT = new Set(["error_number", "end", "parent_id", "collection", "id"]);
const LIVE = new Set(["running", "paused"]);
const POLL_MS = 3000;

export function selectedRuns() {
  try { return JSON.parse(sessionStorage.getItem("recordkit.selected") || "[]"); } catch { return []; }
}

function saveSelected(ids) {
  sessionStorage.setItem("recordkit.selected", JSON.stringify(ids));
}

function savedColumns() {
  try { return JSON.parse(localStorage.getItem("recordkit.columns") || "null"); } catch { return null; }
}

function defaultColumns(all) {
  const metrics = all.filter((c) => !c.startsWith("config.") && !["number", "name", "status", "start",
    "duration", "tags", ...HIDDEN_BY_DEFAULT].includes(c));
  const config = all.filter((c) => c.startsWith("config."));
  return ["number", "name", "status", "start", "duration", "tags", ...metrics.slice(0, 8), ...config.slice(0, 4)];
}

export function renderRuns(root, params) {
  const state = {
    collection: params.get("collection") || "",
    status: params.get("status") || "",
    q: params.get("q") || "",
    tag: params.get("tag") || "",
    filter: params.get("filter") || "",
    top: params.get("top") === "1",
    sort: params.get("sort") || "",
    page: Number(params.get("page") || 0),
    size: Number(params.get("size") || localStorage.getItem("recordkit.pageSize") || 50),
  };
  let columns = savedColumns();
  let available = [];
  let rows = [];
  let timer = null;
  let stopped = false;
  let selected = new Set(selectedRuns());

  const collectionSelect = el("select", { id: "collection", "aria-label": "Collection" },
    el("option", { value: "" }, "All collections"));
  const statusSelect = el("select", { id: "status", "aria-label": "Status" },
    el("option", { value: "" }, "Any status"), STATUSES.map((s) => el("option", { value: s }, s)));
  const search = el("input", { id: "search", type: "search", placeholder: "Search names (press /)",
    "aria-label": "Search run names", value: state.q });
  const tag = el("input", { id: "tag", type: "text", placeholder: "Tag", "aria-label": "Tag", value: state.tag,
    size: 10 });
  const filter = el("input", { id: "filter", type: "text", size: 28, value: state.filter,
    placeholder: "Filters: acc>0.9; config.lr<=0.01", "aria-label": "Filters (COLUMN OP VALUE, separated by ;)",
    title: "KEY OP VALUE, as recordkit ls --where: >= <= != > < on any column, ~ contains, = on run fields, " +
      "tags and config; separate several with ;" });
  const top = el("input", { id: "top", type: "checkbox", checked: state.top });
  const columnsButton = el("button", { type: "button", id: "columns-button", "aria-expanded": "false",
    "aria-controls": "column-picker" }, "Columns");
  const compareButton = el("button", { type: "button", id: "compare-button", class: "primary" });
  const clearButton = el("button", { type: "button", id: "clear-selection" }, "Clear selection");
  const picker = el("fieldset", { id: "column-picker", class: "picker", hidden: true },
    el("legend", {}, "Columns to show"));
  const summary = el("p", { id: "runs-summary", class: "muted" });
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const table = el("table", { id: "runs", class: "runs" });
  const pager = el("nav", { class: "pager", "aria-label": "Pages" });
  const form = el("form", { class: "toolbar", role: "search", onsubmit: (e) => { e.preventDefault(); apply(); } },
    collectionSelect, statusSelect, search, tag, filter,
    el("label", { class: "check" }, top, " hide sub-runs"),
    el("button", { type: "submit" }, "Apply"), columnsButton);
  root.append(el("h1", {}, "Runs"), form, picker,
    el("div", { class: "toolbar" }, compareButton, clearButton, summary), error, table, pager);

  statusSelect.value = state.status;
  for (const input of [collectionSelect, statusSelect, top]) input.addEventListener("change", apply);
  columnsButton.addEventListener("click", () => {
    picker.hidden = !picker.hidden;
    columnsButton.setAttribute("aria-expanded", String(!picker.hidden));
  });
  compareButton.addEventListener("click", () => {
    if (selected.size) location.hash = `#/compare?runs=${[...selected].join(",")}`;
  });
  clearButton.addEventListener("click", () => { selected = new Set(); saveSelected([]); draw(); });

  getStore().then((info) => {
    for (const c of info.collections) collectionSelect.append(el("option", { value: c.name }, `${c.name} (${c.runs})`));
    collectionSelect.value = state.collection;
  });

  function apply() {
    Object.assign(state, {
      collection: collectionSelect.value, status: statusSelect.value, q: search.value.trim(),
      tag: tag.value.trim(), filter: filter.value.trim(), top: top.checked, page: 0,
    });
    pushState();
  }

  function pushState() {
    const p = new URLSearchParams();
    for (const key of ["collection", "status", "q", "tag", "filter", "sort"]) if (state[key]) p.set(key, state[key]);
    if (state.top) p.set("top", "1");
    if (state.page) p.set("page", String(state.page));
    if (state.size !== 50) p.set("size", String(state.size));
    const hash = `#/${p.toString() ? "?" + p : ""}`;
    if (location.hash !== hash) history.replaceState(null, "", hash);
    load();
  }

  function query(extra = {}) {
    const p = new URLSearchParams({ offset: String(state.page * state.size), limit: String(state.size), ...extra });
    if (state.collection) p.set("collection", state.collection);
    if (state.status) p.set("status", state.status);
    if (state.q) p.set("q", state.q);
    if (state.tag) p.set("tag", state.tag);
    if (state.top) p.set("top", "1");
    if (state.sort) p.set("sort", state.sort);
    for (const f of state.filter.split(";").map((s) => s.trim()).filter(Boolean)) p.append("filter", f);
    return p;
  }

  // Requests may answer out of order (changing the status, then typing a filter, sends two): only the
  // latest one is drawn, and the table stays busy until it has answered.
  let latest = 0;

  async function load(fresh = false) {
    const mine = ++latest;
    table.setAttribute("aria-busy", "true");
    try {
      const data = await getJSON("/api/runs", query(fresh ? { fresh: "1" } : {}));
      if (stopped || mine !== latest) return;
      error.hidden = true;
      available = data.columns;
      rows = data.rows;
      state.total = data.total;
      if (!columns) columns = defaultColumns(available);
      draw();
      schedule();
    } catch (e) {
      if (mine !== latest) return;
      error.textContent = e.message;
      error.hidden = false;
      announce(e.message);
    } finally {
      if (mine === latest) table.removeAttribute("aria-busy");
    }
  }

  function shown() {
    return columns.filter((c) => available.includes(c));
  }

  function drawPicker() {
    picker.replaceChildren(el("legend", {}, "Columns to show"));
    for (const c of available) {
      const box = el("input", { type: "checkbox", checked: columns.includes(c), value: c });
      box.addEventListener("change", () => {
        columns = box.checked ? [...columns, c] : columns.filter((x) => x !== c);
        localStorage.setItem("recordkit.columns", JSON.stringify(columns));
        draw();
      });
      picker.append(el("label", { class: "check" }, box, ` ${c}`));
    }
    picker.append(el("button", { type: "button", onclick: () => {
      localStorage.removeItem("recordkit.columns"); columns = defaultColumns(available); draw();
    } }, "Default columns"));
  }

  function header(c) {
    const active = state.sort.replace(/^-/, "") === c;
    const descending = state.sort.startsWith("-");
    const th = el("th", { scope: "col", "aria-sort": active ? (descending ? "descending" : "ascending") : "none" },
      el("button", { type: "button", class: "sort", title: `Sort by ${c}`, onclick: () => {
        state.sort = active && !descending ? `-${c}` : active ? "" : c;
        state.page = 0;
        pushState();
      } }, c, active ? (descending ? " ▼" : " ▲") : ""));
    return th;
  }

  function cell(c, row) {
    const value = row[c];
    if (c === "name") {
      return el("td", {}, el("a", { href: `#/run/${encodeURIComponent(row.id)}`, class: "run-link" },
        value || row.id));
    }
    if (c === "status") return el("td", { "data-col": "status" }, statusBadge(value));
    if (c === "start" || c === "end") return el("td", { class: "nowrap" }, fmtTime(value));
    if (c === "duration") {
      return el("td", { class: "num", "data-col": "duration" },
        LIVE.has(row.status) ? fmtDuration(Date.now() / 1000 - row.start) : fmtDuration(value));
    }
    if (c === "tags") {
      return el("td", {}, (value || []).map((t) => el("button", { type: "button", class: "chip",
        title: `Show runs tagged ${t}`, onclick: () => { tag.value = t; apply(); } }, t)));
    }
    if (c === "parent_id" && value) return el("td", {}, el("a", { href: `#/run/${encodeURIComponent(value)}` }, value));
    return el("td", { class: typeof value === "number" ? "num" : "", "data-col": c }, fmtValue(value));
  }

  function draw() {
    drawPicker();
    const cols = shown();
    const allBox = el("input", { type: "checkbox", "aria-label": "Select every run on this page",
      checked: rows.length > 0 && rows.every((r) => selected.has(r.id)) });
    allBox.addEventListener("change", () => {
      for (const r of rows) allBox.checked ? selected.add(r.id) : selected.delete(r.id);
      saveSelected([...selected]);
      draw();
    });
    table.replaceChildren(
      el("caption", { class: "visually-hidden" }, "Runs; column headers sort"),
      el("thead", {}, el("tr", {}, el("th", { scope: "col", class: "select" }, allBox), cols.map(header))),
      el("tbody", {}, rows.map((row) => {
        const box = el("input", { type: "checkbox", class: "select-run", checked: selected.has(row.id),
          "aria-label": `Select run ${row.name || row.id}`, value: row.id });
        box.addEventListener("change", () => {
          box.checked ? selected.add(row.id) : selected.delete(row.id);
          saveSelected([...selected]);
          updateButtons();
        });
        return el("tr", { class: `run status-row-${row.status}`, dataset: { id: row.id } },
          el("td", { class: "select" }, box), cols.map((c) => cell(c, row)));
      })));
    const first = state.total ? state.page * state.size + 1 : 0;
    const last = Math.min(state.total, (state.page + 1) * state.size);
    summary.textContent = `${first.toLocaleString()}–${last.toLocaleString()} of ${state.total.toLocaleString()} runs`;
    announce(summary.textContent);
    requestAnimationFrame(() => performance.mark("recordkit:runs-drawn"));  // read by benchmarks/bench_ui.py
    const pages = Math.max(1, Math.ceil(state.total / state.size));
    const sizeSelect = el("select", { "aria-label": "Runs per page" },
      [25, 50, 100, 200, 500].map((n) => el("option", { value: n, selected: n === state.size }, `${n} / page`)));
    sizeSelect.addEventListener("change", () => {
      state.size = Number(sizeSelect.value); state.page = 0;
      localStorage.setItem("recordkit.pageSize", String(state.size));
      pushState();
    });
    pager.replaceChildren(
      el("button", { type: "button", disabled: state.page === 0, onclick: () => { state.page = 0; pushState(); } }, "« First"),
      el("button", { type: "button", id: "prev", disabled: state.page === 0,
        onclick: () => { state.page -= 1; pushState(); } }, "‹ Previous"),
      el("span", {}, ` page ${state.page + 1} of ${pages.toLocaleString()} `),
      el("button", { type: "button", id: "next", disabled: state.page >= pages - 1,
        onclick: () => { state.page += 1; pushState(); } }, "Next ›"),
      el("button", { type: "button", disabled: state.page >= pages - 1,
        onclick: () => { state.page = pages - 1; pushState(); } }, "Last »"),
      sizeSelect,
      el("button", { type: "button", onclick: () => load(true), title: "Read the store again" }, "↻ Refresh"));
    updateButtons();
  }

  function updateButtons() {
    compareButton.textContent = `Compare selected (${selected.size})`;
    compareButton.disabled = selected.size === 0;
    clearButton.disabled = selected.size === 0;
  }

  // Running runs on this page: their status, duration and latest values are polled, row by row.
  function schedule() {
    clearTimeout(timer);
    if (stopped || !rows.some((r) => LIVE.has(r.status))) return;
    timer = setTimeout(async () => {
      const ids = rows.filter((r) => LIVE.has(r.status)).map((r) => r.id);
      try {
        const { runs } = await getJSON("/api/live", { ids: ids.join(",") });
        for (const fresh of runs) {
          const row = rows.find((r) => r.id === fresh.id);
          if (row) Object.assign(row, fresh);
        }
        if (!stopped) draw();
      } catch (e) { announce(e.message); }
      schedule();
    }, POLL_MS);
  }

  load();
  return () => { stopped = true; clearTimeout(timer); };
}
