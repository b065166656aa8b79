// One run: identity, error, metrics, config, environment, git, files, checkpoints, events, lineage.
import { getJSON, fileURL } from "./api.js";
import { mountChart } from "./chart.js";
import { el, announce, statusBadge, fmtTime, fmtDuration, fmtBytes, fmtValue, flatten, kvTable } from "./dom.js";

const EVENT_PAGE = 100;

function section(id, title, ...body) {
  return el("section", { id, class: "card", "aria-labelledby": `${id}-title` },
    el("h2", { id: `${id}-title` }, title), ...body);
}

function runLink(brief) {
  if (!brief) return "";
  if (brief.missing) return el("span", { class: "muted" }, `${brief.id} (deleted)`);
  return el("span", {}, el("a", { href: `#/run/${encodeURIComponent(brief.id)}` },
    brief.name || `${brief.collection} #${brief.number}`), " ", statusBadge(brief.status));
}

function table(caption, headers, rows, emptyText) {
  if (!rows.length) return el("p", { class: "muted" }, emptyText);
  return el("table", {}, el("caption", { class: "visually-hidden" }, caption),
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))));
}

function diffView(text) {
  const pre = el("pre", { class: "diff", tabindex: "0", "aria-label": "git diff" });
  for (const line of text.split("\n")) {
    const kind = line.startsWith("+") && !line.startsWith("+++") ? "add"
      : line.startsWith("-") && !line.startsWith("---") ? "del" : line.startsWith("@@") ? "hunk" : "";
    pre.append(el("span", { class: kind }, line), "\n");
  }
  return pre;
}

function filtered(rows, caption) {
  const input = el("input", { type: "search", placeholder: "Filter keys", "aria-label": `Filter ${caption}` });
  const holder = el("div", {}, kvTable(rows, caption));
  input.addEventListener("input", () => {
    const needle = input.value.toLowerCase();
    holder.replaceChildren(kvTable(rows.filter(([k, v]) => k.toLowerCase().includes(needle) ||
      fmtValue(v).toLowerCase().includes(needle)), caption, "No key matches."));
  });
  return el("div", {}, input, holder);
}

