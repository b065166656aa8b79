// Small DOM and formatting helpers. Text always goes in as text (never as HTML): stored names and
// values cannot inject markup.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function announce(message) {
  const region = document.getElementById("announce");
  if (region) region.textContent = message;
}

export const STATUS_MARK = {
  running: "●", paused: "❚❚", finished: "✓", failed: "✖", interrupted: "■", crashed: "✖",
};

export function statusBadge(status) {
  return el("span", { class: `status status-${status}`, title: status },
    el("span", { "aria-hidden": "true" }, STATUS_MARK[status] || "?"), ` ${status}`);
}

export function fmtTime(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60), s = Math.round(seconds % 60);
  if (m < 60) return `${m}m ${s}s`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h ${m % 60}m` : `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

export function fmtValue(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    const abs = Math.abs(value);
    return abs !== 0 && (abs < 1e-3 || abs >= 1e6) ? value.toExponential(3) : String(+value.toPrecision(5));
  }
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

// Nested objects as [dotted key, value] rows.
export function flatten(value, prefix = "", out = []) {
  if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, out);
  } else if (prefix) {
    out.push([prefix, value]);
  }
  return out;
}

export function kvTable(rows, caption, emptyText = "Nothing recorded.") {
  if (!rows.length) return el("p", { class: "muted" }, emptyText);
  return el("table", { class: "kv" },
    el("caption", { class: "visually-hidden" }, caption),
    el("tbody", {}, rows.map(([key, value]) =>
      el("tr", {}, el("th", { scope: "row" }, key), el("td", {}, fmtValue(value))))));
}

export const PALETTE = ["#2f6fdf", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0b7285", "#a0522d", "#5c940d",
  "#d6336c", "#1971c2", "#f08c00", "#495057"];