export function renderRun(root, runId) {
  let chart = null;
  let stopped = false;
  let timer = null;
  const heading = el("h1", {}, "Run");
  root.append(heading);

  async function load() {
    let run;
    try {
      run = await getJSON(`/api/runs/${encodeURIComponent(runId)}`);
    } catch (e) {
      root.append(el("p", { class: "error", role: "alert" }, e.message));
      announce(e.message);
      return;
    }
    if (stopped) return;
    heading.replaceChildren(run.name || run.id, " ", el("span", { class: "muted" }, `${run.collection} #${run.number}`),
      " ", statusBadge(run.status));
    document.title = `${run.name || run.id} · recordkit`;
    const facts = [
      ["id", run.id], ["collection", run.collection], ["number", run.number],
      ["error number", run.error_number], ["started", fmtTime(run.start)], ["ended", fmtTime(run.end)],
      ["duration", fmtDuration(run.duration)], ["step", run.step], ["epoch", run.epoch],
      ["tags", (run.tags || []).join(", ")], ["kind", run.kind],
    ].filter(([, v]) => v !== null && v !== undefined && v !== "");
    const parts = [el("div", { class: "facts" }, kvTable(facts, "Run"),
      el("p", {}, el("a", { class: "button", href: `#/compare?runs=${encodeURIComponent(run.id)}` }, "Chart its metrics")))];
    if (run.parent) parts.push(el("p", {}, "Sub-run of ", runLink(run.parent)));

    if (run.error) {
      parts.push(section("error", `Error: ${run.error.type || "error"}`,
        el("p", { class: "error" }, run.error.message || ""),
        run.error.traceback ? el("pre", { class: "traceback", tabindex: "0" }, run.error.traceback) : ""));
    }

    const summary = Object.entries(run.summary || {});
    // A chart per key; each series of it (phase=train/loss, phase=eval/loss) is a line.
    const keys = run.keys || [];
    const keyChoice = el("select", { id: "run-key", "aria-label": "Metric to chart" },
      keys.map((k) => el("option", { value: k }, k)));
    const chartArea = el("div", { id: "run-chart" });
    parts.push(section("metrics", "Metrics",
      table("Metrics summary", ["key", "last", "at step", "min", "max", "count"],
        summary.map(([k, s]) => [k, fmtValue(s.last), fmtValue(s.last_step), fmtValue(s.min), fmtValue(s.max),
          fmtValue(s.count)]), "No values logged."),
      keys.length ? el("div", {}, el("label", {}, "Chart ", keyChoice), chartArea) : ""));

    parts.push(section("config", "Config", filtered(flatten(run.config || {}), "config")));
    const git = run.git;
    if (git) {
      const gitFacts = flatten(Object.fromEntries(Object.entries(git).filter(([k]) => !["diff_text", "diff"].includes(k))));
      parts.push(section("git", "Git", kvTable(gitFacts, "Git"),
        git.diff_text ? el("details", { open: true }, el("summary", {}, `Uncommitted diff (${fmtBytes(git.diff_text.length)})`),
          diffView(git.diff_text)) : el("p", { class: "muted" }, "Working tree clean (no diff stored).")));
    }
    parts.push(section("env", "Environment",
      el("details", {}, el("summary", {}, "Show the captured environment"), filtered(flatten(run.env || {}), "environment"))));

    parts.push(section("files", "Files", table("Files", ["name", "kind", "size", "step", "recorded", ""],
      (run.files || []).map((f) => [f.name, f.kind, fmtBytes(f.size), fmtValue(f.step), fmtTime(f.time),
        f.readable ? el("a", { href: fileURL(run.id, f.name), download: f.name.split("/").pop() }, "Download") :
          el("span", { class: "muted" }, f.removed ? "removed" : "not readable")]), "No files.")));

    parts.push(section("checkpoints", "Checkpoints", table("Checkpoints", ["name", "step", "epoch", "mode", "size", "metrics", ""],
      (run.checkpoints || []).map((c) => [c.name, c.step, c.epoch, c.mode, fmtBytes(c.size),
        Object.entries(c.metrics || {}).map(([k, v]) => `${k}=${fmtValue(v)}`).join(", "),
        c.removed ? el("span", { class: "muted" }, "removed by retention") :
          c.file ? el("a", { href: fileURL(run.id, c.file), download: c.file.split("/").pop() }, "Download") : ""]),
      "No checkpoints.")));

    const eventsArea = el("div", { id: "events" });
    parts.push(section("events-card", `Events (${run.events})`, eventsArea));
    parts.push(section("children", "Sub-runs", table("Sub-runs", ["run", "kind"],
      (run.children || []).map((c) => [runLink(c), c.kind || ""]), "No sub-runs.")));
    parts.push(section("links", "Links", table("Links", ["relation", "run", "data"],
      (run.links || []).map((l) => [l.direction === "out" ? `${l.relation} →` : `← ${l.relation}`, runLink(l.other),
        fmtValue(l.data)]), "No links.")));
    root.append(...parts);
    loadEvents(eventsArea, run.id, "", 0);

    if (keys.length) {
      const first = keys.includes("loss") ? "loss" : keys[0];
      keyChoice.value = first;
      const label = run.name || run.id;
      chart = mountChart(chartArea, { runs: [{ id: run.id, label }], key: first, height: 300 });
      keyChoice.addEventListener("change", () => chart.update({ key: keyChoice.value }));
    }
    if (["running", "paused"].includes(run.status)) {
      timer = setTimeout(async () => {
        // A live run: its status is checked again; the page reloads once it ends.
        try {
          const { runs } = await getJSON("/api/live", { ids: run.id });
          if (runs[0] && runs[0].status !== run.status && !stopped) window.dispatchEvent(new HashChangeEvent("hashchange"));
        } catch (e) { announce(e.message); }
      }, 5000);
    }
  }

  async function loadEvents(area, id, prefix, offset) {
    try {
      const params = { offset: String(offset), limit: String(EVENT_PAGE) };
      if (prefix) params.prefix = prefix;
      const data = await getJSON(`/api/runs/${encodeURIComponent(id)}/events`, params);
      const input = el("input", { type: "search", value: prefix, placeholder: "Under a name, e.g. epoch/2",
        "aria-label": "Events under a name" });
      const form = el("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); loadEvents(area, id, input.value.trim(), 0); } },
        input, el("button", { type: "submit" }, "Filter"));
      const more = [];
      if (offset > 0) more.push(el("button", { type: "button", onclick: () => loadEvents(area, id, prefix, Math.max(0, offset - EVENT_PAGE)) }, "‹ Earlier"));
      if (offset + EVENT_PAGE < data.total) more.push(el("button", { type: "button", onclick: () => loadEvents(area, id, prefix, offset + EVENT_PAGE) }, "Later ›"));
      area.replaceChildren(form, table("Events", ["time", "step", "name", "duration", "data"],
        data.events.map((e) => [fmtTime(e.time), e.step, e.name, e.duration === null ? "" : fmtDuration(e.duration),
          Object.keys(e.data || {}).length ? fmtValue(e.data) : ""]), "No events."),
      el("p", { class: "muted" }, `${data.total ? offset + 1 : 0}–${Math.min(data.total, offset + EVENT_PAGE)} of ${data.total}`), ...more);
    } catch (e) {
      area.replaceChildren(el("p", { class: "error" }, e.message));
    }
  }

  load();
  return () => { stopped = true; clearTimeout(timer); chart?.destroy(); };
}
